// CNN ops: argument checks, dispatch to the CPU kernels or cuDNN/CUDA, and the recorded backward.
#include "framework/ops/cnn.h"

#include <atomic>
#include <map>
#include <mutex>

#include "framework/autograd/autograd.h"
#include "framework/core/dispatch.h"
#include "framework/core/nvtx.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/onednn_kernels.h"

namespace spml {
namespace {
std::atomic<bool> g_deterministic{false};

// cuDNN may use up to this much workspace per call: generous, so its fastest algorithms stay eligible.
constexpr std::size_t kCudnnWorkspaceLimit = std::size_t(512) << 20;

void check_nchw(const Tensor& t, const char* op, const char* role) {
  SPML_CHECK(t.defined(), op, ": ", role, " is undefined");
  SPML_CHECK(t.dim() == 4, op, ": ", role, " must be 4-D [N, C, H, W], got ", t.description());
  SPML_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, op, ": ", role,
             " must be float32 or float64, got ", t.description());
}

void check_same(const Tensor& a, const Tensor& b, const char* op, const char* role) {
  SPML_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), op, ": ", role, " ", b.description(),
             " differs in dtype or device from the input ", a.description());
}

#if SPML_WITH_CUDA
// One cuDNN workspace per device, grown to the largest need and kept (stream-ordered reuse is safe: every
// convolution runs on the device's one stream).
void* cudnn_workspace(int device, std::size_t bytes) {
  static std::mutex mutex;
  static std::map<int, Tensor> workspaces;
  std::lock_guard<std::mutex> lock(mutex);
  Tensor& ws = workspaces[device];
  if (bytes == 0) return nullptr;
  if (!ws.defined() || ws.nbytes() < bytes) ws = Tensor::empty({int64_t(bytes)}, DType::UInt8, Device::cuda(device));
  return ws.data_ptr();
}

template <class T, class Run>
void run_cudnn(const kernels::Conv2dShape& s, kernels::cuda::ConvPass pass, int device, Run run) {
  const bool det = g_deterministic.load();
  cudnnHandle_t handle = cuda_runtime::cudnn_handle(device);
  const std::size_t bytes =
      kernels::cuda::conv2d_prepare(handle, s, std::is_same_v<T, double>, pass, det, kCudnnWorkspaceLimit);
  run(handle, cuda_runtime::cublas_handle(device), cudnn_workspace(device, bytes), bytes, det);
}
#endif

kernels::Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  kernels::Conv2dShape s{};
  s.n = x.size(0), s.c_in = x.size(1), s.h = x.size(2), s.w = x.size(3);
  s.c_out = w.size(0), s.kh = w.size(2), s.kw = w.size(3);
  s.stride_h = s.stride_w = o.stride;
  s.pad_h = s.pad_w = o.padding;
  s.h_out = (s.h + 2 * o.padding - s.kh) / o.stride + 1;
  s.w_out = (s.w + 2 * o.padding - s.kw) / o.stride + 1;
  return s;
}

// float32 CPU tensors go to the fast kernel set (oneDNN convolutions, vectorised batch norm and pooling) when it is
// selected; float64 and the reference selection to the reference kernels.
bool use_onednn(const Tensor& t) {
  return t.dtype() == DType::Float32 && t.device().is_cpu() && kernels::onednn::active();
}

Tensor cpu_workspace(const kernels::Conv2dShape& s, const Tensor& like) {
  return Tensor::empty({std::max<int64_t>(1, kernels::cpu::conv2d_workspace_elements(s))}, like.dtype());
}
}  // namespace

