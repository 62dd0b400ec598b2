// GPU versions of the fused SPML loss (dev-spml-loss), each validated against the float64 reference and timed
// over a block-size sweep:
//   v1  production kernels::cuda::spml_loss: element kernel writing n element losses to a workspace, then a
//       deterministic reduce_sum over them (block size fixed at the production 256)
//   v2  one block per row: the row's loss sum by a block reduction, only B row sums hit memory, then one block
//       sums the B rows (2 launches, no n-element workspace)
//   v3  one warp per row: shuffles only, no shared memory or __syncthreads; for small C (80-312) a block per
//       row leaves most threads idle
//   v4  v3 with the final sum fused in: the last block to finish (atomic ticket) sums the row sums (1 launch)
// Every version sums in a fixed order for a fixed block size, so its loss is deterministic (no float atomics).
// v2-v4 cover the element-wise losses (GR, AN, ...); EPR and ROLE need a batch-wide row-sum pass first (v1 only).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "dev/kernels/common.h"
#include "dev/kernels/spml_loss.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::dev {
namespace {
using kernels::ElementLoss;
using kernels::LossKind;
using kernels::LossParams;

constexpr int kBlockSizes[] = {64, 128, 256, 512, 1024};
constexpr int kProductionBlock = 256;  // kernels/cuda/spml_losses.cu's launch size
constexpr int kFinishThreads = 256;
constexpr int64_t kMaxGrid = int64_t(1) << 16;

// Butterfly (xor) sum: every lane ends with the same total, in the same order on every run.
__device__ __forceinline__ double warp_sum(double x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// Block-wide sum (blockDim.x a multiple of 32, at most 1024); the total is valid in warp 0.
__device__ double block_sum(double x) {
  __shared__ double partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  x = warp_sum(x);
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  double total = 0;
  if (warp == 0) total = warp_sum(lane < warps ? partial[lane] : 0.0);
  __syncthreads();  // partial[] is reused by the next row of a grid-stride loop
  return total;
}

// z, y, dz: [B, C]; row_loss: [B] (float64: the row sums are what the mean is taken from).
__global__ void loss_block_per_row(LossKind kind, const float* z, const float* y, int64_t rows, int64_t cols,
                                   LossParams a, float inv_n, float* dz, double* row_loss) {
  for (int64_t b = blockIdx.x; b < rows; b += gridDim.x) {
    double acc = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const int64_t i = b * cols + c;
      const ElementLoss<float> e = kernels::spml_element(kind, z[i], y[i], a);
      dz[i] = e.dz * inv_n;
      acc += double(e.loss);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) row_loss[b] = acc;
  }
}

// The warp-per-row body shared by v3 and v4. z, y, dz: [B, C]; row_loss: [B].
__device__ void warp_rows(LossKind kind, const float* z, const float* y, int64_t rows, int64_t cols,
                          const LossParams& a, float inv_n, float* dz, double* row_loss) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t b = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; b < rows; b += warps) {
    double acc = 0;
    for (int64_t c = lane; c < cols; c += 32) {
      const int64_t i = b * cols + c;
      const ElementLoss<float> e = kernels::spml_element(kind, z[i], y[i], a);
      dz[i] = e.dz * inv_n;
      acc += double(e.loss);
    }
    acc = warp_sum(acc);
    if (lane == 0) row_loss[b] = acc;
  }
}

__global__ void loss_warp_per_row(LossKind kind, const float* z, const float* y, int64_t rows, int64_t cols,
                                  LossParams a, float inv_n, float* dz, double* row_loss) {
  warp_rows(kind, z, y, rows, cols, a, inv_n, dz, row_loss);
}

// Blocks of the current v4 launch that have finished; the last one resets it, so launches must not overlap
// (one stream in this study).
__device__ unsigned int g_blocks_done = 0;

// row_loss: [B] scratch; loss_out: device scalar.
__global__ void loss_warp_per_row_fused(LossKind kind, const float* z, const float* y, int64_t rows, int64_t cols,
                                        LossParams a, float inv_n, float* dz, double* row_loss, float* loss_out) {
  warp_rows(kind, z, y, rows, cols, a, inv_n, dz, row_loss);
  __shared__ bool last;
  __threadfence();  // this block's row sums are visible device-wide before its ticket is taken
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&g_blocks_done, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  double acc = 0;
  // __ldcg: through L2, never a stale L1 line of another block's write.
  for (int64_t b = threadIdx.x; b < rows; b += blockDim.x) acc += __ldcg(row_loss + b);
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    loss_out[0] = float(acc * double(inv_n));
    g_blocks_done = 0;
  }
}

