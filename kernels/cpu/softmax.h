// Softmax CPU kernels along the middle axis of an (outer, n, inner) view, temperature fused:
// with z = (x - max x) / T per row, softmax = exp(z) / sum exp(z), log_softmax = z - log sum exp(z).
// Both backward passes use only the forward's output y (the ops save y, not x).
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// x, y: (outer, n, inner); inv_temperature = 1 / T.
template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature);
template <class T>
void log_softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature);

// dx = y * (dy - sum_j dy_j y_j) / T, with y = softmax(x / T).  y, dy, dx: (outer, n, inner)
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      T inv_temperature);
// dx = (dy - exp(y) * sum_j dy_j) / T, with y = log_softmax(x / T).  y, dy, dx: (outer, n, inner)
template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                          T inv_temperature);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