void set_deterministic_convolutions(bool deterministic) {
  g_deterministic = deterministic;
}
bool deterministic_convolutions() {
  return g_deterministic.load();
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Conv2dOptions options) {
  NvtxRange range("conv2d");
  check_nchw(x, "conv2d", "input");
  check_nchw(weight, "conv2d", "weight");
  check_same(x, weight, "conv2d", "weight");
  SPML_CHECK(options.stride >= 1 && options.padding >= 0, "conv2d: stride must be >= 1 and padding >= 0, got ",
             options.stride, " and ", options.padding);
  SPML_CHECK(x.size(1) == weight.size(1), "conv2d: input ", shape_str(x.shape()), " has ", x.size(1),
             " channels but weight ", shape_str(weight.shape()), " expects ", weight.size(1));
  SPML_CHECK(x.size(2) + 2 * options.padding >= weight.size(2) && x.size(3) + 2 * options.padding >= weight.size(3),
             "conv2d: kernel ", shape_str(weight.shape()), " larger than the padded input ", shape_str(x.shape()));
  const kernels::Conv2dShape s = conv_shape(x, weight, options);
  const double flop = 2.0 * double(s.n * s.c_out * s.h_out * s.w_out) * double(s.c_in * s.kh * s.kw);
  profiler::count_flops(flop);
  Tensor y = Tensor::empty({s.n, s.c_out, s.h_out, s.w_out}, x.dtype(), x.device());
  const bool onednn = use_onednn(x);
  if (onednn)
    kernels::onednn::conv2d_forward(s, x.data<float>(), weight.data<float>(), y.data<float>());
  else
    SPML_DISPATCH_FLOATING(x.dtype(), "conv2d", {
      SPML_ON_DEVICE(
          x.device(),
          {
            Tensor ws = cpu_workspace(s, x);
            kernels::cpu::conv2d_forward(s, x.data<scalar_t>(), weight.data<scalar_t>(), y.data<scalar_t>(),
                                         ws.data<scalar_t>());
          },
          run_cudnn<scalar_t>(s, kernels::cuda::ConvPass::Forward, x.device().index,
                              [&](cudnnHandle_t h, cublasHandle_t blas, void* ws, std::size_t bytes, bool det) {
                                kernels::cuda::conv2d_forward(h, blas, s, x.data<scalar_t>(), weight.data<scalar_t>(),
                                                              y.data<scalar_t>(), ws, bytes, det);
                              }));
    });
  const Tensor sx = x.detach(), sw = weight.detach();
  const bool grad_x = x.requires_grad(), grad_w = weight.requires_grad();
  Tensor out = autograd::record("conv2d", y, {x, weight}, [s, sx, sw, grad_x, grad_w, onednn, flop](const Tensor& g) {
    profiler::count_flops(flop * (int(grad_x) + int(grad_w)));
    Tensor gx = grad_x ? Tensor::empty(sx.shape(), g.dtype(), g.device()) : Tensor();
    Tensor gw = grad_w ? Tensor::empty(sw.shape(), g.dtype(), g.device()) : Tensor();
    if (onednn) {
      kernels::onednn::conv2d_backward(s, g.data<float>(), sx.data<float>(), sw.data<float>(),
                                       grad_x ? gx.data<float>() : nullptr, grad_w ? gw.data<float>() : nullptr);
      return std::vector<Tensor>{gx, gw};
    }
    SPML_DISPATCH_FLOATING(g.dtype(), "conv2d.backward", {
      SPML_ON_DEVICE(
          g.device(),
          {
            Tensor ws = cpu_workspace(s, g);
            if (grad_x)
              kernels::cpu::conv2d_backward_data(s, g.data<scalar_t>(), sw.data<scalar_t>(), gx.data<scalar_t>(),
                                                 ws.data<scalar_t>());
            if (grad_w)
              kernels::cpu::conv2d_backward_filter(s, g.data<scalar_t>(), sx.data<scalar_t>(), gw.data<scalar_t>(),
                                                   ws.data<scalar_t>());
          },
          {
            if (grad_x)
              run_cudnn<scalar_t>(s, kernels::cuda::ConvPass::BackwardData, g.device().index,
                                  [&](cudnnHandle_t h, cublasHandle_t blas, void* ws, std::size_t bytes, bool det) {
                                    kernels::cuda::conv2d_backward_data(h, blas, s, g.data<scalar_t>(),
                                                                        sw.data<scalar_t>(), gx.data<scalar_t>(), ws,
                                                                        bytes, det);
                                  });
            if (grad_w)
              run_cudnn<scalar_t>(s, kernels::cuda::ConvPass::BackwardFilter, g.device().index,
                                  [&](cudnnHandle_t h, cublasHandle_t blas, void* ws, std::size_t bytes, bool det) {
                                    kernels::cuda::conv2d_backward_filter(h, blas, s, g.data<scalar_t>(),
                                                                          sx.data<scalar_t>(), gw.data<scalar_t>(), ws,
                                                                          bytes, det);
                                  });
          });
    });
    return std::vector<Tensor>{gx, gw};
  });
  if (!bias.defined()) return out;
  SPML_CHECK(bias.dim() == 1 && bias.size(0) == s.c_out, "conv2d: bias ", shape_str(bias.shape()),
             " does not match weight ", shape_str(weight.shape()), " (expected [", s.c_out, "])");
  check_same(x, bias, "conv2d", "bias");
  return add(out, bias.reshape({s.c_out, 1, 1}));
}

