// Per-element math of the SPML losses (SPML.md sections 2 and 3), written once for the CPU loops and the CUDA
// kernels. Each function returns the element's loss l and dl/dz (the logit's gradient, NOT yet divided by
// N = B * C). The gradients use the stable closed forms of SPML.md, finite at every logit.
#pragma once

#include "kernels/common/elementwise_math.h"
#include "kernels/common/hd.h"

namespace spml::kernels {

enum class LossKind : int { GR, AN, AN_LS, WAN, EPR, ROLE, EM, BCE };

constexpr double kColeLogEps = 1e-5;  // log(x) means log(x + 1e-5) in the Cole et al. baselines
constexpr double kGrLogEps = 1e-7;    // and log(x + 1e-7) in GR

// Hyper-parameters of one loss evaluation; GR's are the schedule's values for the current epoch.
struct LossParams {
  double w = 0, b = -2, mu = 0.5, sigma = 2;  // GR: K = sigmoid(w p + b), V = exp(-((p - mu) / sigma)^2 / 2)
  double q2 = 0.01, q3 = 1;                   // GR: exponents of the unobserved term
  double em_alpha = 0.2;                      // EM: weight of the entropy term on unobserved labels
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
  const T d = (p - T(a.mu)) / T(a.sigma);
  return {SigmoidOp::fwd(T(a.w) * p + T(a.b), T(0)), exp_(T(-0.5) * d * d)};
}

// GR: positives -log(p + 1e-7); unobserved V [K (1 - p^q2) / q2 + (1 - K)(1 - (1 - p)^q3) / q3] with K and V
// from the same p but treated as constants (no gradient flows through them).
template <class T>
SPML_HD ElementLoss<T> gr_element(T z, T y, const LossParams& a) {
  const T p = SigmoidOp::fwd(z, T(0));
  const T eps = T(kGrLogEps);
  if (y > T(0.5)) return {-log_(p + eps), neg_log_p_grad(p, eps)};
  const T q2 = T(a.q2), q3 = T(a.q3);
  const GrWeights<T> kv = gr_weights(p, a);
  const T k = kv.k, v = kv.v;
  const T one_minus_p = T(1) - p;
  const T p_q2 = pow_(p, q2), omp_q3 = pow_(one_minus_p, q3);
  const T loss = v * (k * (T(1) - p_q2) / q2 + (T(1) - k) * (T(1) - omp_q3) / q3);
  const T dz = v * (-k * p_q2 * one_minus_p + (T(1) - k) * p * omp_q3);
  return {loss, dz};
}

// The same GR loss with K and V differentiated too (only for tests that show no gradient may flow through them):
// d/dz adds dV/dz [..] + V dK/dz [(1 - p^q2)/q2 - (1 - (1 - p)^q3)/q3].
template <class T>
SPML_HD ElementLoss<T> gr_element_through_kv(T z, T y, const LossParams& a) {
  ElementLoss<T> e = gr_element(z, y, a);
  if (y > T(0.5)) return e;
  const T p = SigmoidOp::fwd(z, T(0));
  const T dp = p * (T(1) - p);
  const T q2 = T(a.q2), q3 = T(a.q3);
  const GrWeights<T> kv = gr_weights(p, a);
  const T k = kv.k, v = kv.v;
  const T d = (p - T(a.mu)) / T(a.sigma);
  const T term_pos = (T(1) - pow_(p, q2)) / q2, term_neg = (T(1) - pow_(T(1) - p, q3)) / q3;
  const T dk = k * (T(1) - k) * T(a.w) * dp;
  const T dv = -v * d / T(a.sigma) * dp;
  e.dz += dv * (k * term_pos + (T(1) - k) * term_neg) + v * dk * (term_pos - term_neg);
  return e;
}

// AN, AN with label smoothing 0.1, WAN, BCE (full labels), the EPR/EM positives: weighted -log p and -log(1 - p).
template <class T>
SPML_HD ElementLoss<T> weighted_bce_element(T z, T weight_pos_target, T weight_neg_target) {
  const T p = SigmoidOp::fwd(z, T(0));
  const T eps = T(kColeLogEps);
  ElementLoss<T> e{T(0), T(0)};
  // Only the logs with a non-zero weight are computed (most entries need one of the two).
  if (weight_pos_target != T(0)) {
    e.loss += weight_pos_target * -log_(p + eps);
    e.dz += weight_pos_target * neg_log_p_grad(p, eps);
  }
  if (weight_neg_target != T(0)) {
    e.loss += weight_neg_target * -log_(T(1) - p + eps);
    e.dz += weight_neg_target * neg_log_1mp_grad(p, eps);
  }
  return e;
}

// EM's unobserved term: -alpha H(p) = alpha [p log(p + eps) + (1 - p) log(1 - p + eps)].
template <class T>
SPML_HD ElementLoss<T> neg_entropy_element(T z, T alpha) {
  const T p = SigmoidOp::fwd(z, T(0));
  const T eps = T(kColeLogEps);
  const T lp = log_(p + eps), l1p = log_(T(1) - p + eps);
  const T dl_dp = lp + p / (p + eps) - l1p - (T(1) - p) / (T(1) - p + eps);
  return {alpha * (p * lp + (T(1) - p) * l1p), alpha * dl_dp * p * (T(1) - p)};
}

// Every loss except ROLE, per element (EPR's regulariser is added by the caller from the row sums).
template <class T>
SPML_HD ElementLoss<T> spml_element(LossKind kind, T z, T y, const LossParams& a) {
  const bool pos = y > T(0.5);
  switch (kind) {
    case LossKind::GR:
      return gr_element(z, y, a);
    case LossKind::AN:
    case LossKind::BCE:
      return weighted_bce_element(z, pos ? T(1) : T(0), pos ? T(0) : T(1));
    case LossKind::AN_LS:
      return weighted_bce_element(z, pos ? T(0.9) : T(0.1), pos ? T(0.1) : T(0.9));
    case LossKind::WAN:
      return weighted_bce_element(z, pos ? T(1) : T(0), pos ? T(0) : T(1) / T(a.num_classes - 1));
    case LossKind::EPR:
      return pos ? weighted_bce_element(z, T(1), T(0)) : ElementLoss<T>{T(0), T(0)};
    case LossKind::EM:
      return pos ? weighted_bce_element(z, T(1), T(0)) : neg_entropy_element(z, T(a.em_alpha));
    case LossKind::ROLE:
      break;  // needs the label estimates: role_element
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
SPML_HD RoleElementLoss<T> role_element(T z, T g, T y) {
  const T p = SigmoidOp::fwd(z, T(0)), q = SigmoidOp::fwd(g, T(0));
  const T eps = T(kColeLogEps);
  const T nlp = -log_(p + eps), nl1p = -log_(T(1) - p + eps);
  const T nlq = -log_(q + eps), nl1q = -log_(T(1) - q + eps);
  T loss = T(0.5) * (q * nlp + (T(1) - q) * nl1p + p * nlq + (T(1) - p) * nl1q);
  T dz = T(0.5) * (q * neg_log_p_grad(p, eps) + (T(1) - q) * neg_log_1mp_grad(p, eps));
  T dg = T(0.5) * (p * neg_log_p_grad(q, eps) + (T(1) - p) * neg_log_1mp_grad(q, eps));
  if (y > T(0.5)) {
    loss += T(0.5) * (nlp + nlq);
    dz += T(0.5) * neg_log_p_grad(p, eps);
    dg += T(0.5) * neg_log_p_grad(q, eps);
  }
  return {loss, dz, dg};
}

}  // namespace spml::kernels
