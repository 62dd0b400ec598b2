// GPU versions of the Adam step (dev-adam), each validated against the float64 reference and timed over a
// block-size sweep:
//   v1  production kernels::cuda::adam_step_multi: one launch for the whole group, 1024-element chunks per block,
//       the block's tensor found by binary search in a table passed as a kernel parameter (block size fixed, 256)
//   v2  one plain grid-stride launch per tensor (what a per-tensor optimizer does)
//   v3  v2 with float4 loads and stores (16-byte transactions, 4x fewer load instructions), scalar tail
// All three call kernels::adam_update per element, so they compute the same bits; only the memory access and the
// launch count differ. The step is memory-bound: 28 bytes per parameter against a few flops.
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "dev/kernels/adam.h"
#include "dev/kernels/common.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::dev {
namespace {
using kernels::AdamParams;

constexpr int kBlockSizes[] = {64, 128, 256, 512, 1024};
constexpr int kProductionBlock = 256;  // kernels/cuda/optim.cu's launch size
constexpr int64_t kMaxGrid = int64_t(1) << 16;

// p, g, m, v: [n]
__global__ void adam_grid_stride(float* p, const float* g, float* m, float* v, int64_t n, AdamParams a) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    kernels::adam_update(p[i], g[i], m[i], v[i], a);
}

// p, g, m, v: [n], 16-byte aligned (checked by the launcher); elements past the last whole float4 are scalar.
__global__ void adam_float4(float* p, const float* g, float* m, float* v, int64_t n, AdamParams a) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, n4 = n / 4;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  float4* p4 = reinterpret_cast<float4*>(p);
  float4* m4 = reinterpret_cast<float4*>(m);
  float4* v4 = reinterpret_cast<float4*>(v);
  const float4* g4 = reinterpret_cast<const float4*>(g);
  for (int64_t i = first; i < n4; i += stride) {
    float4 pp = p4[i], mm = m4[i], vv = v4[i];
    const float4 gg = g4[i];
    kernels::adam_update(pp.x, gg.x, mm.x, vv.x, a);
    kernels::adam_update(pp.y, gg.y, mm.y, vv.y, a);
    kernels::adam_update(pp.z, gg.z, mm.z, vv.z, a);
    kernels::adam_update(pp.w, gg.w, mm.w, vv.w, a);
    p4[i] = pp, m4[i] = mm, v4[i] = vv;
  }
  for (int64_t i = n4 * 4 + first; i < n; i += stride) kernels::adam_update(p[i], g[i], m[i], v[i], a);
}

