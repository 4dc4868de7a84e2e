// Matrix products on CUDA through cuBLAS (see gemm.h): one cublasGemmEx, or one
// cublasGemmStridedBatchedEx for a batch, with the operands swapped to turn row-major into
// column-major (C^T = op(B)^T op(A)^T, leading dimensions as stored). f32 computes in full f32
// (CUBLAS_COMPUTE_32F, default math) or TF32 (CUBLAS_COMPUTE_32F_FAST_TF32, TF32 tensor-op math)
// per kernels/cuda/handles.h's switch; f64 in f64. The linear bias rows come from a small kernel
// and the bias gradient from batch_norm.h's deterministic channel_sum.
#include <cublas_v2.h>

#include "core/cuda_check.h"
#include "kernels/cpu/gemm.h"  // check_blas_extents
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/handles.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <class T>
constexpr cudaDataType_t data_type() {
  return sizeof(T) == 4 ? CUDA_R_32F : CUDA_R_64F;
}

// c[b * stride_c + i * ldc + j] = beta * c[...] (0 when beta is 0, whatever c held) for the
// (batch, m, n) block: an empty product's result, which cuBLAS would reject (lda = k = 0).
template <class T>
__global__ void scale_matrix_kernel(T* c, std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t ldc,
                                    std::int64_t stride_c, T beta) {
  for (const std::int64_t e : grid_stride(batch * m * n)) {
    const std::int64_t b = e / (m * n), i = (e / n) % m, j = e % n;
    T& x = c[b * stride_c + i * ldc + j];
    x = beta == T(0) ? T(0) : beta * x;
  }
}

// y[r * out + j] = bias[j]
template <class T>
__global__ void bias_rows_kernel(const T* bias, T* y, std::int64_t rows, std::int64_t out) {
  for (const std::int64_t e : grid_stride(rows * out)) y[e] = bias[e % out];
}

// The one GEMM entry: `batch` row-major products C_b = alpha op(A_b) op(B_b) + beta C_b, operand b
// at a + b * stride_a (and so on).
template <class T>
void gemm_strided(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                  std::int64_t lda, std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T beta,
                  T* c, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch, int device) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    kdcu::cuda::launch("gemm (k = 0)", scale_matrix_kernel<T>, grid_for(batch * m * n), kThreads, 0, device, c, batch,
                       m, n, ldc, stride_c, beta);
    return;
  }
  cpu::check_blas_extents({m, n, k, lda, ldb, ldc, batch}, "cuda gemm");
  const bool tf32 = sizeof(T) == 4 && tf32_enabled();
  cublasHandle_t handle = cublas_handle(device);
  KDCU_CUBLAS_CHECK(cublasSetMathMode(handle, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  const cublasComputeType_t compute =
      sizeof(T) == 8 ? CUBLAS_COMPUTE_64F : (tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  // Row-major X (r, c) with row stride ld is column-major X^T (c, r) with leading dim ld, so
  // C^T (n, m) = op(B)^T (n, k) op(A)^T (k, m): B first, each with its own transpose flag.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  const int lda_i = static_cast<int>(lda), ldb_i = static_cast<int>(ldb), ldc_i = static_cast<int>(ldc);
  constexpr cudaDataType_t type = data_type<T>();
  if (batch == 1) {
    KDCU_CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, ni, mi, ki, &alpha, b, type, ldb_i, a, type, lda_i, &beta, c,
                                   type, ldc_i, compute, CUBLAS_GEMM_DEFAULT));
  } else {
    KDCU_CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_b, op_a, ni, mi, ki, &alpha, b, type, ldb_i, stride_b, a,
                                                 type, lda_i, stride_a, &beta, c, type, ldc_i, stride_c,
                                                 static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc, int device) {
  gemm_strided<T>(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1, device);
}

template <class T>
void matmul_forward(const T* a, const T* b, T* c, std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n,
                    int device) {
  // c_i (m, n) = a_i (m, k) b_i (k, n)
  gemm_strided<T>(false, false, m, n, k, T(1), a, k, m * k, b, n, k * n, T(0), c, n, m * n, batch, device);
}

template <class T>
void matmul_backward(const T* a, const T* b, const T* dc, T* da, T* db, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n, int device) {
  // da_i (m, k) = dc_i (m, n) b_i^T (n, k)
  if (da) gemm_strided<T>(false, true, m, k, n, T(1), dc, n, m * n, b, n, k * n, T(0), da, k, m * k, batch, device);
  // db_i (k, n) = a_i^T (k, m) dc_i (m, n)
  if (db) gemm_strided<T>(true, false, k, n, m, T(1), a, k, m * k, dc, n, m * n, T(0), db, n, k * n, batch, device);
}

template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, std::int64_t rows, std::int64_t in,
                    std::int64_t out, int device) {
  if (bias) {
    kdcu::cuda::launch("linear bias", bias_rows_kernel<T>, grid_for(rows * out), kThreads, 0, device, bias, y, rows,
                       out);
  }
  // y (rows, out) = x (rows, in) weight^T (in, out) [+ the bias rows]
  gemm<T>(false, true, rows, out, in, T(1), x, in, weight, in, bias ? T(1) : T(0), y, out, device);
}

template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, std::int64_t rows,
                     std::int64_t in, std::int64_t out, int device) {
  // dx (rows, in) = dy (rows, out) weight (out, in)
  if (dx) gemm<T>(false, false, rows, in, out, T(1), dy, out, weight, in, T(0), dx, in, device);
  // dweight (out, in) = dy^T (out, rows) x (rows, in)
  if (dweight) gemm<T>(true, false, out, in, rows, T(1), dy, out, x, in, T(0), dweight, in, device);
  // dbias[j] = sum over rows of dy[r, j]: dy viewed as (N = rows, C = out, S = 1)
  if (dbias) channel_sum<T>(dy, dbias, rows, out, 1, device);
}

#define KDCU_INSTANTIATE(T)                                                                                            \
  template void gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*,     \
                        std::int64_t, T, T*, std::int64_t, int);                                                       \
  template void matmul_forward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,      \
                                  int);                                                                                \
  template void matmul_backward<T>(const T*, const T*, const T*, T*, T*, std::int64_t, std::int64_t, std::int64_t,     \
                                   std::int64_t, int);                                                                 \
  template void linear_forward<T>(const T*, const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, int);    \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, T*, std::int64_t, std::int64_t, std::int64_t, \
                                   int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
