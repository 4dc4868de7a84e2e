// Dense linear algebra on the CPU: a row-major GEMM over OpenBLAS (cblas_sgemm / cblas_dgemm),
// and the matmul / linear kernels built on it. Nothing is saved here; the ops keep the operands
// the backward needs (matmul: a and b; linear: x and weight).
#pragma once

#include <cstdint>
#include <initializer_list>

namespace kdcu {
namespace kernels {
namespace cpu {

// Throws ValueError naming `op` unless every extent fits BLAS's 32-bit int. Call it before an
// OpenMP region whose GEMMs use these extents: an exception must never escape such a region.
void check_blas_extents(std::initializer_list<std::int64_t> extents, const char* op);

// C = alpha * op(A) op(B) + beta * C, all row-major; op(A) is (m, k), op(B) is (k, n), C is (m, n).
// lda/ldb/ldc are the row strides of A, B, C as stored (before the transpose). Empty products are
// handled here (k == 0 gives C = beta * C; m == 0 or n == 0 does nothing), never passed to BLAS.
// Called inside an OpenMP parallel region it runs single-threaded (OpenBLAS's OpenMP build).
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

// c = a b for `batch` independent products (batch 1 is the plain 2-D case).
// a: (batch, m, k), b: (batch, k, n), c: (batch, m, n)
template <class T>
void matmul_forward(const T* a, const T* b, T* c, std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n);
// da = dc b^T, db = a^T dc, overwritten. Either output may be null (not wanted); a may then be
// null when db is, b when da is.
template <class T>
void matmul_backward(const T* a, const T* b, const T* dc, T* da, T* db, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n);

// y = x weight^T + bias (bias may be null): the bias is written first, the GEMM adds onto it.
// x: (rows, in), weight: (out, in) (PyTorch layout), bias: (out), y: (rows, out)
template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, std::int64_t rows, std::int64_t in,
                    std::int64_t out);
// dx = dy weight, dweight = dy^T x, dbias = column sums of dy, overwritten. Null outputs are
// skipped; x may be null when dweight is, weight when dx is.
// dy: (rows, out), dx: (rows, in), dweight: (out, in), dbias: (out)
template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, std::int64_t rows,
                     std::int64_t in, std::int64_t out);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
