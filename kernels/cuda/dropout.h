// CUDA version of kernels/cpu/dropout.h, same signatures plus the device index, f32 and f64. The
// mask is drawn exactly as on the CPU: element i keeps where word i % 4 of Philox block
// block0 + i / 4, as an f32 uniform, is >= p, scaled by T(1) / T(1 - p); so one seed gives the
// same mask on both devices and for both dtypes.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// x, y, mask: (n); mask may be null. Requires 0 <= p <= 1; p == 1 draws nothing (y = x * 0).
template <class T>
void dropout_forward(const T* x, T* y, T* mask, std::int64_t n, double p, std::uint64_t seed, std::uint64_t block0,
                     int device);
// dx = dy * mask.  dy, mask, dx: (n)
template <class T>
void dropout_backward(const T* dy, const T* mask, T* dx, std::int64_t n, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