namespace {
// The fast float32 CPU batch norm (the `onednn` kernel set, though not oneDNN's own: kernels/cpu/batchnorm_f32.cpp):
// it saves the batch mean and biased variance (training) or the running ones (eval). relu: fused, the backward
// gates by y > 0.
Tensor batch_norm2d_fast(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum, double eps, bool relu) {
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  const bool has_gamma = gamma.defined(), has_beta = beta.defined();
  const bool grad_x = x.requires_grad(), grad_g = has_gamma && gamma.requires_grad(),
             grad_b = has_beta && beta.requires_grad();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({c}, x.dtype()), save_var = Tensor::empty({c}, x.dtype());
  if (!training) {
    save_mean.copy_(running_mean);
    save_var.copy_(running_var);
  }
  kernels::onednn::batchnorm_forward(
      x.data<float>(), has_gamma ? gamma.data<float>() : nullptr, has_beta ? beta.data<float>() : nullptr,
      y.data<float>(), save_mean.data<float>(), save_var.data<float>(),
      running_mean.defined() ? running_mean.data<float>() : nullptr,
      running_var.defined() ? running_var.data<float>() : nullptr, n, c, hw, training, momentum, eps, relu);
  std::vector<Tensor> inputs{x};
  if (has_gamma) inputs.push_back(gamma);
  if (has_beta) inputs.push_back(beta);
  const Tensor sx = x.detach(), sg = has_gamma ? gamma.detach() : Tensor(), sy = relu ? y.detach() : Tensor();
  return autograd::record(relu ? "batch_norm2d_relu" : "batch_norm2d", y, inputs, [=](const Tensor& g) {
    Tensor gx = grad_x ? Tensor::empty(sx.shape(), g.dtype()) : Tensor();
    Tensor gg = grad_g ? Tensor::empty({c}, g.dtype()) : Tensor();
    Tensor gb = grad_b ? Tensor::empty({c}, g.dtype()) : Tensor();
    kernels::onednn::batchnorm_backward(
        sx.data<float>(), relu ? sy.data<float>() : nullptr, g.data<float>(), has_gamma ? sg.data<float>() : nullptr,
        save_mean.data<float>(), save_var.data<float>(), grad_x ? gx.data<float>() : nullptr,
        grad_g ? gg.data<float>() : nullptr, grad_b ? gb.data<float>() : nullptr, n, c, hw, training, eps, relu);
    std::vector<Tensor> grads{gx};
    if (has_gamma) grads.push_back(gg);
    if (has_beta) grads.push_back(gb);
    return grads;
  });
}
}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps, bool relu) {
  NvtxRange range("batch_norm2d");
  check_nchw(x, "batch_norm2d", "input");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  for (const auto& [t, role] : {std::pair{gamma, "weight"}, std::pair{beta, "bias"},
                                std::pair{running_mean, "running_mean"}, std::pair{running_var, "running_var"}}) {
    if (!t.defined()) continue;
    SPML_CHECK(t.dim() == 1 && t.size(0) == c, "batch_norm2d: ", role, " ", shape_str(t.shape()),
               " does not match the input's ", c, " channels (", shape_str(x.shape()), ")");
    check_same(x, t, "batch_norm2d", role);
  }
  SPML_CHECK(training || (running_mean.defined() && running_var.defined()),
             "batch_norm2d: eval mode needs running_mean and running_var");
  SPML_CHECK(!training || n * hw > 1, "batch_norm2d: training needs more than one value per channel, got input ",
             shape_str(x.shape()));
  SPML_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "batch_norm2d: eps must be > 0 and momentum in [0, 1], got ",
             eps, " and ", momentum);
  if (use_onednn(x)) return batch_norm2d_fast(x, gamma, beta, running_mean, running_var, training, momentum, eps, relu);
  if (relu) return relu_(batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum, eps, false));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({c}, x.dtype(), x.device()), save_invstd = Tensor::empty({c}, x.dtype(), x.device());
  SPML_DISPATCH_FLOATING(x.dtype(), "batch_norm2d", {
    const scalar_t* gp = gamma.defined() ? gamma.data<scalar_t>() : nullptr;
    const scalar_t* bp = beta.defined() ? beta.data<scalar_t>() : nullptr;
    scalar_t* rm = running_mean.defined() ? running_mean.data<scalar_t>() : nullptr;
    scalar_t* rv = running_var.defined() ? running_var.data<scalar_t>() : nullptr;
    SPML_RUN_KERNEL(x.device(), batchnorm_forward, x.data<scalar_t>(), gp, bp, y.data<scalar_t>(),
                    save_mean.data<scalar_t>(), save_invstd.data<scalar_t>(), rm, rv, n, c, hw, training, momentum,
                    eps);
  });
  std::vector<Tensor> inputs{x};
  if (gamma.defined()) inputs.push_back(gamma);
  if (beta.defined()) inputs.push_back(beta);
  const Tensor sx = x.detach(), sg = gamma.defined() ? gamma.detach() : Tensor();
  const bool has_gamma = gamma.defined(), has_beta = beta.defined();
  const bool grad_x = x.requires_grad(), grad_g = has_gamma && gamma.requires_grad(),
             grad_b = has_beta && beta.requires_grad();
  return autograd::record("batch_norm2d", y, inputs, [=](const Tensor& g) {
    Tensor gx = grad_x ? Tensor::empty(sx.shape(), g.dtype(), g.device()) : Tensor();
    Tensor gg = grad_g ? Tensor::empty({c}, g.dtype(), g.device()) : Tensor();
    Tensor gb = grad_b ? Tensor::empty({c}, g.dtype(), g.device()) : Tensor();
    SPML_DISPATCH_FLOATING(g.dtype(), "batch_norm2d.backward", {
      const scalar_t* gp = has_gamma ? sg.data<scalar_t>() : nullptr;
      scalar_t* gxp = grad_x ? gx.data<scalar_t>() : nullptr;
      scalar_t* ggp = grad_g ? gg.data<scalar_t>() : nullptr;
      scalar_t* gbp = grad_b ? gb.data<scalar_t>() : nullptr;
      SPML_RUN_KERNEL(g.device(), batchnorm_backward, sx.data<scalar_t>(), g.data<scalar_t>(), gp,
                      save_mean.data<scalar_t>(), save_invstd.data<scalar_t>(), gxp, ggp, gbp, n, c, hw, training);
    });
    std::vector<Tensor> grads{gx};
    if (has_gamma) grads.push_back(gg);
    if (has_beta) grads.push_back(gb);
    return grads;
  });
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  NvtxRange range("max_pool2d");
  check_nchw(x, "max_pool2d", "input");
  SPML_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel,
             "max_pool2d: needs kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2; got kernel ", kernel, ", stride ",
             stride, ", padding ", padding);
  SPML_CHECK(x.size(2) + 2 * padding >= kernel && x.size(3) + 2 * padding >= kernel, "max_pool2d: kernel ", kernel,
             " larger than the padded input ", shape_str(x.shape()));
  kernels::Pool2dShape s{x.size(0) * x.size(1),
                         x.size(2),
                         x.size(3),
                         kernel,
                         kernel,
                         stride,
                         stride,
                         padding,
                         padding,
                         (x.size(2) + 2 * padding - kernel) / stride + 1,
                         (x.size(3) + 2 * padding - kernel) / stride + 1};
  Tensor y = Tensor::empty({x.size(0), x.size(1), s.h_out, s.w_out}, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(y.shape(), DType::Int64, x.device());
  if (use_onednn(x))
    kernels::onednn::max_pool2d_forward(s, x.data<float>(), y.data<float>(), argmax.data<int64_t>());
  else
    SPML_DISPATCH_FLOATING(x.dtype(), "max_pool2d", {
      SPML_RUN_KERNEL(x.device(), max_pool2d_forward, s, x.data<scalar_t>(), y.data<scalar_t>(),
                      argmax.data<int64_t>());
    });
  const Shape in_shape = x.shape();
  return autograd::record("max_pool2d", y, {x}, [s, argmax, in_shape](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SPML_DISPATCH_FLOATING(g.dtype(), "max_pool2d.backward", {
      SPML_RUN_KERNEL(g.device(), max_pool2d_backward, s, g.data<scalar_t>(), argmax.data<int64_t>(),
                      gx.data<scalar_t>());
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  NvtxRange range("adaptive_avg_pool2d");
  check_nchw(x, "adaptive_avg_pool2d", "input");
  SPML_CHECK(out_h >= 1 && out_w >= 1 && x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d: output ", out_h, "x",
             out_w, " from input ", shape_str(x.shape()), " is not possible");
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  SPML_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d", {
    SPML_RUN_KERNEL(x.device(), adaptive_avg_pool2d_forward, x.data<scalar_t>(), y.data<scalar_t>(), planes, h, w,
                    out_h, out_w);
  });
  const Shape in_shape = x.shape();
  return autograd::record("adaptive_avg_pool2d", y, {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SPML_DISPATCH_FLOATING(g.dtype(), "adaptive_avg_pool2d.backward", {
      SPML_RUN_KERNEL(g.device(), adaptive_avg_pool2d_backward, g.data<scalar_t>(), gx.data<scalar_t>(), planes, h, w,
                      out_h, out_w);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  return adaptive_avg_pool2d(x, 1, 1).flatten(1);
}

}  // namespace spml
