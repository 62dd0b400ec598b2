// 2-D convolution through cuDNN's legacy API (cudnnConvolutionForward / BackwardData / BackwardFilter, still
// shipped by cuDNN 9 in libcudnn_cnn). Descriptors are built per call (host-only, cheap); the algorithm of each
// (shape, dtype, pass, deterministic, device) is chosen once from cuDNN's heuristics (cudnnGet*Algorithm_v7) and
// cached process-wide. Float runs with CUDNN_FMA_MATH (no TF32), so results stay close to the CPU reference.
#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::kernels::cuda {
namespace {

const char* pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::Forward:
      return "forward";
    case ConvPass::BackwardData:
      return "backward data";
    case ConvPass::BackwardFilter:
      return "backward filter";
  }
  return "unknown";
}

std::string describe(const Conv2dShape& s, bool is_double) {
  std::ostringstream out;
  out << "x [" << s.n << ", " << s.c_in << ", " << s.h << ", " << s.w << "], w [" << s.c_out << ", " << s.c_in << ", "
      << s.kh << ", " << s.kw << "], y [" << s.n << ", " << s.c_out << ", " << s.h_out << ", " << s.w_out
      << "], stride " << s.stride_h << "x" << s.stride_w << ", padding " << s.pad_h << "x" << s.pad_w << ", "
      << (is_double ? "float64" : "float32");
  return out.str();
}

// A convolution with an empty input, filter or output has nothing for cuDNN to do (it rejects zero sizes): the
// output of the pass is all zeros (or empty).
bool is_empty(const Conv2dShape& s) {
  return s.n * s.c_in * s.h * s.w == 0 || s.c_out * s.c_in * s.kh * s.kw == 0 || s.n * s.c_out * s.h_out * s.w_out == 0;
}

int to_int(int64_t v, const Conv2dShape& s, bool is_double) {
  SPML_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): size ", v, " does not fit cuDNN's int in ",
             describe(s, is_double));
  return int(v);
}

// The four descriptors of one convolution, destroyed with the object. The convolution descriptor's math type is
// set by the caller (it depends on the algorithm chosen).
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  ConvDescriptors(const Conv2dShape& s, bool is_double) {
    const cudnnDataType_t type = is_double ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    try {
      SPML_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
      SPML_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
      SPML_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
      SPML_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
      auto i = [&](int64_t v) { return to_int(v, s, is_double); };
      SPML_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, type, i(s.n), i(s.c_in), i(s.h), i(s.w)));
      SPML_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NCHW, i(s.c_out), i(s.c_in), i(s.kh), i(s.kw)));
      SPML_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, i(s.pad_h), i(s.pad_w), i(s.stride_h), i(s.stride_w), 1, 1,
                                                       CUDNN_CROSS_CORRELATION, type));
      SPML_CUDNN_CHECK(
          cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, type, i(s.n), i(s.c_out), i(s.h_out), i(s.w_out)));
      int dims[4] = {0, 0, 0, 0};
      SPML_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &dims[0], &dims[1], &dims[2], &dims[3]));
      SPML_CHECK(dims[0] == s.n && dims[1] == s.c_out && dims[2] == s.h_out && dims[3] == s.w_out,
                 "conv2d (cuDNN): cuDNN computes output [", dims[0], ", ", dims[1], ", ", dims[2], ", ", dims[3],
                 "] for ", describe(s, is_double));
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~ConvDescriptors() { destroy(); }
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;

  void set_math(cudnnMathType_t math) { SPML_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math)); }

 private:
  // Destruction status is ignored: nothing useful can be done about it (and destructors must not throw).
  void destroy() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    conv = nullptr, w = nullptr, y = nullptr, x = nullptr;
  }
};

