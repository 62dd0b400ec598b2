// Row-major GEMM on cuBLAS (column-major) through the transpose identity C^T = op(B)^T op(A)^T.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace spml::kernels::cuda {

// A row-major [r, c] matrix with leading dimension ld is the column-major [c, r] matrix with the same ld, so
// the row-major product C = op(A) op(B) is the column-major product C^T = op(B)^T op(A)^T: pass B first, A
// second, swap m and n, and keep each operand's transpose flag.
template <class T>
void gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // Nothing is read from A or B, but cuBLAS still validates ld >= 1; C = beta * C is still applied.
    lda = std::max<int64_t>(lda, 1);
    ldb = std::max<int64_t>(ldb, 1);
  }
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
#if CUBLAS_VER_MAJOR >= 12
  if constexpr (std::is_same_v<T, float>) {
    SPML_CUBLAS_CHECK(cublasSgemm_64(handle, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
  } else {
    SPML_CUBLAS_CHECK(cublasDgemm_64(handle, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
  }
#else
  for (const int64_t v : {m, n, k, lda, ldb, ldc}) {
    SPML_CHECK(v <= INT_MAX, "cuda::gemm: dimension ", v, " exceeds the 32-bit cuBLAS API (m=", m, " n=", n, " k=", k,
               ")");
  }
  if constexpr (std::is_same_v<T, float>) {
    SPML_CUBLAS_CHECK(
        cublasSgemm(handle, op_b, op_a, int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c, int(ldc)));
  } else {
    SPML_CUBLAS_CHECK(
        cublasDgemm(handle, op_b, op_a, int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c, int(ldc)));
  }
#endif
}

template void gemm<float>(cublasHandle_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(cublasHandle_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace spml::kernels::cuda