// Flat device buffers p, g, m, v: [total], the problem's tensors at its offsets.
struct Buffers {
  float *p = nullptr, *g = nullptr, *m = nullptr, *v = nullptr;
  cudaStream_t stream = nullptr;
  const AdamProblem& pr;
  explicit Buffers(const AdamProblem& problem) : pr(problem) {
    const std::size_t bytes = sizeof(float) * std::size_t(pr.total);
    SPML_CUDA_CHECK(cudaStreamCreate(&stream));
    for (float** b : {&p, &g, &m, &v}) SPML_CUDA_CHECK(cudaMalloc(b, bytes));
    reset();
  }
  // The inputs again (every version updates in place).
  void reset() {
    const std::size_t bytes = sizeof(float) * std::size_t(pr.total);
    SPML_CUDA_CHECK(cudaMemcpyAsync(p, pr.p.data(), bytes, cudaMemcpyHostToDevice, stream));
    SPML_CUDA_CHECK(cudaMemcpyAsync(g, pr.g.data(), bytes, cudaMemcpyHostToDevice, stream));
    SPML_CUDA_CHECK(cudaMemcpyAsync(m, pr.m.data(), bytes, cudaMemcpyHostToDevice, stream));
    SPML_CUDA_CHECK(cudaMemcpyAsync(v, pr.v.data(), bytes, cudaMemcpyHostToDevice, stream));
    SPML_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  ~Buffers() {
    cudaFree(p), cudaFree(g), cudaFree(m), cudaFree(v);
    cudaStreamDestroy(stream);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
};

std::vector<int> block_sizes(int version) {
  if (version == 1) return {kProductionBlock};
  return std::vector<int>(std::begin(kBlockSizes), std::end(kBlockSizes));
}

void launch(int version, int block, Buffers& d) {
  const AdamProblem& pr = d.pr;
  if (version == 1) {
    std::vector<kernels::cuda::AdamTensor<float>> list;
    for (std::size_t t = 0; t < pr.size.size(); ++t) {
      const int64_t o = pr.offset[t];
      list.push_back(
          {d.p + o, d.g + o, d.m + o, d.v + o, pr.size[t], pr.params.bias_correction1, pr.params.bias_correction2});
    }
    kernels::cuda::adam_step_multi<float>(list, pr.params, d.stream);
    return;
  }
  for (std::size_t t = 0; t < pr.size.size(); ++t) {
    const int64_t o = pr.offset[t], n = pr.size[t];
    const int64_t work = version == 3 ? std::max<int64_t>(n / 4, 1) : n;
    const unsigned grid = unsigned(std::min((work + block - 1) / block, kMaxGrid));
    if (version == 2) {
      adam_grid_stride<<<grid, block, 0, d.stream>>>(d.p + o, d.g + o, d.m + o, d.v + o, n, pr.params);
    } else {
      // The problem's offsets are multiples of 4 floats and cudaMalloc aligns to 256 bytes.
      adam_float4<<<grid, block, 0, d.stream>>>(d.p + o, d.g + o, d.m + o, d.v + o, n, pr.params);
    }
    SPML_CUDA_CHECK_LAUNCH();
  }
}

bool wanted(int version, int selected) {
  return selected == 0 || selected == version;
}
const char* version_name(int version) {
  static const char* names[] = {"v0", "v1", "v2", "v3"};
  return names[version];
}
}  // namespace

bool gpu_validate(const AdamProblem& pr, const AdamReference& ref, int selected) {
  Buffers d(pr);
  std::vector<float> p(std::size_t(pr.total)), m(p.size()), v(p.size());
  bool all_ok = true;
  for (int version = 1; version <= 3; ++version) {
    if (!wanted(version, selected)) continue;
    for (int block : block_sizes(version)) {
      d.reset();
      launch(version, block, d);
      const std::size_t bytes = sizeof(float) * p.size();
      SPML_CUDA_CHECK(cudaMemcpyAsync(p.data(), d.p, bytes, cudaMemcpyDeviceToHost, d.stream));
      SPML_CUDA_CHECK(cudaMemcpyAsync(m.data(), d.m, bytes, cudaMemcpyDeviceToHost, d.stream));
      SPML_CUDA_CHECK(cudaMemcpyAsync(v.data(), d.v, bytes, cudaMemcpyDeviceToHost, d.stream));
      SPML_CUDA_CHECK(cudaStreamSynchronize(d.stream));
      char note[32];
      std::snprintf(note, sizeof(note), "  (block %d)", block);
      all_ok = check_step("gpu", version_name(version), pr, ref, p.data(), m.data(), v.data(), note) && all_ok;
    }
  }
  return all_ok;
}

void gpu_bench(const AdamProblem& pr, int selected, int reps) {
  Buffers d(pr);
  int device = 0;
  SPML_CUDA_CHECK(cudaGetDevice(&device));
  const double peak = device_info(device).peak_gbs;
  const double bytes = kAdamBytesPerParam * double(pr.params_count());
  for (int version = 1; version <= 3; ++version) {
    if (!wanted(version, selected)) continue;
    for (int block : block_sizes(version)) {
      const double ms = gpu_median_ms([&] { launch(version, block, d); }, reps, d.stream);
      const double gbs = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-5s %-8s %-8s %10lld %5zu %6d %11.2f %9.1f %7s\n", "gpu", version_name(version), pr.name.c_str(),
                  static_cast<long long>(pr.params_count()), pr.size.size(), block, ms * 1e3, gbs,
                  percent_of_peak(gbs, peak).c_str());
    }
  }
}

}  // namespace spml::dev
