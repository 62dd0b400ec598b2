// Per-element math of the SPML losses (docs/method.md sections 3 and 5), written once for the CPU
// loops and the CUDA kernels, plus EPR's and ROLE's batch regulariser from the batch's sums. Each element function
// returns the element's loss l and dl/dz (the logit's gradient, NOT yet divided by N = B * C). The gradients use
// the stable closed forms of docs/method.md, finite at every logit.
#pragma once

#include <cstdint>

#include "kernels/common/elementwise_math.h"
#include "kernels/common/hd.h"

namespace spml::kernels {

enum class LossKind : int { GR, AN, AN_LS, WAN, EPR, ROLE, EM, BCE, EM_APL, LL_R, LL_CT, LL_CP };

// The kinds whose element math reads a second [B, C] input besides the labels: ROLE's label-estimate logits G,
// EM+APL's soft targets (-1 where an entry is not pseudo-labelled) and LL's large-loss selection mask (1 = selected).
SPML_HD bool loss_has_aux_input(LossKind kind) {
  return kind == LossKind::ROLE || kind == LossKind::EM_APL || kind == LossKind::LL_R || kind == LossKind::LL_CT ||
         kind == LossKind::LL_CP;
}
SPML_HD bool is_large_loss_kind(LossKind kind) {
  return kind == LossKind::LL_R || kind == LossKind::LL_CT || kind == LossKind::LL_CP;
}

constexpr double kColeLogEps = 1e-5;  // log(x) means log(x + 1e-5) in the Cole et al. baselines
constexpr double kGrLogEps = 1e-7;    // and log(x + 1e-7) in GR

// Hyper-parameters of one loss evaluation; GR's are the schedule's values for the current epoch.
struct LossParams {
  double w = 0, b = -2, mu = 0.5, sigma = 2;  // GR: K = sigmoid(w p + b), V = exp(-((p - mu) / sigma)^2 / 2)
  double q2 = 0.01, q3 = 1;                   // GR: exponents of the unobserved term
  double em_alpha = 0.2;                      // EM, EM+APL: weight of the entropy term on unobserved labels
  double apl_beta = 0.02;                     // EM+APL: weight of the pseudo-labelled entries
  double expected_positives = 1.5;            // EPR, ROLE: k
  double num_classes = 1;                     // C (WAN's 1 / (C - 1), the regularisers' 1 / C^2)
};

template <class T>
struct ElementLoss {
  T loss;
  T dz;
};

// d/dz of -log(p + eps) = -(1 - p) p / (p + eps); of -log(1 - p + eps) = p (1 - p) / (1 - p + eps).
template <class T>
SPML_HD T neg_log_p_grad(T p, T eps) {
  return -(T(1) - p) * p / (p + eps);
}
template <class T>
SPML_HD T neg_log_1mp_grad(T p, T eps) {
  return p * (T(1) - p) / (T(1) - p + eps);
}

// GR's soft pseudo-label K = sigmoid(w p + b) and weight V = exp(-((p - mu) / sigma)^2 / 2) at probability p.
template <class T>
struct GrWeights {
  T k, v;
};
template <class T>
SPML_HD GrWeights<T> gr_weights(T p, const LossParams& a) {
  const T d = (p - T(a.mu)) * T(1.0 / a.sigma);  // GR's constants divide as reciprocal products (a division is slow)
  return {SigmoidOp::fwd(T(a.w) * p + T(a.b), T(0)), exp_(T(-0.5) * d * d)};
}

// The label test y > 0.5 on the bit pattern (labels are 0 or 1): an integer test keeps the CPU loops vectorised.
template <class T>
SPML_HD bool positive_label(T y) {
  return vm::bits(y) > vm::bits(T(0.5));
}

// The per-kind functions below take p = sigmoid(z) and the label and are branch-free (both sides computed,
// one selected), so the CPU kernel vectorises them across a row; the CUDA kernel calls them through spml_element.

// GR on an unobserved entry: V [K (1 - p^q2) / q2 + (1 - K)(1 - (1 - p)^q3) / q3] with K and V from the same p but
// treated as constants (no gradient flows through them); the caller raises p^q2 and (1 - p)^q3 and gives K and V
// (gr_weights; scalars, not the struct: an aggregate inside an `omp simd` loop keeps GCC from vectorising it).
template <class T>
SPML_HD ElementLoss<T> gr_unobserved(T p, T p_q2, T omp_q3, T k, T v, const LossParams& a) {
  const T inv_q2 = T(1.0 / a.q2), inv_q3 = T(1.0 / a.q3);
  const T one_minus_p = T(1) - p;
  const T loss = v * (k * (T(1) - p_q2) * inv_q2 + (T(1) - k) * (T(1) - omp_q3) * inv_q3);
  const T dz = v * (-k * p_q2 * one_minus_p + (T(1) - k) * p * omp_q3);
  return {loss, dz};
}

// GR: positives -log(p + 1e-7), unobserved gr_unobserved.
template <class T>
SPML_HD ElementLoss<T> gr_element(T z, T y, const LossParams& a) {
  const T p = SigmoidOp::fwd(z, T(0));
  const T eps = T(kGrLogEps);
  if (positive_label(y)) return {-log_(p + eps), neg_log_p_grad(p, eps)};
  const GrWeights<T> kv = gr_weights(p, a);
  return gr_unobserved(p, pow_(p, T(a.q2)), pow_(T(1) - p, T(a.q3)), kv.k, kv.v, a);
}

// AN and BCE (full labels): -log(p + eps) on positives, -log(1 - p + eps) elsewhere (one log).
template <class T>
SPML_HD ElementLoss<T> bce_element(T p, bool pos) {
  const T eps = T(kColeLogEps);
  return {-log_(vm::select(pos, p + eps, T(1) - p + eps)),
          vm::select(pos, neg_log_p_grad(p, eps), neg_log_1mp_grad(p, eps))};
}

// AN with label smoothing 0.1: both logs, weights (0.9, 0.1) on positives and (0.1, 0.9) elsewhere.
template <class T>
SPML_HD ElementLoss<T> an_ls_element(T p, bool pos) {
  const T eps = T(kColeLogEps);
  const T wp = vm::select(pos, T(0.9), T(0.1)), wn = vm::select(pos, T(0.1), T(0.9));
  return {wp * -log_(p + eps) + wn * -log_(T(1) - p + eps),
          wp * neg_log_p_grad(p, eps) + wn * neg_log_1mp_grad(p, eps)};
}

// WAN: AN with the negatives weighted 1 / (C - 1).
template <class T>
SPML_HD ElementLoss<T> wan_element(T p, bool pos, const LossParams& a) {
  const T eps = T(kColeLogEps);
  const T wn = T(1) / T(a.num_classes - 1);
  const T nl = -log_(vm::select(pos, p + eps, T(1) - p + eps));
  return {vm::select(pos, nl, wn * nl), vm::select(pos, neg_log_p_grad(p, eps), wn * neg_log_1mp_grad(p, eps))};
}

// EPR's element part: -log(p + eps) on positives, nothing elsewhere (its regulariser comes from the row sums).
template <class T>
SPML_HD ElementLoss<T> epr_element(T p, bool pos) {
  const T eps = T(kColeLogEps);
  const T nl = -log_(p + eps);
  return {vm::select(pos, nl, T(0)), vm::select(pos, neg_log_p_grad(p, eps), T(0))};
}

// EM: -log(p + eps) on positives; on unobserved labels -alpha H(p) = alpha [p log(p + eps) + (1 - p) log(1 - p +
// eps)].
template <class T>
SPML_HD ElementLoss<T> em_element(T p, bool pos, T alpha) {
  const T eps = T(kColeLogEps);
  const T lp = log_(p + eps), l1p = log_(T(1) - p + eps);
  const T dl_dp = lp + p / (p + eps) - l1p - (T(1) - p) / (T(1) - p + eps);
  return {vm::select(pos, -lp, alpha * (p * lp + (T(1) - p) * l1p)),
          vm::select(pos, neg_log_p_grad(p, eps), alpha * dl_dp * p * (T(1) - p))};
}

// EM+APL: EM, except on the entries pseudo-labelled by the after-epoch pass (soft target t >= 0; t < 0: not
// labelled), which cost beta [t (-log(p + eps)) + (1 - t)(-log(1 - p + eps))].
template <class T>
SPML_HD ElementLoss<T> em_apl_element(T p, bool pos, T t, T alpha, T beta) {
  const T eps = T(kColeLogEps);
  const ElementLoss<T> em = em_element(p, pos, alpha);
  const T nlp = -log_(p + eps), nl1p = -log_(T(1) - p + eps);
  const bool soft = !pos && !vm::sign_bit(t);  // t >= 0 (a -0 never occurs: targets are -1 or a probability)
  const T ts = vm::select(soft, t, T(0));
  return {vm::select(soft, beta * (ts * nlp + (T(1) - ts) * nl1p), em.loss),
          vm::select(soft, beta * (ts * neg_log_p_grad(p, eps) + (T(1) - ts) * neg_log_1mp_grad(p, eps)), em.dz)};
}

// log(1 + e) for e = exp(-|z|) in (0, 1], accurate for small e without log1p (which does not vectorise): the
// rounding of u = 1 + e is corrected by e / (u - 1).
template <class T>
SPML_HD T log1p_small(T e) {
  const T u = T(1) + e, d = u - T(1);
  return vm::select(d == T(0), e, log_(u) * (e / vm::select(d == T(0), T(1), d)));
}

// LL-R / LL-Ct / LL-Cp (Kim et al.): BCE with logits, max(z, 0) - z t + log(1 + exp(-|z|)) with target t = y, except on
// the entries the batch's large-loss selection picked (selected; always unobserved): LL-R drops them (loss and
// gradient 0), LL-Ct and LL-Cp train them toward 1. dl/dz = sigmoid(z) - t.
template <class T>
SPML_HD ElementLoss<T> large_loss_element(T z, T p, bool pos, bool selected, bool reject) {
  const bool toward_one = pos || (selected && !reject);
  const T t = vm::select(toward_one, T(1), T(0));
  const T w = vm::select(selected && reject, T(0), T(1));
  const T loss = vm::select(vm::sign_bit(z), T(0), z) - z * t + log1p_small(exp_(-vm::abs(z)));
  return {w * loss, w * (p - t)};
}

// The kinds with a second input (loss_has_aux_input) except ROLE, per element: aux is EM+APL's soft target or LL's
// selection mask.
template <class T>
SPML_HD ElementLoss<T> aux_element(LossKind kind, T z, T y, T aux, const LossParams& a) {
  const T p = SigmoidOp::fwd(z, T(0));
  const bool pos = positive_label(y);
  if (kind == LossKind::EM_APL) return em_apl_element(p, pos, aux, T(a.em_alpha), T(a.apl_beta));
  return large_loss_element(z, p, pos, positive_label(aux), kind == LossKind::LL_R);
}

// Every loss except ROLE, per element (EPR's regulariser is added by the caller: regulariser_dz).
template <class T>
SPML_HD ElementLoss<T> spml_element(LossKind kind, T z, T y, const LossParams& a) {
  const bool pos = positive_label(y);
  switch (kind) {
    case LossKind::GR:
      return gr_element(z, y, a);
    case LossKind::AN:
    case LossKind::BCE:
      return bce_element(SigmoidOp::fwd(z, T(0)), pos);
    case LossKind::AN_LS:
      return an_ls_element(SigmoidOp::fwd(z, T(0)), pos);
    case LossKind::WAN:
      return wan_element(SigmoidOp::fwd(z, T(0)), pos, a);
    case LossKind::EPR:
      return epr_element(SigmoidOp::fwd(z, T(0)), pos);
    case LossKind::EM:
      return em_element(SigmoidOp::fwd(z, T(0)), pos, T(a.em_alpha));
    case LossKind::ROLE:
    case LossKind::EM_APL:
    case LossKind::LL_R:
    case LossKind::LL_CT:
    case LossKind::LL_CP:
      break;  // need their second input: role_element, aux_element
  }
  return {T(0), T(0)};
}

// ROLE per element with label-estimate logit g (Yhat = sigmoid(g)); sg() = stop-gradient:
// 0.5 (pos1 + pos2) on y = 1 with pos1 = -log p, pos2 = -log Yhat, plus on every entry
// 0.5 (cross1 + cross2), cross1 = sg(Yhat)(-log p) + (1 - sg(Yhat))(-log(1 - p)),
// cross2 = sg(p)(-log Yhat) + (1 - sg(p))(-log(1 - Yhat)). Returns dl/dz in dz and dl/dg in dg.
template <class T>
struct RoleElementLoss {
  T loss;
  T dz;
  T dg;
};

template <class T>
SPML_HD RoleElementLoss<T> role_element_from(T p, T q, bool pos) {
  const T eps = T(kColeLogEps);
  const T nlp = -log_(p + eps), nl1p = -log_(T(1) - p + eps);
  const T nlq = -log_(q + eps), nl1q = -log_(T(1) - q + eps);
  const T gp = neg_log_p_grad(p, eps), gq = neg_log_p_grad(q, eps);
  const T loss = T(0.5) * (q * nlp + (T(1) - q) * nl1p + p * nlq + (T(1) - p) * nl1q);
  const T dz = T(0.5) * (q * gp + (T(1) - q) * neg_log_1mp_grad(p, eps));
  const T dg = T(0.5) * (p * gq + (T(1) - p) * neg_log_1mp_grad(q, eps));
  return {vm::select(pos, loss + T(0.5) * (nlp + nlq), loss), vm::select(pos, dz + T(0.5) * gp, dz),
          vm::select(pos, dg + T(0.5) * gq, dg)};
}
template <class T>
SPML_HD RoleElementLoss<T> role_element(T z, T g, T y) {
  return role_element_from(SigmoidOp::fwd(z, T(0)), SigmoidOp::fwd(g, T(0)), positive_label(y));
}

// EPR's and ROLE's batch regulariser R(x) = (mean_b sum_c x_bc - k)^2 / C^2 (x = p, and ROLE's Yhat), from the
// batch's total sum_b sum_c x_bc: its value and dR/dx_bc, the same for every element (the backends reduce the
// sums their own way, then both call this).
struct BatchRegulariser {
  double value = 0;
  double grad = 0;
};
SPML_HD BatchRegulariser batch_regulariser(double batch_sum, int64_t rows, int64_t cols, double k) {
  const double mean = batch_sum / double(rows), c2 = double(cols) * double(cols);
  return {(mean - k) * (mean - k) / c2, 2.0 * (mean - k) / (c2 * double(rows))};
}
// The regularisers' weight in the loss: EPR adds R(p), ROLE 0.5 (R(p) + R(Yhat)); the other losses have none.
SPML_HD double regulariser_weight(LossKind kind) {
  return kind == LossKind::EPR ? 1.0 : kind == LossKind::ROLE ? 0.5 : 0.0;
}
// The regulariser's share of dL/dz at p = sigmoid(z): coef = weight dR/dx times dx/dz = p (1 - p).
template <class T>
SPML_HD T regulariser_dz(T coef, T p) {
  return coef * p * (T(1) - p);
}

}  // namespace spml::kernels
