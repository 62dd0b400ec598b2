// 2-D convolution through cuDNN's legacy API (cudnnConvolutionForward / BackwardData / BackwardFilter, still
// shipped by cuDNN 9 in libcudnn_cnn). Descriptors are built per call (host-only, cheap); the acceptable algorithms of
// each (shape, dtype, pass, deterministic, FFT/Winograd exclusion, device) are ranked once from cuDNN's heuristics
// (cudnnGet*Algorithm_v7) and cached process-wide. Float runs with CUDNN_FMA_MATH (no TF32) and double with the
// default or FMA math (never tensor-op math), so results stay close to the CPU reference. An algorithm that fails to
// run (NOT_SUPPORTED or EXECUTION_FAILED) is dropped and the next one runs, as PyTorch does; when no cuDNN algorithm
// runs a float64 convolution, im2col + cuBLAS GEMM does (conv_im2col.cu).
#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "kernels/common/candidate_fallback.h"
#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::kernels::cuda {
namespace {

std::atomic<bool> g_exclude_fft_winograd{false};
std::atomic<bool> g_force_im2col{false};

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

// The pseudo-algorithm of the float64 fallback (and of force_im2col): im2col + cuBLAS GEMM.
constexpr int kIm2colAlgo = -1;

const char* algo_name(ConvPass pass, int algo) {
  if (algo == kIm2colAlgo) return "im2col + GEMM";
  static const char* const forward[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
                                        "WINOGRAD",      "WINOGRAD_NONFUSED"};
  static const char* const backward_data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* const backward_filter[] = {"ALGO_0",    "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED",
                                                "FFT_TILING"};
  switch (pass) {
    case ConvPass::Forward:
      if (algo >= 0 && algo < CUDNN_CONVOLUTION_FWD_ALGO_COUNT) return forward[algo];
      break;
    case ConvPass::BackwardData:
      if (algo >= 0 && algo < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT) return backward_data[algo];
      break;
    case ConvPass::BackwardFilter:
      if (algo >= 0 && algo < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT) return backward_filter[algo];
      break;
  }
  return "unknown algorithm";
}

// FFT and Winograd algorithms transform the operands, and their float error (near 2e-4 of the values' scale) is the
// largest of cuDNN's: deterministic mode and parity runs do without them.
bool is_fft_or_winograd(ConvPass pass, int algo) {
  switch (pass) {
    case ConvPass::Forward:
      return algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT || algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    case ConvPass::BackwardData:
      return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
    case ConvPass::BackwardFilter:
      return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
             algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
  }
  return false;
}

// A status after which another algorithm may still run: the configuration is not supported by this engine, or the
// engine failed to execute. cuDNN 9 reports sub-codes within each category (CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3002,
// CUDNN_STATUS_EXECUTION_FAILED_CUDART = 5003, ...); earlier versions have only the two plain codes.
bool is_retryable(cudnnStatus_t status) {
#ifdef CUDNN_STATUS_CATEGORY
  const int category = CUDNN_STATUS_CATEGORY(int(status));
  return category == int(CUDNN_STATUS_NOT_SUPPORTED) || category == int(CUDNN_STATUS_EXECUTION_FAILED);
#else
  return status == CUDNN_STATUS_NOT_SUPPORTED || status == CUDNN_STATUS_EXECUTION_FAILED;
#endif
}

std::string status_text(cudnnStatus_t status) {
  return std::string(cudnnGetErrorString(status)) + " (" + std::to_string(int(status)) + ")";
}

// The math type the heuristics are asked with: FMA for float (Ampere and later would otherwise be free to use TF32),
// the default for double.
cudnnMathType_t requested_math(bool is_double) {
  return is_double ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// Whether a candidate proposed with `math` keeps it: float only with FMA math, double with the default or FMA math.
bool allowed_math(bool is_double, cudnnMathType_t math) {
  return math == CUDNN_FMA_MATH || (is_double && math == CUDNN_DEFAULT_MATH);
}

struct Choice {
  int algo;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t, or kIm2colAlgo
  cudnnMathType_t math;
  std::size_t bytes;  // workspace
};

// The acceptable algorithms of one key, in cuDNN's ranking (best expected performance first). An algorithm that failed
// to run leaves `usable` for good and is named in `failed`.
struct Plan {
  std::vector<Choice> usable;
  std::string rejected;            // why the other candidates were not acceptable ("; NAME: reason" each)
  std::string failed;              // the algorithms that failed to run, with their status
  std::size_t prepared_limit = 0;  // the workspace limit of the last conv2d_prepare: a fallback may use up to it
};

// shape, double, pass, deterministic, FFT/Winograd excluded, device
using Key = std::tuple<std::array<int64_t, 13>, bool, int, bool, bool, int>;

Key make_key(const Conv2dShape& s, bool is_double, ConvPass pass, bool deterministic) {
  int device = 0;
  SPML_CUDA_CHECK(cudaGetDevice(&device));
  return Key{{s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.h_out, s.w_out},
             is_double,
             int(pass),
             deterministic,
             g_exclude_fft_winograd.load(),
             device};
}

std::mutex g_cache_mutex;  // guards cache() and every Plan in it
std::map<Key, Plan>& cache() {
  static std::map<Key, Plan> plans;
  return plans;
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

// The workspace the algorithm needs with the descriptors as they are (math type included); the status is not
// SUCCESS when cuDNN does not support the algorithm for them.
cudnnStatus_t workspace_size(cudnnHandle_t handle, const ConvDescriptors& d, ConvPass pass, int algo,
                             std::size_t& bytes) {
  switch (pass) {
    case ConvPass::Forward:
      return cudnnGetConvolutionForwardWorkspaceSize(handle, d.x, d.w, d.conv, d.y, cudnnConvolutionFwdAlgo_t(algo),
                                                     &bytes);
    case ConvPass::BackwardData:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, d.w, d.y, d.conv, d.x,
                                                          cudnnConvolutionBwdDataAlgo_t(algo), &bytes);
    case ConvPass::BackwardFilter:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, d.x, d.y, d.conv, d.w,
                                                            cudnnConvolutionBwdFilterAlgo_t(algo), &bytes);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

// The acceptable heuristic candidates, each algorithm once, in cuDNN's ranking with those proposed for an allowed math
// type first: cuDNN succeeded for it, deterministic when asked, no FFT or Winograd when excluded, and a workspace size
// for the math type it will run with. Candidates proposed with tensor-op math run with the requested math instead.
Plan build_plan(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass, bool deterministic) {
  ConvDescriptors d(s, is_double);
  const cudnnMathType_t wanted = requested_math(is_double);
  d.set_math(wanted);
  std::vector<Candidate> candidates = heuristic_candidates(handle, d, pass);
  std::stable_partition(candidates.begin(), candidates.end(),
                        [&](const Candidate& c) { return allowed_math(is_double, c.math); });
  const bool exclude = deterministic || g_exclude_fft_winograd.load();
  Plan plan;
  std::vector<int> seen;
  std::ostringstream rejected;
  for (const Candidate& c : candidates) {
    // Each algorithm once: a later entry proposes it with another math type, which it would not run with anyway.
    if (std::find(seen.begin(), seen.end(), c.algo) != seen.end()) continue;
    seen.push_back(c.algo);
    const char* name = algo_name(pass, c.algo);
    if (c.status != CUDNN_STATUS_SUCCESS) {
      rejected << "; " << name << ": " << status_text(c.status);
      continue;
    }
    if (deterministic && c.determinism != CUDNN_DETERMINISTIC) {
      rejected << "; " << name << ": not deterministic";
      continue;
    }
    if (exclude && is_fft_or_winograd(pass, c.algo)) {
      rejected << "; " << name << ": FFT/Winograd excluded";
      continue;
    }
    const cudnnMathType_t math = allowed_math(is_double, c.math) ? c.math : wanted;
    d.set_math(math);
    std::size_t bytes = 0;
    const cudnnStatus_t status = workspace_size(handle, d, pass, c.algo, bytes);
    if (status != CUDNN_STATUS_SUCCESS) {
      rejected << "; " << name << ": no workspace size (" << status_text(status) << ")";
      continue;
    }
    plan.usable.push_back(Choice{c.algo, math, bytes});
  }
  plan.rejected = rejected.str();
  return plan;
}

// The key's plan, built on first use. The caller holds g_cache_mutex.
Plan& plan_for(cudnnHandle_t handle, const Key& key, const Conv2dShape& s, bool is_double, ConvPass pass,
               bool deterministic) {
  auto it = cache().find(key);
  if (it == cache().end()) it = cache().emplace(key, build_plan(handle, s, is_double, pass, deterministic)).first;
  return it->second;
}

// "(deterministic only, without FFT/Winograd)": the settings a plan was built under, for messages.
std::string settings_text(bool deterministic) {
  std::string out;
  if (deterministic) out += "deterministic only";
  if (!deterministic && g_exclude_fft_winograd.load()) out += "without FFT/Winograd";
  return out.empty() ? "" : " (" + out + ")";
}

// Everything the plan knows about why algorithms are missing, for messages ("" when nothing was rejected).
std::string plan_text(const Plan& plan, ConvPass pass, std::size_t limit) {
  std::ostringstream out;
  for (const Choice& c : plan.usable)
    if (c.bytes > limit) out << "; " << algo_name(pass, c.algo) << ": needs " << c.bytes << " bytes";
  out << plan.rejected << plan.failed;
  return out.str();
}

// Drops an algorithm that failed to run from its key's plan, so later calls and conv2d_prepare skip it.
void mark_failed(const Key& key, ConvPass pass, int algo, const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = cache().find(key);
  if (it == cache().end()) return;
  Plan& plan = it->second;
  plan.usable.erase(
      std::remove_if(plan.usable.begin(), plan.usable.end(), [&](const Choice& c) { return c.algo == algo; }),
      plan.usable.end());
  plan.failed += "; " + std::string(algo_name(pass, algo)) + ": failed to run, " + reason;
}

// The workspace of one attempt: the caller's when it is large enough, otherwise a stream-ordered allocation of its
// own, freed in stream order after the call. Only a fallback candidate can need more than conv2d_prepare asked for;
// conv2d_prepare then returns its size, and the caller's buffer grows for the next call.
class AttemptWorkspace {
 public:
  AttemptWorkspace(void* given, std::size_t given_bytes, cudaStream_t stream)
      : given_(given), given_bytes_(given_bytes), stream_(stream) {}
  ~AttemptWorkspace() {
    if (owned_ != nullptr) (void)cudaFreeAsync(owned_, stream_);  // destructors must not throw
  }
  AttemptWorkspace(const AttemptWorkspace&) = delete;
  AttemptWorkspace& operator=(const AttemptWorkspace&) = delete;

  // False when `bytes` exceed the caller's buffer and the device is out of memory for them (another candidate may
  // need less): that error is cleared and named in error(). Any other error is thrown.
  bool reserve(std::size_t bytes) {
    if (bytes <= given_bytes_) return true;
    const cudaError_t status = cudaMallocAsync(&owned_, bytes, stream_);
    if (status == cudaSuccess) {
      owned_bytes_ = bytes;
      return true;
    }
    owned_ = nullptr;
    if (status != cudaErrorMemoryAllocation) SPML_CUDA_CHECK(status);
    (void)cudaGetLastError();
    error_ = "needs " + std::to_string(bytes) + " bytes of workspace, " + std::to_string(given_bytes_) +
             " given, allocating them failed: " + cudaGetErrorString(status);
    return false;
  }
  void* data() const { return owned_ != nullptr ? owned_ : given_; }
  std::size_t bytes() const { return owned_ != nullptr ? owned_bytes_ : given_bytes_; }
  const std::string& error() const { return error_; }

 private:
  void* given_;
  std::size_t given_bytes_;
  cudaStream_t stream_;
  void* owned_ = nullptr;
  std::size_t owned_bytes_ = 0;
  std::string error_;
};

// After an engine failed: an error it left behind in the runtime that is not sticky (a launch it could not configure)
// is cleared, so a later launch check does not report it against another kernel, and returned for the message. A
// sticky error (a device fault: the context is unusable) or a fault pending on the stream is thrown: another
// algorithm cannot fix it, and retrying would hide it.
std::string clear_engine_error(cudaStream_t stream, const std::string& what) {
  const cudaError_t last = cudaGetLastError();
  cudaError_t fault = cudaPeekAtLastError();  // still set after cudaGetLastError only when sticky
  if (fault == cudaSuccess) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    // Waiting for the stream (a rare path) surfaces a fault of the failed engine's kernels that has not been
    // reported yet. Not while the stream is being captured: a capture has executed nothing, and waiting would end it.
    if (cudaStreamIsCapturing(stream, &capture) == cudaSuccess && capture == cudaStreamCaptureStatusNone)
      fault = cudaStreamSynchronize(stream);
  }
  if (fault != cudaSuccess)
    throw_cuda_error((what + ": the device faulted, not retrying another algorithm").c_str(), int(fault),
                     cudaGetErrorString(fault), __FILE__, __LINE__);
  return last == cudaSuccess ? "" : std::string(", leaving CUDA error ") + cudaGetErrorString(last);
}

// Zeroes `bytes` of device memory on the handle's stream (the output of a pass over an empty tensor).
void zero_output(cudnnHandle_t handle, void* out, std::size_t bytes) {
  if (bytes == 0) return;
  cudaStream_t stream = nullptr;
  SPML_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  SPML_CUDA_CHECK(cudaMemsetAsync(out, 0, bytes, stream));
}

// One pass with the algorithm fallback. The candidates, in order: the plan's algorithms whose workspace fits the
// caller's buffer (the first is conv2d_prepare's choice), then those that fit the prepared limit (with a workspace of
// their own), then, for double, im2col + GEMM. run_cudnn(descriptors, algo, workspace, bytes) returns cuDNN's status;
// run_im2col(stream, workspace) queues the fallback. Under force_im2col only the latter runs.
template <class T, class RunCudnn, class RunIm2col>
void run_pass(cudnnHandle_t handle, const Conv2dShape& s, ConvPass pass, bool deterministic, void* workspace,
              std::size_t workspace_bytes, const char* api, RunCudnn&& run_cudnn, RunIm2col&& run_im2col) {
  constexpr bool is_double = std::is_same_v<T, double>;
  cudaStream_t stream = nullptr;
  SPML_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  const Choice im2col{kIm2colAlgo, CUDNN_DEFAULT_MATH, conv2d_im2col_workspace_bytes(s, sizeof(T))};
  std::vector<Choice> attempts;
  Key key;
  std::size_t failed_before = 0;  // plan.failed's length before this call: the failures of earlier calls
  const bool forced = g_force_im2col.load();
  if (forced) {
    attempts.push_back(im2col);
  } else {
    key = make_key(s, is_double, pass, deterministic);
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    const Plan& plan = plan_for(handle, key, s, is_double, pass, deterministic);
    failed_before = plan.failed.size();
    for (const Choice& c : plan.usable)
      if (c.bytes <= workspace_bytes) attempts.push_back(c);
    for (const Choice& c : plan.usable)
      if (c.bytes > workspace_bytes && c.bytes <= plan.prepared_limit) attempts.push_back(c);
    if (is_double) attempts.push_back(im2col);
  }
  ConvDescriptors d(s, is_double);
  const auto attempt = [&](const Choice& c) -> AttemptResult {
    AttemptWorkspace scratch(workspace, workspace_bytes, stream);
    if (!scratch.reserve(c.bytes)) return AttemptResult::try_next(scratch.error());
    if (c.algo == kIm2colAlgo) {
      run_im2col(stream, scratch.data());
      return AttemptResult::success();
    }
    d.set_math(c.math);
    const cudnnStatus_t status = run_cudnn(d, c.algo, scratch.data(), scratch.bytes());
    if (status == CUDNN_STATUS_SUCCESS) {
      check_cudnn(status, api, __FILE__, __LINE__);  // only the SPML_CUDA_SYNC_CHECK wait
      return AttemptResult::success();
    }
    if (!is_retryable(status)) check_cudnn(status, api, __FILE__, __LINE__);  // throws: bad parameters and the like
    const std::string reason = status_text(status) + clear_engine_error(stream, api);
    mark_failed(key, pass, c.algo, reason);
    return AttemptResult::try_next(reason);
  };
  const auto name = [&](const Choice& c) { return algo_name(pass, c.algo); };
  const auto context = [&] {
    std::ostringstream out;
    out << "conv2d (cuDNN): no " << pass_name(pass) << " algorithm ran for " << describe(s, is_double)
        << settings_text(deterministic) << " with " << workspace_bytes << " bytes of workspace";
    if (!forced) {
      std::lock_guard<std::mutex> lock(g_cache_mutex);
      auto it = cache().find(key);
      if (it != cache().end()) {
        const Plan& plan = it->second;
        std::ostringstream others;  // the candidates not tried, and why
        for (const Choice& c : plan.usable)
          if (c.bytes > std::max(workspace_bytes, plan.prepared_limit))
            others << "; " << algo_name(pass, c.algo) << ": needs " << c.bytes << " bytes";
        others << plan.rejected << plan.failed.substr(0, failed_before);
        if (!others.str().empty()) out << " (not tried" << others.str() << ")";
      }
    }
    return out.str();
  };
  run_first_that_works(attempts, attempt, name, context);
}

}  // namespace

void set_conv_exclude_fft_winograd(bool exclude) {
  g_exclude_fft_winograd = exclude;
}
bool conv_exclude_fft_winograd() {
  return g_exclude_fft_winograd.load();
}
void set_conv_force_im2col(bool force) {
  g_force_im2col = force;
}
bool conv_force_im2col() {
  return g_force_im2col.load();
}

std::size_t conv2d_prepare(cudnnHandle_t handle, const Conv2dShape& s, bool is_double, ConvPass pass,
                           bool deterministic, std::size_t workspace_limit) {
  if (is_empty(s)) return 0;
  const std::size_t im2col_bytes = conv2d_im2col_workspace_bytes(s, is_double ? sizeof(double) : sizeof(float));
  if (g_force_im2col.load()) return im2col_bytes;
  const Key key = make_key(s, is_double, pass, deterministic);
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  Plan& plan = plan_for(handle, key, s, is_double, pass, deterministic);
  plan.prepared_limit = workspace_limit;
  for (const Choice& c : plan.usable)
    if (c.bytes <= workspace_limit) return c.bytes;
  if (is_double && im2col_bytes <= workspace_limit) return im2col_bytes;  // no cuDNN algorithm: im2col + GEMM
  const std::string known = plan_text(plan, pass, workspace_limit);
  SPML_FAIL("conv2d (cuDNN): no ", pass_name(pass), " algorithm for ", describe(s, is_double),
            settings_text(deterministic), " with a workspace limit of ", workspace_limit, " bytes",
            known.empty() ? "; cuDNN proposed none" : known,
            is_double ? "; im2col + GEMM needs " + std::to_string(im2col_bytes) + " bytes" : "");
}

template <class T>
void conv2d_forward(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* x, const T* w, T* y,
                    void* workspace, std::size_t workspace_bytes, bool deterministic) {
  if (is_empty(s)) return zero_output(handle, y, sizeof(T) * std::size_t(s.n * s.c_out * s.h_out * s.w_out));
  const T alpha = 1, beta = 0;
  run_pass<T>(
      handle, s, ConvPass::Forward, deterministic, workspace, workspace_bytes, "cudnnConvolutionForward",
      [&](const ConvDescriptors& d, int algo, void* ws, std::size_t bytes) {
        return cudnnConvolutionForward(handle, &alpha, d.x, x, d.w, w, d.conv, cudnnConvolutionFwdAlgo_t(algo), ws,
                                       bytes, &beta, d.y, y);
      },
      [&](cudaStream_t stream, void* ws) { conv2d_im2col_forward(blas, stream, s, x, w, y, ws); });
}

template <class T>
void conv2d_backward_data(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* gy, const T* w,
                          T* gx, void* workspace, std::size_t workspace_bytes, bool deterministic) {
  if (is_empty(s)) return zero_output(handle, gx, sizeof(T) * std::size_t(s.n * s.c_in * s.h * s.w));
  const T alpha = 1, beta = 0;
  run_pass<T>(
      handle, s, ConvPass::BackwardData, deterministic, workspace, workspace_bytes, "cudnnConvolutionBackwardData",
      [&](const ConvDescriptors& d, int algo, void* ws, std::size_t bytes) {
        return cudnnConvolutionBackwardData(handle, &alpha, d.w, w, d.y, gy, d.conv,
                                            cudnnConvolutionBwdDataAlgo_t(algo), ws, bytes, &beta, d.x, gx);
      },
      [&](cudaStream_t stream, void* ws) { conv2d_im2col_backward_data(blas, stream, s, gy, w, gx, ws); });
}

template <class T>
void conv2d_backward_filter(cudnnHandle_t handle, cublasHandle_t blas, const Conv2dShape& s, const T* gy, const T* x,
                            T* gw, void* workspace, std::size_t workspace_bytes, bool deterministic) {
  if (is_empty(s)) return zero_output(handle, gw, sizeof(T) * std::size_t(s.c_out * s.c_in * s.kh * s.kw));
  const T alpha = 1, beta = 0;  // beta = 0: gw is overwritten
  run_pass<T>(
      handle, s, ConvPass::BackwardFilter, deterministic, workspace, workspace_bytes, "cudnnConvolutionBackwardFilter",
      [&](const ConvDescriptors& d, int algo, void* ws, std::size_t bytes) {
        return cudnnConvolutionBackwardFilter(handle, &alpha, d.x, x, d.y, gy, d.conv,
                                              cudnnConvolutionBwdFilterAlgo_t(algo), ws, bytes, &beta, d.w, gw);
      },
      [&](cudaStream_t stream, void* ws) { conv2d_im2col_backward_filter(blas, stream, s, gy, x, gw, ws); });
}

#define SPML_INSTANTIATE_CONV(T)                                                                                     \
  template void conv2d_forward<T>(cudnnHandle_t, cublasHandle_t, const Conv2dShape&, const T*, const T*, T*, void*,  \
                                  std::size_t, bool);                                                                \
  template void conv2d_backward_data<T>(cudnnHandle_t, cublasHandle_t, const Conv2dShape&, const T*, const T*, T*,   \
                                        void*, std::size_t, bool);                                                   \
  template void conv2d_backward_filter<T>(cudnnHandle_t, cublasHandle_t, const Conv2dShape&, const T*, const T*, T*, \
                                          void*, std::size_t, bool);
SPML_INSTANTIATE_CONV(float)
SPML_INSTANTIATE_CONV(double)
#undef SPML_INSTANTIATE_CONV

}  // namespace spml::kernels::cuda
