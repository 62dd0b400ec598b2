// CPU reference of the fused SPML losses: one pass per row computing element losses and gradients with the
// shared math of kernels/common/spml_loss_math.h, plus EPR/ROLE's batch regularisers.
#include <omp.h>

#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace spml::kernels::cpu {
namespace {
// Regulariser R(x) = (mean_b sum_c x_bc - k)^2 / C^2 of a batch, and dR/dx_bc (the same for every element).
struct BatchRegulariser {
  double value = 0;
  double grad = 0;
};

template <class T>
BatchRegulariser regulariser(const T* logits, int64_t rows, int64_t cols, double k) {
  std::vector<double> row_sums(static_cast<std::size_t>(rows));
#pragma omp parallel for if (rows * cols > (1 << 14))
  for (int64_t b = 0; b < rows; ++b) {
    double row = 0;
    for (int64_t c = 0; c < cols; ++c) row += double(SigmoidOp::fwd(logits[b * cols + c], T(0)));
    row_sums[std::size_t(b)] = row;
  }
  double total = 0;  // summed in row order: the same result for any thread count
  for (double r : row_sums) total += r;
  const double mean_positives = total / double(rows), c2 = double(cols) * double(cols);
  return {(mean_positives - k) * (mean_positives - k) / c2, 2.0 * (mean_positives - k) / (c2 * double(rows))};
}
}  // namespace

template <class T>
void spml_loss(LossKind kind, const T* z, const T* y, const T* g, int64_t rows, int64_t cols, const LossParams& params,
               bool gr_through_kv, T* loss_out, T* dz, T* dg) {
  LossParams a = params;
  a.num_classes = double(cols);
  const double inv_n = 1.0 / (double(rows) * double(cols));
  // Batch regularisers: EPR adds R(p); ROLE adds 0.5 (R(p) + R(Yhat)).
  BatchRegulariser reg_p, reg_q;
  double reg_weight = 0;
  if (kind == LossKind::EPR || kind == LossKind::ROLE) {
    reg_weight = kind == LossKind::EPR ? 1.0 : 0.5;
    reg_p = regulariser(z, rows, cols, a.expected_positives);
    if (kind == LossKind::ROLE) reg_q = regulariser(g, rows, cols, a.expected_positives);
  }
  const T coef_p = T(reg_weight * reg_p.grad), coef_q = T(reg_weight * reg_q.grad);
  std::vector<double> row_loss(std::size_t(rows), 0.0);
#pragma omp parallel for if (rows * cols > (1 << 14))
  for (int64_t b = 0; b < rows; ++b) {
    double acc = 0;
    for (int64_t i = b * cols; i < (b + 1) * cols; ++i) {
      if (kind == LossKind::ROLE) {
        const RoleElementLoss<T> e = role_element(z[i], g[i], y[i]);
        const T p = SigmoidOp::fwd(z[i], T(0)), q = SigmoidOp::fwd(g[i], T(0));
        acc += double(e.loss);
        dz[i] = e.dz * T(inv_n) + coef_p * p * (T(1) - p);
        dg[i] = e.dg * T(inv_n) + coef_q * q * (T(1) - q);
      } else {
        const ElementLoss<T> e = kind == LossKind::GR && gr_through_kv ? gr_element_through_kv(z[i], y[i], a)
                                                                       : spml_element(kind, z[i], y[i], a);
        acc += double(e.loss);
        dz[i] = e.dz * T(inv_n);
        if (coef_p != T(0)) {  // EPR's regulariser; the sigmoid is recomputed only where it is needed
          const T p = SigmoidOp::fwd(z[i], T(0));
          dz[i] += coef_p * p * (T(1) - p);
        }
      }
    }
    row_loss[std::size_t(b)] = acc;
  }
  double total = 0;
  for (double r : row_loss) total += r;
  loss_out[0] = T(total * inv_n + reg_weight * (reg_p.value + reg_q.value));
}

template void spml_loss<float>(LossKind, const float*, const float*, const float*, int64_t, int64_t, const LossParams&,
                               bool, float*, float*, float*);
template void spml_loss<double>(LossKind, const double*, const double*, const double*, int64_t, int64_t,
                                const LossParams&, bool, double*, double*, double*);

}  // namespace spml::kernels::cpu
