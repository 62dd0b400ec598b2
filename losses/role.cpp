// ROLE label estimates: initialisation and row selection (the trainer's Adam trains them).
#include "losses/role.h"

#include <cmath>
#include <vector>

#include "framework/ops/ops.h"
#include "kernels/common/philox.h"

namespace spml::losses {

RoleLabelEstimates::RoleLabelEstimates(const Tensor& observed_labels, uint64_t seed, DType dtype, Device device) {
  SPML_CHECK(observed_labels.defined() && observed_labels.dim() == 2, "ROLE label estimates: observed labels must be ",
             "[N, C], got ", observed_labels.description());
  const std::vector<double> y = observed_labels.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const double positive = std::log(0.995 / 0.005), bound = std::log(1.5);
  std::vector<double> g(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    SPML_CHECK(y[i] == 0.0 || y[i] == 1.0, "ROLE label estimates: observed label ", y[i], " at element ", i,
               " is not 0 or 1");
    g[i] = y[i] == 1.0 ? positive : kernels::philox_uniform(seed, i, -bound, bound);
  }
  logits_ = Tensor::from_vector(g, observed_labels.shape()).to(dtype).to(device);
  logits_.set_requires_grad(true);
}

Tensor RoleLabelEstimates::rows(const Tensor& indices) const {
  return index_rows(logits_, indices);
}

}  // namespace spml::losses
