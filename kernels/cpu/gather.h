// Row gather CPU kernel: y[k, :] = x[idx[k], :] with rows of `cols` contiguous elements (dim 0
// of a row-major tensor), and its backward, the index-add gx[idx[k], :] += g[k, :]. The caller
// (ops/gather.cpp) checks every index against the row count on the CPU.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// y [rows, cols] from x [n, cols]: y[k, c] = x[idx[k], c] (a row whose index is outside [0, n) is
// written as zeros, as on CUDA). f32, f64 and i64.
template <class T>
void index_rows(const T* x, const std::int64_t* idx, T* y, std::int64_t rows, std::int64_t n, std::int64_t cols);

// gx [n, cols] = 0, then gx[idx[k], c] += g[k, c] for k = 0 .. rows-1 in order (so a repeated
// index sums in a fixed order; the CUDA kernel uses the same order). f32 and f64.
template <class T>
void index_rows_backward(const T* g, const std::int64_t* idx, T* gx, std::int64_t rows, std::int64_t n,
                         std::int64_t cols);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
