// Pooling window math shared by the CPU loops and the CUDA kernels: the max of one output's window (ties keep
// the first position, NaN wins, as PyTorch) and PyTorch's adaptive-pooling bins.
#pragma once

#include "kernels/common/cnn_shapes.h"
#include "kernels/common/hd.h"

namespace spml::kernels {

template <class T>
struct WindowMax {
  T value;
  int64_t at;  // position iy * w + ix inside the plane; -1 when the window holds no input
};

template <class T>
SPML_HD WindowMax<T> max_pool_window(const Pool2dShape& s, const T* plane, int64_t oy, int64_t ox) {
  WindowMax<T> best{T(0), -1};
  for (int64_t ky = 0; ky < s.kh; ++ky) {
    const int64_t iy = oy * s.stride_h - s.pad_h + ky;
    if (iy < 0 || iy >= s.h) continue;
    for (int64_t kx = 0; kx < s.kw; ++kx) {
      const int64_t ix = ox * s.stride_w - s.pad_w + kx;
      if (ix < 0 || ix >= s.w) continue;
      const T v = plane[iy * s.w + ix];
      const bool v_nan = v != v, best_nan = best.value != best.value;
      if (best.at < 0 || v > best.value || (v_nan && !best_nan)) best = {v, iy * s.w + ix};
    }
  }
  return best;
}

// Adaptive pooling bin of output o over `in` inputs: [floor(o * in / out), ceil((o + 1) * in / out)).
SPML_HD int64_t adaptive_bin_start(int64_t o, int64_t in, int64_t out) {
  return o * in / out;
}
SPML_HD int64_t adaptive_bin_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}

}  // namespace spml::kernels
