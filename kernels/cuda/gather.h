// CUDA version of kernels/cpu/gather.h, same signatures plus the device index. Indices are not
// checked on the device (that would need a host read): an output row whose index is outside
// [0, n) is written as zeros, and the backward skips it.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// y [rows, cols]: y[k, c] = x[idx[k], c]. f32, f64 and i64; x has n rows.
template <class T>
void index_rows(const T* x, const std::int64_t* idx, T* y, std::int64_t rows, std::int64_t n, std::int64_t cols,
                int device);

// gx [n, cols] = 0, then gx[idx[k], c] += g[k, c] for k in order: one thread per column, so a
// repeated index sums in the CPU's order (bitwise the CPU result, no atomics). f32 and f64.
template <class T>
void index_rows_backward(const T* g, const std::int64_t* idx, T* gx, std::int64_t rows, std::int64_t n,
                         std::int64_t cols, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