// row_loss: [B]; loss_out: device scalar = sum / N. One block, fixed order.
__global__ void finish_mean(const double* row_loss, int64_t rows, double inv_n, float* loss_out) {
  double acc = 0;
  for (int64_t b = threadIdx.x; b < rows; b += blockDim.x) acc += row_loss[b];
  acc = block_sum(acc);
  if (threadIdx.x == 0) loss_out[0] = float(acc * inv_n);
}

// Device buffers of one problem: z, y, dz [B, C]; workspace for v1; row_loss [B]; the loss scalar.
struct Buffers {
  float *z = nullptr, *y = nullptr, *dz = nullptr, *loss = nullptr, *workspace = nullptr;
  double* row_loss = nullptr;
  cudaStream_t stream = nullptr;
  explicit Buffers(const LossProblem& p) {
    const std::size_t bytes = sizeof(float) * std::size_t(p.n());
    SPML_CUDA_CHECK(cudaStreamCreate(&stream));
    SPML_CUDA_CHECK(cudaMalloc(&z, bytes));
    SPML_CUDA_CHECK(cudaMalloc(&y, bytes));
    SPML_CUDA_CHECK(cudaMalloc(&dz, bytes));
    SPML_CUDA_CHECK(cudaMalloc(&loss, sizeof(float)));
    SPML_CUDA_CHECK(cudaMalloc(
        &workspace, sizeof(float) * std::size_t(kernels::cuda::spml_loss_workspace_elements(p.rows, p.cols))));
    SPML_CUDA_CHECK(cudaMalloc(&row_loss, sizeof(double) * std::size_t(p.rows)));
    SPML_CUDA_CHECK(cudaMemcpy(z, p.z.data(), bytes, cudaMemcpyHostToDevice));
    SPML_CUDA_CHECK(cudaMemcpy(y, p.y.data(), bytes, cudaMemcpyHostToDevice));
  }
  ~Buffers() {
    cudaFree(z), cudaFree(y), cudaFree(dz), cudaFree(loss), cudaFree(workspace), cudaFree(row_loss);
    cudaStreamDestroy(stream);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
};

struct Version {
  int id;
  const char* name;
};
constexpr Version kVersions[] = {{1, "v1"}, {2, "v2"}, {3, "v3"}, {4, "v4"}};

bool supports(int version, LossKind kind) {
  return version == 1 || (kind != LossKind::EPR && kind != LossKind::ROLE);
}

std::vector<int> block_sizes(int version) {
  if (version == 1) return {kProductionBlock};
  return std::vector<int>(std::begin(kBlockSizes), std::end(kBlockSizes));
}

void launch(int version, int block, const LossProblem& p, const LossCase& c, Buffers& d) {
  const int64_t n = p.n();
  const float inv_n = float(1.0 / double(n));
  LossParams a = c.params;
  a.num_classes = double(p.cols);  // what the production entry point sets (WAN needs it)
  switch (version) {
    case 1:
      kernels::cuda::spml_loss<float>(c.kind, d.z, d.y, nullptr, p.rows, p.cols, c.params, d.loss, d.dz, nullptr,
                                      d.workspace, d.stream);
      return;
    case 2: {
      const unsigned grid = unsigned(std::min(p.rows, kMaxGrid));
      loss_block_per_row<<<grid, block, 0, d.stream>>>(c.kind, d.z, d.y, p.rows, p.cols, a, inv_n, d.dz, d.row_loss);
      SPML_CUDA_CHECK_LAUNCH();
      finish_mean<<<1, kFinishThreads, 0, d.stream>>>(d.row_loss, p.rows, 1.0 / double(n), d.loss);
      SPML_CUDA_CHECK_LAUNCH();
      return;
    }
    case 3:
    case 4: {
      const int64_t rows_per_block = block / 32;
      const unsigned grid = unsigned(std::min((p.rows + rows_per_block - 1) / rows_per_block, kMaxGrid));
      if (version == 3) {
        loss_warp_per_row<<<grid, block, 0, d.stream>>>(c.kind, d.z, d.y, p.rows, p.cols, a, inv_n, d.dz, d.row_loss);
        SPML_CUDA_CHECK_LAUNCH();
        finish_mean<<<1, kFinishThreads, 0, d.stream>>>(d.row_loss, p.rows, 1.0 / double(n), d.loss);
      } else {
        loss_warp_per_row_fused<<<grid, block, 0, d.stream>>>(c.kind, d.z, d.y, p.rows, p.cols, a, inv_n, d.dz,
                                                              d.row_loss, d.loss);
      }
      SPML_CUDA_CHECK_LAUNCH();
      return;
    }
  }
}

bool wanted(int version, int selected) {
  return selected == 0 || selected == version;
}
}  // namespace