// The math type requested from cuDNN: FMA only for float (Ampere and later would otherwise be free to use TF32),
// the default for double (no tensor-core path rounds double).
cudnnMathType_t requested_math(bool is_double) {
  return is_double ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

struct Choice {
  int algo;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math;
  std::size_t bytes;
};

using Key = std::tuple<std::array<int64_t, 13>, bool, int, bool, int>;  // shape, double, pass, deterministic, device

Key make_key(const Conv2dShape& s, bool is_double, ConvPass pass, bool deterministic) {
  int device = 0;
  SPML_CUDA_CHECK(cudaGetDevice(&device));
  return Key{{s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.h_out, s.w_out},
             is_double,
             int(pass),
             deterministic,
             device};
}

std::mutex g_cache_mutex;
std::map<Key, Choice>& cache() {
  static std::map<Key, Choice> choices;
  return choices;
}

// One heuristic candidate, whatever the pass.
struct Candidate {
  int algo;
  cudnnStatus_t status;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
};

template <class Perf>
std::vector<Candidate> to_candidates(const std::vector<Perf>& perf, int count) {
  std::vector<Candidate> out;
  for (int k = 0; k < count; ++k)
    out.push_back(Candidate{int(perf[k].algo), perf[k].status, perf[k].determinism, perf[k].mathType});
  return out;
}

// cuDNN's heuristic ranking (best expected performance first) for one pass.
std::vector<Candidate> heuristic_candidates(cudnnHandle_t handle, const ConvDescriptors& d, ConvPass pass) {
  int max_count = 0, count = 0;
  switch (pass) {
    case ConvPass::Forward: {
      SPML_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
      SPML_CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x, d.w, d.conv, d.y, int(perf.size()), &count, perf.data()));
      return to_candidates(perf, count);
    }
    case ConvPass::BackwardData: {
      SPML_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
      SPML_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, d.w, d.y, d.conv, d.x, int(perf.size()),
                                                                   &count, perf.data()));
      return to_candidates(perf, count);
    }
    case ConvPass::BackwardFilter: {
      SPML_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
      SPML_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, d.x, d.y, d.conv, d.w, int(perf.size()),
                                                                     &count, perf.data()));
      return to_candidates(perf, count);
    }
  }
  return {};
}

// The workspace the algorithm needs with the descriptors as they are (math type included); false when cuDNN does
// not support the algorithm for them.
bool workspace_size(cudnnHandle_t handle, const ConvDescriptors& d, ConvPass pass, int algo, std::size_t& bytes) {
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  switch (pass) {
    case ConvPass::Forward:
      status = cudnnGetConvolutionForwardWorkspaceSize(handle, d.x, d.w, d.conv, d.y, cudnnConvolutionFwdAlgo_t(algo),
                                                       &bytes);
      break;
    case ConvPass::BackwardData:
      status = cudnnGetConvolutionBackwardDataWorkspaceSize(handle, d.w, d.y, d.conv, d.x,
                                                            cudnnConvolutionBwdDataAlgo_t(algo), &bytes);
      break;
    case ConvPass::BackwardFilter:
      status = cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, d.x, d.y, d.conv, d.w,
                                                              cudnnConvolutionBwdFilterAlgo_t(algo), &bytes);
      break;
  }
  return status == CUDNN_STATUS_SUCCESS;
}

// The first heuristic candidate that succeeds, is deterministic when asked, and whose workspace (with the math
// type it will run with) fits the limit. Throws naming the pass, the shape, the limit and what the candidates needed.
Choice select(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass, bool deterministic,
              std::size_t limit) {
  ConvDescriptors d(s, is_double);
  const cudnnMathType_t wanted = requested_math(is_double);
  d.set_math(wanted);
  std::vector<Candidate> candidates = heuristic_candidates(handle, d, pass);
  // Float never runs on TF32 tensor cores: its descriptor keeps CUDNN_FMA_MATH whatever cuDNN proposes, and the
  // candidates cuDNN ranked for FMA math come first. Double takes the math type cuDNN proposes (as PyTorch does;
  // FP64 tensor cores round like FP64 FMA).
  if (!is_double)
    std::stable_partition(candidates.begin(), candidates.end(),
                          [](const Candidate& c) { return c.math == CUDNN_FMA_MATH; });
  std::ostringstream rejected;
  for (const Candidate& c : candidates) {
    if (c.status != CUDNN_STATUS_SUCCESS) continue;
    if (deterministic && c.determinism != CUDNN_DETERMINISTIC) {
      rejected << " algo " << c.algo << ": not deterministic;";
      continue;
    }
    const cudnnMathType_t math = is_double ? c.math : wanted;
    d.set_math(math);
    std::size_t bytes = 0;
    if (!workspace_size(handle, d, pass, c.algo, bytes)) {
      rejected << " algo " << c.algo << ": no workspace size;";
      continue;
    }
    if (bytes > limit) {
      rejected << " algo " << c.algo << ": needs " << bytes << " bytes;";
      continue;
    }
    return Choice{c.algo, math, bytes};
  }
  SPML_FAIL("conv2d (cuDNN): no ", pass_name(pass), " algorithm for ", describe(s, is_double),
            deterministic ? " (deterministic only)" : "", " with a workspace limit of ", limit, " bytes;",
            rejected.str().empty() ? " cuDNN proposed none" : rejected.str());
}

