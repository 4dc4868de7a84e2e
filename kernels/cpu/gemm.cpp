// GEMM over OpenBLAS and the matmul / linear kernels. Batched products run one GEMM per matrix,
// split across OpenMP threads only when there are enough matrices to keep every thread busy
// (otherwise the BLAS call itself is threaded). Reductions (the bias gradient) sum in double.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cblas.h>
#include <climits>
#include <vector>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// Extents were checked by check_blas_extents (or gemm's own check) before getting here.
int blas_int(std::int64_t v) {
  return static_cast<int>(v);
}

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a, int lda,
               const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Splitting a batch across threads pays only when each thread gets at least one whole product.
bool split_batch(std::int64_t batch, std::int64_t work) {
  return batch > 1 && batch >= omp_get_max_threads() && work > kParallelGrain;
}

}  // namespace

void check_blas_extents(std::initializer_list<std::int64_t> extents, const char* op) {
  for (std::int64_t v : extents)
    require<ValueError>(v >= 0 && v <= INT_MAX, op, ": extent ", v, " does not fit BLAS's 32-bit int (at most ",
                        INT_MAX, ")");
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: BLAS would reject the zero leading dims
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  if (omp_in_parallel() == 0) check_blas_extents({m, n, k, lda, ldb, ldc}, "gemm");
  blas_gemm(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(m), blas_int(n),
            blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

template <class T>
void matmul_forward(const T* a, const T* b, T* c, std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n) {
  check_blas_extents({m, n, k}, "matmul");
#pragma omp parallel for if (split_batch(batch, batch * m * n * k))
  for (std::int64_t i = 0; i < batch; ++i)
    gemm<T>(false, false, m, n, k, T(1), a + i * m * k, k, b + i * k * n, n, T(0), c + i * m * n, n);
}

template <class T>
void matmul_backward(const T* a, const T* b, const T* dc, T* da, T* db, std::int64_t batch, std::int64_t m,
                     std::int64_t k, std::int64_t n) {
  check_blas_extents({m, n, k}, "matmul backward");
#pragma omp parallel for if (split_batch(batch, batch * m * n * k))
  for (std::int64_t i = 0; i < batch; ++i) {
    const T* g = dc + i * m * n;
    // da (m, k) = dc (m, n) b^T (n, k)
    if (da) gemm<T>(false, true, m, k, n, T(1), g, n, b + i * k * n, n, T(0), da + i * m * k, k);
    // db (k, n) = a^T (k, m) dc (m, n)
    if (db) gemm<T>(true, false, k, n, m, T(1), a + i * m * k, k, g, n, T(0), db + i * k * n, n);
  }
}

template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, std::int64_t rows, std::int64_t in,
                    std::int64_t out) {
  if (bias) {
    for (std::int64_t r = 0; r < rows; ++r) std::copy(bias, bias + out, y + r * out);
  }
  gemm<T>(false, true, rows, out, in, T(1), x, in, weight, in, bias ? T(1) : T(0), y, out);
}

template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, std::int64_t rows,
                     std::int64_t in, std::int64_t out) {
  // dx (rows, in) = dy (rows, out) weight (out, in)
  if (dx) gemm<T>(false, false, rows, in, out, T(1), dy, out, weight, in, T(0), dx, in);
  // dweight (out, in) = dy^T (out, rows) x (rows, in)
  if (dweight) gemm<T>(true, false, out, in, rows, T(1), dy, out, x, in, T(0), dweight, in);
  if (dbias) {
    // Rows in order, so the sum is the same whatever the thread count.
    std::vector<double> acc(static_cast<size_t>(out), 0.0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* g = dy + r * out;
      for (std::int64_t j = 0; j < out; ++j) acc[static_cast<size_t>(j)] += static_cast<double>(g[j]);
    }
    for (std::int64_t j = 0; j < out; ++j) dbias[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
  }
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);
template void matmul_forward<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t,
                                    std::int64_t);
template void matmul_forward<double>(const double*, const double*, double*, std::int64_t, std::int64_t, std::int64_t,
                                     std::int64_t);
template void matmul_backward<float>(const float*, const float*, const float*, float*, float*, std::int64_t,
                                     std::int64_t, std::int64_t, std::int64_t);
template void matmul_backward<double>(const double*, const double*, const double*, double*, double*, std::int64_t,
                                      std::int64_t, std::int64_t, std::int64_t);
template void linear_forward<float>(const float*, const float*, const float*, float*, std::int64_t, std::int64_t,
                                    std::int64_t);
template void linear_forward<double>(const double*, const double*, const double*, double*, std::int64_t, std::int64_t,
                                     std::int64_t);
template void linear_backward<float>(const float*, const float*, const float*, float*, float*, float*, std::int64_t,
                                     std::int64_t, std::int64_t);
template void linear_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                      std::int64_t, std::int64_t, std::int64_t);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
