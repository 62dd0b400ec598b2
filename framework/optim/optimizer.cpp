// Optimizer implementations: Adam in one multi-tensor pass per group (CPU: one parallel region over all the
// group's elements; CUDA: one launch); SGD per tensor.
#include "framework/optim/optimizer.h"

#include <cmath>
#include <unordered_set>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"

namespace spml::optim {
namespace {
void check_param(const Tensor& p, const std::string& where) {
  SPML_CHECK(p.defined(), where, ": parameter is undefined");
  SPML_CHECK(p.is_leaf() && p.requires_grad(), where, ": ", p.description(),
             " is not a leaf that requires grad; only trainable parameters can be optimised");
  SPML_CHECK(p.dtype() == DType::Float32 || p.dtype() == DType::Float64, where, ": ", p.description(),
             " must be float32 or float64");
}

Tensor scalar_int64(int64_t v) {
  return Tensor::from_vector<int64_t>({v}, Shape{});
}

const Tensor& require_key(const std::map<std::string, Tensor>& state, const std::string& key, const Shape& shape,
                          DType dtype) {
  auto it = state.find(key);
  SPML_CHECK(it != state.end(), "optimizer load_state_dict: missing key '", key, "'");
  SPML_CHECK(it->second.shape() == shape && it->second.dtype() == dtype, "optimizer load_state_dict: key '", key,
             "' has ", it->second.description(), " but the parameter needs ", dtype_name(dtype), shape_str(shape));
  return it->second;
}
}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  SPML_CHECK(!groups_.empty(), "optimizer: no parameter groups");
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].name.empty()) groups_[g].name = std::to_string(g);
    SPML_CHECK(groups_[g].lr >= 0, "optimizer: group '", groups_[g].name, "' has negative lr ", groups_[g].lr);
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i)
      check_param(groups_[g].params[i], "optimizer group '" + groups_[g].name + "' parameter " + std::to_string(i));
  }
}

void Optimizer::zero_grad() {
  for (auto& group : groups_)
    for (auto& p : group.params) p.set_grad(Tensor());
}

std::string Optimizer::key(std::size_t group, std::size_t index, const char* slot) const {
  return groups_[group].name + "." + std::to_string(index) + "." + slot;
}

// ------------------------------------------------------------------------------------------------------ Adam
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options) : Optimizer(std::move(groups)), options_(options) {
  SPML_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1,
             "Adam: betas must lie in [0, 1), got (", options_.beta1, ", ", options_.beta2, ")");
  SPML_CHECK(options_.eps >= 0, "Adam: eps must be >= 0, got ", options_.eps);
  for (const auto& group : groups_) state_.emplace_back(group.params.size());
}

void Adam::step() {
  NvtxRange range("adam.step");
  autograd::NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    kernels::AdamParams shared;
    shared.lr = groups_[g].lr;
    shared.beta1 = options_.beta1;
    shared.beta2 = options_.beta2;
    shared.eps = options_.eps;
    shared.weight_decay = options_.weight_decay;
    shared.decoupled = options_.decoupled_weight_decay;
    // The group's CPU tensors are updated together (one parallel region); a tensor listed twice is updated twice,
    // in order, as before: its second entry waits for a flush of the first.
    std::vector<kernels::cpu::AdamTensor<float>> cpu_f32;
    std::vector<kernels::cpu::AdamTensor<double>> cpu_f64;
    std::unordered_set<const void*> cpu_queued;
    const auto flush_cpu = [&] {
      if (!cpu_f32.empty()) kernels::cpu::adam_step_multi(cpu_f32, shared);
      if (!cpu_f64.empty()) kernels::cpu::adam_step_multi(cpu_f64, shared);
      cpu_f32.clear();
      cpu_f64.clear();
      cpu_queued.clear();
    };
#if SPML_WITH_CUDA
    std::vector<kernels::cuda::AdamTensor<float>> cuda_f32;
    std::vector<kernels::cuda::AdamTensor<double>> cuda_f64;
    int cuda_device = -1;  // the device of the queued tensors: a group spread over devices launches once per device
    auto flush_cuda = [&] {
      if (cuda_f32.empty() && cuda_f64.empty()) return;
      cuda_runtime::DeviceGuard guard(cuda_device);
      if (!cuda_f32.empty()) kernels::cuda::adam_step_multi(cuda_f32, shared, cuda_runtime::stream(cuda_device));
      if (!cuda_f64.empty()) kernels::cuda::adam_step_multi(cuda_f64, shared, cuda_runtime::stream(cuda_device));
      cuda_f32.clear();
      cuda_f64.clear();
    };
#endif
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      Tensor& p = groups_[g].params[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      ParamState& s = state_[g][i];
      if (!s.exp_avg.defined()) {
        s.exp_avg = Tensor::zeros(p.shape(), p.dtype(), p.device());
        s.exp_avg_sq = Tensor::zeros(p.shape(), p.dtype(), p.device());
      }
      ++s.step;
      kernels::AdamParams params = shared;
      params.bias_correction1 = 1.0 - std::pow(options_.beta1, double(s.step));
      params.bias_correction2 = 1.0 - std::pow(options_.beta2, double(s.step));
      const int64_t n = p.numel();
      if (p.device().is_cpu()) {
        if (!cpu_queued.insert(p.data_ptr()).second) {
          flush_cpu();
          cpu_queued.insert(p.data_ptr());
        }
        if (p.dtype() == DType::Float32) {
          cpu_f32.push_back({p.data<float>(), grad.data<float>(), s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                             n, params.bias_correction1, params.bias_correction2});
        } else {
          cpu_f64.push_back({p.data<double>(), grad.data<double>(), s.exp_avg.data<double>(),
                             s.exp_avg_sq.data<double>(), n, params.bias_correction1, params.bias_correction2});
        }
      } else {
#if SPML_WITH_CUDA
        if (p.device().index != cuda_device) {
          flush_cuda();
          cuda_device = p.device().index;
        }
        if (p.dtype() == DType::Float32) {
          cuda_f32.push_back({p.data<float>(), grad.data<float>(), s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                              n, params.bias_correction1, params.bias_correction2});
        } else {
          cuda_f64.push_back({p.data<double>(), grad.data<double>(), s.exp_avg.data<double>(),
                              s.exp_avg_sq.data<double>(), n, params.bias_correction1, params.bias_correction2});
        }
#endif
      }
    }
    flush_cpu();
#if SPML_WITH_CUDA
    flush_cuda();
#endif
  }
}