bool gpu_validate(const LossProblem& p, const LossCase& c, const LossReference& ref, int selected) {
  Buffers d(p);
  std::vector<float> dz(std::size_t(p.n()));
  bool all_ok = true;
  for (const Version& v : kVersions) {
    if (!wanted(v.id, selected)) continue;
    if (!supports(v.id, c.kind)) {
      std::printf("validate gpu  %-4s %-6s not implemented (needs the batch row-sum pass): skipped\n", v.name,
                  c.name.c_str());
      continue;
    }
    ErrorStats worst;
    double worst_loss = 0;
    bool ok = true;
    for (int block : block_sizes(v.id)) {
      // NaN-fill dz (all bits set) so an element a version forgets to write fails the check.
      SPML_CUDA_CHECK(cudaMemsetAsync(d.dz, 0xff, sizeof(float) * std::size_t(p.n()), d.stream));
      SPML_CUDA_CHECK(cudaMemsetAsync(d.loss, 0xff, sizeof(float), d.stream));
      launch(v.id, block, p, c, d);
      float loss = 0;
      SPML_CUDA_CHECK(cudaMemcpyAsync(&loss, d.loss, sizeof(float), cudaMemcpyDeviceToHost, d.stream));
      SPML_CUDA_CHECK(
          cudaMemcpyAsync(dz.data(), d.dz, sizeof(float) * std::size_t(p.n()), cudaMemcpyDeviceToHost, d.stream));
      SPML_CUDA_CHECK(cudaStreamSynchronize(d.stream));
      const double loss_err = std::isfinite(loss) ? relative_error(loss, ref.loss) : INFINITY;
      const ErrorStats s = compare(ref.dz.data(), dz.data(), p.n());
      ok = ok && loss_err <= kLossTol && s.ok(c.grad_tol);
      worst.merge(s);
      worst_loss = std::max(worst_loss, loss_err);
    }
    std::printf(
        "validate gpu  %-4s %-6s loss rel err %.1e  dz max abs %.1e = %.1e x max |dz| (tol %.0e), max rel "
        "%.1e  %s  (worst of %zu block sizes)\n",
        v.name, c.name.c_str(), worst_loss, worst.max_abs, worst.max_abs / std::max(worst.scale, 1e-300), c.grad_tol,
        worst.max_rel, ok ? "ok" : "MISMATCH", block_sizes(v.id).size());
    all_ok = all_ok && ok;
  }
  return all_ok;
}

void gpu_bench(const LossProblem& p, const LossCase& c, int selected, int reps) {
  Buffers d(p);
  int device = 0;
  SPML_CUDA_CHECK(cudaGetDevice(&device));
  const double peak = device_info(device).peak_gbs;
  const double bytes = loss_bytes(p);
  for (const Version& v : kVersions) {
    if (!wanted(v.id, selected) || !supports(v.id, c.kind)) continue;
    for (int block : block_sizes(v.id)) {
      const double ms = gpu_median_ms([&] { launch(v.id, block, p, c, d); }, reps, d.stream);
      const double gbs = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-5s %-8s %-6s %6lld %6lld %6d %11.2f %9.1f %7s\n", "gpu", v.name, c.name.c_str(),
                  static_cast<long long>(p.rows), static_cast<long long>(p.cols), block, ms * 1e3, gbs,
                  percent_of_peak(gbs, peak).c_str());
    }
  }
}

}  // namespace spml::dev