// The cached choice, selected under `limit` when missing or when the cached one needs more than `limit`.
Choice lookup(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass, bool deterministic,
              std::size_t limit) {
  const Key key = make_key(s, is_double, pass, deterministic);
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = cache().find(key);
  if (it != cache().end() && it->second.bytes <= limit) return it->second;
  const Choice choice = select(handle, s, is_double, pass, deterministic, limit);
  cache()[key] = choice;
  return choice;
}

// Zeroes `bytes` of device memory on the handle's stream (the output of a pass over an empty tensor).
void zero_output(cudnnHandle_t handle, void* out, std::size_t bytes) {
  if (bytes == 0) return;
  cudaStream_t stream = nullptr;
  SPML_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  SPML_CUDA_CHECK(cudaMemsetAsync(out, 0, bytes, stream));
}

}  // namespace

std::size_t conv2d_prepare(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass,
                           bool deterministic, std::size_t workspace_limit) {
  if (is_empty(s)) return 0;
  return lookup(handle, s, is_double, pass, deterministic, workspace_limit).bytes;
}

template <class T>
void conv2d_forward(cudnnHandle_t handle, const Conv2dShape& s, const T* x, const T* w, T* y, void* workspace,
                    std::size_t workspace_bytes, bool deterministic) {
  constexpr bool is_double = std::is_same_v<T, double>;
  if (is_empty(s)) return zero_output(handle, y, sizeof(T) * std::size_t(s.n * s.c_out * s.h_out * s.w_out));
  const Choice c = lookup(handle, s, is_double, ConvPass::Forward, deterministic, workspace_bytes);
  ConvDescriptors d(s, is_double);
  d.set_math(c.math);
  const T alpha = 1, beta = 0;
  SPML_CUDNN_CHECK(cudnnConvolutionForward(handle, &alpha, d.x, x, d.w, w, d.conv, cudnnConvolutionFwdAlgo_t(c.algo),
                                           workspace, workspace_bytes, &beta, d.y, y));
}

template <class T>
void conv2d_backward_data(cudnnHandle_t handle, const Conv2dShape& s, const T* gy, const T* w, T* gx, void* workspace,
                          std::size_t workspace_bytes, bool deterministic) {
  constexpr bool is_double = std::is_same_v<T, double>;
  if (is_empty(s)) return zero_output(handle, gx, sizeof(T) * std::size_t(s.n * s.c_in * s.h * s.w));
  const Choice c = lookup(handle, s, is_double, ConvPass::BackwardData, deterministic, workspace_bytes);
  ConvDescriptors d(s, is_double);
  d.set_math(c.math);
  const T alpha = 1, beta = 0;
  SPML_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &alpha, d.w, w, d.y, gy, d.conv,
                                                cudnnConvolutionBwdDataAlgo_t(c.algo), workspace, workspace_bytes,
                                                &beta, d.x, gx));
}

template <class T>
void conv2d_backward_filter(cudnnHandle_t handle, const Conv2dShape& s, const T* gy, const T* x, T* gw, void* workspace,
                            std::size_t workspace_bytes, bool deterministic) {
  constexpr bool is_double = std::is_same_v<T, double>;
  if (is_empty(s)) return zero_output(handle, gw, sizeof(T) * std::size_t(s.c_out * s.c_in * s.kh * s.kw));
  const Choice c = lookup(handle, s, is_double, ConvPass::BackwardFilter, deterministic, workspace_bytes);
  ConvDescriptors d(s, is_double);
  d.set_math(c.math);
  const T alpha = 1, beta = 0;  // beta = 0: gw is overwritten
  SPML_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &alpha, d.x, x, d.y, gy, d.conv,
                                                  cudnnConvolutionBwdFilterAlgo_t(c.algo), workspace, workspace_bytes,
                                                  &beta, d.w, gw));
}

#define SPML_INSTANTIATE_CONV(T)                                                                                       \
  template void conv2d_forward<T>(cudnnHandle_t, const Conv2dShape&, const T*, const T*, T*, void*, std::size_t,       \
                                  bool);                                                                               \
  template void conv2d_backward_data<T>(cudnnHandle_t, const Conv2dShape&, const T*, const T*, T*, void*, std::size_t, \
                                        bool);                                                                         \
  template void conv2d_backward_filter<T>(cudnnHandle_t, const Conv2dShape&, const T*, const T*, T*, void*,            \
                                          std::size_t, bool);
SPML_INSTANTIATE_CONV(float)
SPML_INSTANTIATE_CONV(double)
#undef SPML_INSTANTIATE_CONV

}  // namespace spml::kernels::cuda
