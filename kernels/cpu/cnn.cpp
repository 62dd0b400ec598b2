// CPU CNN kernels: im2col + GEMM convolution, batch normalisation, max and adaptive average pooling.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/common/accumulate.h"
#include "kernels/common/batchnorm_math.h"
#include "kernels/common/pool_math.h"
#include "kernels/cpu/cpu_kernels.h"

namespace spml::kernels::cpu {
namespace {
bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// col[(ci, ky, kx), (oy, ox)] = x[ci, oy * sh - ph + ky, ox * sw - pw + kx] (0 outside) for one image.
template <class T>
void im2col(const Conv2dShape& s, const T* x, T* col) {
  const int64_t out_hw = s.h_out * s.w_out;
#pragma omp parallel for collapse(2) if (s.c_in * s.kh * s.kw * out_hw > (1 << 16))
  for (int64_t ci = 0; ci < s.c_in; ++ci) {
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        T* row = col + ((ci * s.kh + ky) * s.kw + kx) * out_hw;
        const T* plane = x + ci * s.h * s.w;
        for (int64_t oy = 0; oy < s.h_out; ++oy) {
          const int64_t iy = oy * s.stride_h - s.pad_h + ky;
          T* dst = row + oy * s.w_out;
          if (iy < 0 || iy >= s.h) {
            std::fill(dst, dst + s.w_out, T(0));
            continue;
          }
          for (int64_t ox = 0; ox < s.w_out; ++ox) {
            const int64_t ix = ox * s.stride_w - s.pad_w + kx;
            dst[ox] = (ix >= 0 && ix < s.w) ? plane[iy * s.w + ix] : T(0);
          }
        }
      }
    }
  }
}

// The transpose of im2col: gx[ci, iy, ix] += col[...]; parallel over input channels (no two threads write the
// same element), sequential inside so the sum order is fixed.
template <class T>
void col2im(const Conv2dShape& s, const T* col, T* gx) {
  const int64_t out_hw = s.h_out * s.w_out;
  std::memset(gx, 0, sizeof(T) * std::size_t(s.c_in * s.h * s.w));
#pragma omp parallel for if (s.c_in * s.kh * s.kw * out_hw > (1 << 16))
  for (int64_t ci = 0; ci < s.c_in; ++ci) {
    T* plane = gx + ci * s.h * s.w;
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const T* row = col + ((ci * s.kh + ky) * s.kw + kx) * out_hw;
        for (int64_t oy = 0; oy < s.h_out; ++oy) {
          const int64_t iy = oy * s.stride_h - s.pad_h + ky;
          if (iy < 0 || iy >= s.h) continue;
          for (int64_t ox = 0; ox < s.w_out; ++ox) {
            const int64_t ix = ox * s.stride_w - s.pad_w + kx;
            if (ix >= 0 && ix < s.w) plane[iy * s.w + ix] += row[oy * s.w_out + ox];
          }
        }
      }
    }
  }
}
}  // namespace

int64_t conv2d_workspace_elements(const Conv2dShape& s) {
  return is_pointwise(s) ? 0 : s.c_in * s.kh * s.kw * s.h_out * s.w_out;
}

template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, T* y, T* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    const T* xn = x + n * s.c_in * s.h * s.w;
    const T* col = xn;  // a 1x1 stride-1 convolution reads the image as its own column matrix
    if (!is_pointwise(s)) {
      im2col(s, xn, workspace);
      col = workspace;
    }
    // y_n [c_out, out_hw] = w [c_out, k] @ col [k, out_hw]
    gemm<T>(false, false, s.c_out, out_hw, k, T(1), w, k, col, out_hw, T(0), y + n * s.c_out * out_hw, out_hw);
  }
}

template <class T>
void conv2d_backward_data(const Conv2dShape& s, const T* gy, const T* w, T* gx, T* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    T* gxn = gx + n * s.c_in * s.h * s.w;
    // dcol [k, out_hw] = w^T [k, c_out] @ gy_n [c_out, out_hw]
    T* dcol = is_pointwise(s) ? gxn : workspace;
    gemm<T>(true, false, k, out_hw, s.c_out, T(1), w, k, gy + n * s.c_out * out_hw, out_hw, T(0), dcol, out_hw);
    if (!is_pointwise(s)) col2im(s, dcol, gxn);
  }
}

template <class T>
void conv2d_backward_filter(const Conv2dShape& s, const T* gy, const T* x, T* gw, T* workspace) {
  const int64_t k = s.c_in * s.kh * s.kw, out_hw = s.h_out * s.w_out;
  for (int64_t n = 0; n < s.n; ++n) {
    const T* xn = x + n * s.c_in * s.h * s.w;
    const T* col = xn;
    if (!is_pointwise(s)) {
      im2col(s, xn, workspace);
      col = workspace;
    }
    // gw [c_out, k] (+)= gy_n [c_out, out_hw] @ col^T [out_hw, k]
    gemm<T>(false, true, s.c_out, k, out_hw, T(1), gy + n * s.c_out * out_hw, out_hw, col, out_hw, n ? T(1) : T(0), gw,
            k);
  }
}

