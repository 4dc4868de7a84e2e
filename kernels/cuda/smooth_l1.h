// CUDA versions of kernels/cpu/smooth_l1.h, same signatures plus the device index, f32 and f64.
// With d = x - t: loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; its slope d / beta
// inside, sign(d) outside. Elementwise in double; the scalar forward is a fixed-order two-pass sum.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// x, t, loss: (n)
template <class T>
void smooth_l1_forward(const T* x, const T* t, T* loss, std::int64_t n, T beta, int device);
// y[0] = scale * sum_i smooth_l1(x[i] - t[i]; beta).  x, t: (n), y: (1)
template <class T>
void smooth_l1_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T beta, T scale, int device);
// dx[i] = g_i * slope, dt[i] = -dx[i]; either may be null.  x, t, dx, dt: (n), dloss: (n) or (1) per dloss_stride
template <class T>
void smooth_l1_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                        std::int64_t n, T beta, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