std::map<std::string, Tensor> Adam::state_dict() const {
  std::map<std::string, Tensor> out;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const ParamState& s = state_[g][i];
      out[key(g, i, "step")] = scalar_int64(s.step);
      if (s.step == 0) continue;
      out[key(g, i, "exp_avg")] = s.exp_avg.clone();
      out[key(g, i, "exp_avg_sq")] = s.exp_avg_sq.clone();
    }
  }
  return out;
}

void Adam::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::vector<ParamState>> loaded(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      ParamState s;
      s.step = int64_t(require_key(state, key(g, i, "step"), Shape{}, DType::Int64).item());
      SPML_CHECK(s.step >= 0, "Adam load_state_dict: key '", key(g, i, "step"), "' is negative");
      if (s.step > 0) {
        s.exp_avg = require_key(state, key(g, i, "exp_avg"), p.shape(), p.dtype()).to(p.device()).clone();
        s.exp_avg_sq = require_key(state, key(g, i, "exp_avg_sq"), p.shape(), p.dtype()).to(p.device()).clone();
      }
      loaded[g].push_back(s);
    }
  }
  state_ = std::move(loaded);
}

// ------------------------------------------------------------------------------------------------------ SGD
SGD::SGD(std::vector<ParamGroup> groups, SgdOptions options) : Optimizer(std::move(groups)), options_(options) {
  SPML_CHECK(!options_.nesterov || (options_.momentum > 0 && options_.dampening == 0),
             "SGD: Nesterov momentum requires momentum > 0 and dampening 0");
  for (const auto& group : groups_) momentum_buffer_.emplace_back(group.params.size());
}

void SGD::step() {
  NvtxRange range("sgd.step");
  autograd::NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      Tensor& p = groups_[g].params[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      kernels::SgdParams params;
      params.lr = groups_[g].lr;
      params.momentum = options_.momentum;
      params.dampening = options_.dampening;
      params.weight_decay = options_.weight_decay;
      params.nesterov = options_.nesterov;
      Tensor& buf = momentum_buffer_[g][i];
      params.first_step = !buf.defined();
      if (options_.momentum != 0 && !buf.defined()) buf = Tensor::zeros(p.shape(), p.dtype(), p.device());
      const int64_t n = p.numel();
      SPML_DISPATCH_FLOATING(p.dtype(), "SGD.step", {
        scalar_t* bp = buf.defined() ? buf.data<scalar_t>() : nullptr;
        SPML_RUN_KERNEL(p.device(), sgd_step, p.data<scalar_t>(), grad.data<scalar_t>(), bp, n, params);
      });
    }
  }
}

std::map<std::string, Tensor> SGD::state_dict() const {
  std::map<std::string, Tensor> out;
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i)
      if (momentum_buffer_[g][i].defined()) out[key(g, i, "momentum_buffer")] = momentum_buffer_[g][i].clone();
  return out;
}

void SGD::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::vector<std::vector<Tensor>> loaded(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      const std::string k = key(g, i, "momentum_buffer");
      loaded[g].push_back(state.count(k) ? require_key(state, k, p.shape(), p.dtype()).to(p.device()).clone()
                                         : Tensor());
    }
  }
  momentum_buffer_ = std::move(loaded);
}

}  // namespace spml::optim
