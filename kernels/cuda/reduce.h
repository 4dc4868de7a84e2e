// CUDA versions of kernels/cpu/reduce.h, same signatures plus the device index, f32 and f64.
// Sums accumulate in double in a fixed order (no atomics), so a result is the same run to run.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// y[0] = scale * sum_i x[i] (two-pass block reduction beyond 32768 elements).  x: (n), y: (1)
template <class T>
void sum_all_forward(const T* x, T* y, std::int64_t n, T scale, int device);
// dx[i] = scale * dy[0].  dy: (1), dx: (n)
template <class T>
void sum_all_backward(const T* dy, T* dx, std::int64_t n, T scale, int device);

// y[o, k] = scale * sum_j x[o, j, k].  x: (outer, n, inner), y: (outer, inner)
template <class T>
void sum_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale, int device);
// dx[o, j, k] = scale * dy[o, k].  dy: (outer, inner), dx: (outer, n, inner)
template <class T>
void sum_backward(const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale, int device);

// y[o, k] = max_j x[o, j, k], idx[o, k] = the first j attaining it, the first NaN winning over any
// number (as the CPU); y may be null (argmax). Requires n > 0.
// x: (outer, n, inner), y, idx: (outer, inner)
template <class T>
void max_forward(const T* x, T* y, std::int64_t* idx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                 int device);
// dx = 0 except dx[o, idx[o, k], k] = dy[o, k].  dy, idx: (outer, inner), dx: (outer, n, inner)
template <class T>
void max_backward(const T* dy, const std::int64_t* idx, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                  int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
