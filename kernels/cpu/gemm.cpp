// CPU GEMM (OpenBLAS or the builtin blocked kernel) and the thread policy shared with OpenMP.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

#if defined(SPML_WITH_OPENBLAS)
#include <cblas.h>
#endif

namespace spml::kernels::cpu {
namespace {
int g_num_threads = 0;  // 0: not set yet, all cores

// Element (i, j) of op(X) for a row-major X with leading dimension ld.
template <class T>
inline T at(const T* x, int64_t ld, bool trans, int64_t i, int64_t j) {
  return trans ? x[j * ld + i] : x[i * ld + j];
}
}  // namespace

void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  g_num_threads = n;
  omp_set_num_threads(n);
#if defined(SPML_WITH_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}

int num_threads() {
  return g_num_threads > 0 ? g_num_threads : omp_get_max_threads();
}

const char* gemm_backend_name() {
#if defined(SPML_WITH_OPENBLAS)
  static const std::string name = [] {
    const int parallel = openblas_get_parallel();
    const char* mode = parallel == 0 ? "serial" : parallel == 1 ? "pthreads" : parallel == 2 ? "openmp" : "?";
    const char* core = openblas_get_corename();
    return std::string("openblas (") + mode + ", " + (core ? core : "?") + ")";
  }();
  return name.c_str();
#else
  return "builtin";
#endif
}

// Blocked GEMM: op(A) and op(B) panels are packed into contiguous row-major tiles, then an i-k-j loop
// (vectorisable inner loop over j) accumulates into C. Parallel over row blocks of C.
template <class T>
void gemm_builtin(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  constexpr int64_t kBlockM = 64, kBlockN = 256, kBlockK = 128;
  // Scale C by beta first (beta == 0 overwrites, so NaN in uninitialised C never leaks through).
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
  if (k == 0 || alpha == T(0)) return;
  const int64_t row_blocks = (m + kBlockM - 1) / kBlockM;
  const bool parallel = !omp_in_parallel() && m * n * k > (int64_t(1) << 18);
#pragma omp parallel if (parallel)
  {
    std::vector<T> a_pack(kBlockM * kBlockK), b_pack(kBlockK * kBlockN);
#pragma omp for schedule(dynamic)
    for (int64_t rb = 0; rb < row_blocks; ++rb) {
      const int64_t i0 = rb * kBlockM, i1 = std::min(m, i0 + kBlockM);
      for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
        const int64_t p1 = std::min(k, p0 + kBlockK);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t p = p0; p < p1; ++p) a_pack[(i - i0) * kBlockK + (p - p0)] = alpha * at(a, lda, trans_a, i, p);
        for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
          const int64_t j1 = std::min(n, j0 + kBlockN), width = j1 - j0;
          for (int64_t p = p0; p < p1; ++p)
            for (int64_t j = j0; j < j1; ++j) b_pack[(p - p0) * kBlockN + (j - j0)] = at(b, ldb, trans_b, p, j);
          for (int64_t i = i0; i < i1; ++i) {
            T* c_row = c + i * ldc + j0;
            for (int64_t p = p0; p < p1; ++p) {
              const T a_ip = a_pack[(i - i0) * kBlockK + (p - p0)];
              const T* b_row = b_pack.data() + (p - p0) * kBlockN;
#pragma omp simd
              for (int64_t j = 0; j < width; ++j) c_row[j] += a_ip * b_row[j];
            }
          }
        }
      }
    }
  }
}

const char* openblas_coretype_hint() {
#if defined(SPML_WITH_OPENBLAS) && defined(__x86_64__) && defined(__GNUC__)
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";
  const char* core = openblas_get_corename();
  if (core == nullptr || std::string(core) != "Prescott") return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
#if defined(SPML_WITH_OPENBLAS)
  // Inside an OpenMP region a threaded OpenBLAS would oversubscribe the cores: use the serial builtin path.
  if (!omp_in_parallel() && k > 0) {
    const auto ta = trans_a ? CblasTrans : CblasNoTrans;
    const auto tb = trans_b ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
    }
    return;
  }
#endif
  gemm_builtin(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_builtin<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                  int64_t, float, float*, int64_t);
template void gemm_builtin<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                   int64_t, double, double*, int64_t);

}  // namespace spml::kernels::cpu