template <class T>
void batchnorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* save_mean, T* save_invstd, T* running_mean,
                       T* running_var, int64_t n, int64_t c, int64_t hw, bool training, double momentum, double eps) {
  const double m = double(n) * double(hw);
#pragma omp parallel for if (n * c * hw > (1 << 15))
  for (int64_t ch = 0; ch < c; ++ch) {
    double mean, invstd;
    if (training) {
      acc_t<T> sum = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < hw; ++j) sum += x[(i * c + ch) * hw + j];
      mean = double(sum) / m;
      acc_t<T> sq = 0;  // two passes: the variance of values far from zero stays accurate
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < hw; ++j) {
          const acc_t<T> d = acc_t<T>(x[(i * c + ch) * hw + j]) - acc_t<T>(mean);
          sq += d * d;
        }
      const double var = double(sq) / m;
      invstd = batchnorm_invstd(var, eps);
      batchnorm_update_running(running_mean, running_var, ch, mean, var, m, momentum);
    } else {
      mean = double(running_mean[ch]);
      invstd = batchnorm_invstd(double(running_var[ch]), eps);
    }
    save_mean[ch] = T(mean);
    save_invstd[ch] = T(invstd);
    const BatchnormAffine<T> affine = batchnorm_affine(gamma, beta, ch, mean, invstd);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const int64_t at = (i * c + ch) * hw + j;
        y[at] = x[at] * affine.scale + affine.shift;
      }
  }
}

template <class T>
void batchnorm_backward(const T* x, const T* gy, const T* gamma, const T* save_mean, const T* save_invstd, T* gx,
                        T* ggamma, T* gbeta, int64_t n, int64_t c, int64_t hw, bool training) {
  const double m = double(n) * double(hw);
#pragma omp parallel for if (n * c * hw > (1 << 15))
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = double(save_mean[ch]), invstd = double(save_invstd[ch]);
    acc_t<T> sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const int64_t at = (i * c + ch) * hw + j;
        sum_gy += gy[at];
        sum_gy_xhat += acc_t<T>(gy[at]) * acc_t<T>(batchnorm_xhat(double(x[at]), mean, invstd));
      }
    if (gbeta) gbeta[ch] = T(sum_gy);
    if (ggamma) ggamma[ch] = T(sum_gy_xhat);
    if (!gx) continue;
    const BatchnormGradTerms terms = batchnorm_grad_terms(gamma, ch, invstd, m, double(sum_gy), double(sum_gy_xhat));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const int64_t at = (i * c + ch) * hw + j;
        gx[at] =
            T(training ? batchnorm_grad_x_training(terms, double(gy[at]), batchnorm_xhat(double(x[at]), mean, invstd))
                       : batchnorm_grad_x_eval(terms, double(gy[at])));
      }
  }
}

template <class T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax) {
#pragma omp parallel for if (s.planes * s.h_out * s.w_out > (1 << 14))
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* plane = x + p * s.h * s.w;
    for (int64_t oy = 0; oy < s.h_out; ++oy)
      for (int64_t ox = 0; ox < s.w_out; ++ox) {
        const WindowMax<T> best = max_pool_window(s, plane, oy, ox);
        const int64_t out = (p * s.h_out + oy) * s.w_out + ox;
        y[out] = best.value;
        argmax[out] = best.at;
      }
  }
}

template <class T>
void max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx) {
#pragma omp parallel for if (s.planes * s.h * s.w > (1 << 14))
  for (int64_t p = 0; p < s.planes; ++p) {
    T* plane = gx + p * s.h * s.w;
    std::fill(plane, plane + s.h * s.w, T(0));
    for (int64_t o = 0; o < s.h_out * s.w_out; ++o) {
      const int64_t at = argmax[p * s.h_out * s.w_out + o];
      if (at >= 0) plane[at] += gy[p * s.h_out * s.w_out + o];
    }
  }
}

template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t h_out, int64_t w_out) {
#pragma omp parallel for if (planes * h * w > (1 << 15))
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oy = 0; oy < h_out; ++oy) {
      const int64_t y0 = adaptive_bin_start(oy, h, h_out), y1 = adaptive_bin_end(oy, h, h_out);
      for (int64_t ox = 0; ox < w_out; ++ox) {
        const int64_t x0 = adaptive_bin_start(ox, w, w_out), x1 = adaptive_bin_end(ox, w, w_out);
        acc_t<T> sum = 0;
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) sum += x[(p * h + iy) * w + ix];
        y[(p * h_out + oy) * w_out + ox] = T(sum / acc_t<T>((y1 - y0) * (x1 - x0)));
      }
    }
  }
}

template <class T>
void adaptive_avg_pool2d_backward(const T* gy, T* gx, int64_t planes, int64_t h, int64_t w, int64_t h_out,
                                  int64_t w_out) {
#pragma omp parallel for if (planes * h * w > (1 << 15))
  for (int64_t p = 0; p < planes; ++p) {
    T* plane = gx + p * h * w;
    std::fill(plane, plane + h * w, T(0));
    for (int64_t oy = 0; oy < h_out; ++oy) {
      const int64_t y0 = adaptive_bin_start(oy, h, h_out), y1 = adaptive_bin_end(oy, h, h_out);
      for (int64_t ox = 0; ox < w_out; ++ox) {
        const int64_t x0 = adaptive_bin_start(ox, w, w_out), x1 = adaptive_bin_end(ox, w, w_out);
        const T share = gy[(p * h_out + oy) * w_out + ox] / T((y1 - y0) * (x1 - x0));
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) plane[iy * w + ix] += share;
      }
    }
  }
}

#define SPML_INSTANTIATE_CNN(T)                                                                                       \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, T*, T*);                                    \
  template void conv2d_backward_data<T>(const Conv2dShape&, const T*, const T*, T*, T*);                              \
  template void conv2d_backward_filter<T>(const Conv2dShape&, const T*, const T*, T*, T*);                            \
  template void batchnorm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, int64_t, int64_t, int64_t,     \
                                     bool, double, double);                                                           \
  template void batchnorm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                      int64_t, bool);                                                                 \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*);                                    \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*);                             \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);            \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
SPML_INSTANTIATE_CNN(float)
SPML_INSTANTIATE_CNN(double)
#undef SPML_INSTANTIATE_CNN

}  // namespace spml::kernels::cpu
