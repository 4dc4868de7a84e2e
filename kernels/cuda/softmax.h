// CUDA versions of kernels/cpu/softmax.h: same signatures plus the device index, f32 only (the f64
// instantiations throw DTypeError: f64 is for CPU gradient checks). With z = (x - max x) / T per
// row: softmax = exp(z) / sum exp(z), log_softmax = z - log sum exp(z); 1/T is applied in registers.
// Both backward passes use only the forward's output y, as the ops save y.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// x, y: (outer, n, inner); inv_temperature = 1 / T.
template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature,
                     int device);
template <class T>
void log_softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature,
                         int device);

// dx = y * (dy - sum_j dy_j y_j) / T.  y, dy, dx: (outer, n, inner)
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      T inv_temperature, int device);
// dx = (dy - exp(y) * sum_j dy_j) / T.  y, dy, dx: (outer, n, inner)
template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                          T inv_temperature, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
