// The SPML losses from separate framework ops (see composed_losses.h): each line follows docs/method.md's formula.
#include "losses/composed_losses.h"

#include "framework/ops/ops.h"

namespace spml::losses {
namespace {
Tensor one_minus(const Tensor& x) {
  return add(neg(x), 1.0);
}

// docs/method.md: every log x means log(x + eps).
Tensor neg_log(const Tensor& x, double eps) {
  return neg(log(add(x, eps)));
}

// R(x) = (mean over the batch of sum_c x_bc - k)^2 / C^2.
Tensor expected_positive_regulariser(const Tensor& x, double k, double classes) {
  return mul(pow(add(mean(sum(x, 1)), -k), 2.0), 1.0 / (classes * classes));
}

// The loss matrix y * observed + (1 - y) * unobserved (masks by arithmetic, as the mean runs over all entries).
Tensor by_label(const Tensor& y, const Tensor& observed, const Tensor& unobserved) {
  return add(mul(y, observed), mul(one_minus(y), unobserved));
}

// K and V come from the same p but carry no gradient, unless through_kv (composed_gr_loss_through_kv: not the GR
// loss, a test's contrast).
Tensor gr(const Tensor& p, const Tensor& y, const LossParams& a, bool through_kv) {
  const Tensor p_kv = through_kv ? p : p.detach();
  const Tensor k = sigmoid(add(mul(p_kv, a.w), a.b));
  const Tensor v = exp(mul(pow(mul(add(p_kv, -a.mu), 1.0 / a.sigma), 2.0), -0.5));
  const Tensor positive = neg_log(p, kernels::kGrLogEps);
  const Tensor term_q2 = mul(one_minus(pow(p, a.q2)), 1.0 / a.q2);
  const Tensor term_q3 = mul(one_minus(pow(one_minus(p), a.q3)), 1.0 / a.q3);
  const Tensor unobserved = mul(v, add(mul(k, term_q2), mul(one_minus(k), term_q3)));
  return mean(by_label(y, positive, unobserved));
}

Tensor role(const Tensor& p, const Tensor& q, const Tensor& y, double k_expected, double classes) {
  const double eps = kernels::kColeLogEps;
  const Tensor p_const = p.detach(), q_const = q.detach();  // sg()
  const Tensor pos1 = neg_log(p, eps), pos2 = neg_log(q, eps);
  const Tensor cross1 = add(mul(q_const, neg_log(p, eps)), mul(one_minus(q_const), neg_log(one_minus(p), eps)));
  const Tensor cross2 = add(mul(p_const, neg_log(q, eps)), mul(one_minus(p_const), neg_log(one_minus(q), eps)));
  const Tensor matrix = add(mul(mul(y, add(pos1, pos2)), 0.5), mul(add(cross1, cross2), 0.5));
  const Tensor reg = mul(
      add(expected_positive_regulariser(p, k_expected, classes), expected_positive_regulariser(q, k_expected, classes)),
      0.5);
  return add(mean(matrix), reg);
}

// A constant [B, C] tensor on `like`'s dtype and device from f(aux value, label value) of each entry.
template <class F>
Tensor entrywise_constant(const Tensor& aux, const Tensor& labels, const Tensor& like, F f) {
  const std::vector<double> a = aux.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::vector<double> y = labels.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  std::vector<double> out(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = f(a[i], y[i]);
  return Tensor::from_vector(out, like.shape()).to(like.dtype()).to(like.device());
}

void check_composed_inputs(const char* name, const Tensor& logits, const Tensor& labels) {
  SPML_CHECK(logits.defined() && labels.defined() && logits.dim() == 2, "composed loss ", name,
             ": logits must be [B, C] and labels defined");
  SPML_CHECK(labels.shape() == logits.shape(), "composed loss ", name, ": labels ", shape_str(labels.shape()),
             " do not match logits ", shape_str(logits.shape()));
}
}  // namespace

Tensor composed_spml_loss(LossKind kind, const Tensor& logits, const Tensor& labels, const LossParams& params,
                          const Tensor& label_estimate_logits) {
  const char* name = loss_name(kind);
  check_composed_inputs(name, logits, labels);
  const double classes = double(logits.size(1));
  const double eps = kernels::kColeLogEps;
  const Tensor& y = labels;
  const Tensor p = sigmoid(logits);
  switch (kind) {
    case LossKind::GR:
      return gr(p, y, params, false);
    case LossKind::AN:
    case LossKind::BCE:  // BCE is AN on the clean labels
      return mean(by_label(y, neg_log(p, eps), neg_log(one_minus(p), eps)));
    case LossKind::AN_LS: {
      const Tensor nlp = neg_log(p, eps), nl1p = neg_log(one_minus(p), eps);
      return mean(by_label(y, add(mul(nlp, 0.9), mul(nl1p, 0.1)), add(mul(nl1p, 0.9), mul(nlp, 0.1))));
    }
    case LossKind::WAN:
      SPML_CHECK(classes >= 2, "composed loss wan: needs at least 2 classes");
      return mean(by_label(y, neg_log(p, eps), mul(neg_log(one_minus(p), eps), 1.0 / (classes - 1))));
    case LossKind::EPR:
      return add(mean(mul(y, neg_log(p, eps))), expected_positive_regulariser(p, params.expected_positives, classes));
    case LossKind::EM: {
      // -alpha H(p) with H(p) = -p log p - (1 - p) log(1 - p).
      const Tensor entropy = add(mul(p, neg_log(p, eps)), mul(one_minus(p), neg_log(one_minus(p), eps)));
      return mean(by_label(y, neg_log(p, eps), mul(entropy, -params.em_alpha)));
    }
    case LossKind::EM_APL: {
      SPML_CHECK(label_estimate_logits.defined(), "composed loss em_apl: needs the soft targets");
      const Tensor& t = label_estimate_logits;  // -1: not pseudo-labelled, else the soft target s
      const Tensor soft = entrywise_constant(t, y, logits, [](double a, double l) { return a >= 0 && l < 0.5; });
      const Tensor s = entrywise_constant(t, y, logits, [](double a, double l) { return a >= 0 && l < 0.5 ? a : 0.0; });
      const Tensor entropy = add(mul(p, neg_log(p, eps)), mul(one_minus(p), neg_log(one_minus(p), eps)));
      const Tensor pseudo =
          mul(add(mul(s, neg_log(p, eps)), mul(one_minus(s), neg_log(one_minus(p), eps))), params.apl_beta);
      const Tensor unobserved = by_label(soft, pseudo, mul(entropy, -params.em_alpha));
      return mean(by_label(y, neg_log(p, eps), unobserved));
    }
    case LossKind::LL_R:
    case LossKind::LL_CT:
    case LossKind::LL_CP: {
      SPML_CHECK(label_estimate_logits.defined(), "composed loss ", name, ": needs the large-loss selection mask");
      const bool reject = kind == LossKind::LL_R;
      const Tensor& m = label_estimate_logits;
      // Target 1 on positives and (LL-Ct/Cp) selected entries; weight 0 on LL-R's selected entries. BCE without eps.
      const Tensor t =
          entrywise_constant(m, y, logits, [&](double a, double l) { return l > 0.5 || (a > 0.5 && !reject); });
      const Tensor w =
          entrywise_constant(m, y, logits, [&](double a, double) { return a > 0.5 && reject ? 0.0 : 1.0; });
      return mean(mul(w, by_label(t, neg_log(p, 0.0), neg_log(one_minus(p), 0.0))));
    }
    case LossKind::ROLE:
      SPML_CHECK(label_estimate_logits.defined() && label_estimate_logits.shape() == logits.shape(),
                 "composed loss role: needs label-estimate logits of the logits' shape ", shape_str(logits.shape()));
      return role(p, sigmoid(label_estimate_logits), y, params.expected_positives, classes);
  }
  SPML_FAIL("composed loss: unknown loss kind ", int(kind));
}

Tensor composed_gr_loss_through_kv(const Tensor& logits, const Tensor& labels, const LossParams& params) {
  check_composed_inputs("gr_through_kv", logits, labels);
  return gr(sigmoid(logits), labels, params, true);
}

}  // namespace spml::losses
