// CUDA versions of kernels/cpu/gemm.h over cuBLAS, same signatures plus the device index, f32
// and f64. Row-major operands are passed to column-major cuBLAS without copies: a row-major
// (m, n) matrix is the column-major (n, m) one, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T. f32 products use TF32 tensor cores when kernels/cuda/handles.h's switch
// is on (full f32 otherwise); f64 is always full precision. Nothing is saved here.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// C = alpha * op(A) op(B) + beta * C, all row-major, strides as in cpu::gemm; op(A) is (m, k),
// op(B) is (k, n), C is (m, n). k == 0 gives C = beta * C; m == 0 or n == 0 does nothing.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc, int device);

// c = a b for `batch` products in one strided-batched GEMM.
// a: (batch, m, k), b: (batch, k, n), c: (batch, m, n)
template <class T>
void matmul_forward(const T* a, const T* b, T* c, std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n,
                    int device);
// da = dc b^T, db = a^T dc, overwritten; null outputs skipped (a may be null when db is, b when da is).
template <class T>
void matmul_backward(const T* a, const T* b, const T* dc, T* da, T* db, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n, int device);

// y = x weight^T + bias (bias may be null): the bias rows are written by a small kernel, then the
// GEMM adds onto them (beta = 1). x: (rows, in), weight: (out, in), bias: (out), y: (rows, out)
template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, std::int64_t rows, std::int64_t in,
                    std::int64_t out, int device);
// dx = dy weight, dweight = dy^T x (GEMMs), dbias = column sums of dy (a kernel summing each column
// in row order in double, deterministic), overwritten; null outputs skipped.
// dy: (rows, out), dx: (rows, in), dweight: (out, in), dbias: (out)
template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, std::int64_t rows,
                     std::int64_t in, std::int64_t out, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
