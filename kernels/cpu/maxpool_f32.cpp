// Vectorised float32 max pooling (forward, NCHW) for the fast CPU kernel set (onednn_kernels.h), with the reference
// kernel's exact semantics: the window is scanned row by row, a later value wins only when strictly greater or
// when it is NaN and the best is not (ties keep the first position, NaN wins), and argmax holds iy * w + ix.
// Outputs whose window lies inside the image go through loops over the output row that the compiler vectorises
// (AVX-512, AVX2 and baseline clones); border outputs use the shared per-window function.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/common/pool_math.h"
#include "kernels/common/vector_math.h"  // SPML_CPU_SIMD_CLONES
#include "kernels/cpu/onednn_kernels.h"

namespace spml::kernels::onednn {
namespace {
// One plane. best / where: scratch rows of w_out.
SPML_CPU_SIMD_CLONES void pool_plane(const Pool2dShape& s, const float* plane, float* y, int64_t* argmax, float* best,
                                     int32_t* where) {
  // Interior columns: ox with 0 <= ox * sw - pw and ox * sw - pw + kw <= w.
  const int64_t ox_lo = std::min(s.w_out, (s.pad_w + s.stride_w - 1) / s.stride_w);
  const int64_t ox_hi =
      s.w + s.pad_w < s.kw ? ox_lo : std::max(ox_lo, std::min(s.w_out, (s.w + s.pad_w - s.kw) / s.stride_w + 1));
  for (int64_t oy = 0; oy < s.h_out; ++oy) {
    float* __restrict yrow = y + oy * s.w_out;
    int64_t* __restrict arow = argmax + oy * s.w_out;
    const int64_t iy0 = oy * s.stride_h - s.pad_h;
    const bool rows_inside = iy0 >= 0 && iy0 + s.kh <= s.h;
    if (!rows_inside || ox_hi <= ox_lo) {
      for (int64_t ox = 0; ox < s.w_out; ++ox) {
        const WindowMax<float> m = max_pool_window(s, plane, oy, ox);
        yrow[ox] = m.value;
        arow[ox] = m.at;
      }
      continue;
    }
    for (int64_t ox = 0; ox < ox_lo; ++ox) {
      const WindowMax<float> m = max_pool_window(s, plane, oy, ox);
      yrow[ox] = m.value;
      arow[ox] = m.at;
    }
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      const float* __restrict row = plane + (iy0 + ky) * s.w;
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const int32_t offset = int32_t((iy0 + ky) * s.w + kx - s.pad_w);
        const int32_t sw = int32_t(s.stride_w);
        if (ky == 0 && kx == 0) {
#pragma omp simd
          for (int64_t ox = ox_lo; ox < ox_hi; ++ox) {
            best[ox] = row[ox * s.stride_w + kx - s.pad_w];
            where[ox] = offset + int32_t(ox) * sw;
          }
          continue;
        }
#pragma omp simd
        for (int64_t ox = ox_lo; ox < ox_hi; ++ox) {
          const float v = row[ox * s.stride_w + kx - s.pad_w], b = best[ox];
          const bool take = v > b || (v != v && b == b);
          best[ox] = take ? v : b;
          where[ox] = take ? offset + int32_t(ox) * sw : where[ox];
        }
      }
    }
    for (int64_t ox = ox_lo; ox < ox_hi; ++ox) {
      yrow[ox] = best[ox];
      arow[ox] = where[ox];
    }
    for (int64_t ox = ox_hi; ox < s.w_out; ++ox) {
      const WindowMax<float> m = max_pool_window(s, plane, oy, ox);
      yrow[ox] = m.value;
      arow[ox] = m.at;
    }
  }
}
}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* argmax) {
  const bool parallel = s.planes * s.h_out * s.w_out > (1 << 14) && !omp_in_parallel();
#pragma omp parallel if (parallel)
  {
    std::vector<float> best(std::size_t(s.w_out));
    std::vector<int32_t> where(std::size_t(s.w_out));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < s.planes; ++p)
      pool_plane(s, x + p * s.h * s.w, y + p * s.h_out * s.w_out, argmax + p * s.h_out * s.w_out, best.data(),
                 where.data());
  }
}

}  // namespace spml::kernels::onednn
