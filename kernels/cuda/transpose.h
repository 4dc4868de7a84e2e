// CUDA version of kernels/cpu/transpose.h, same signature plus the device index, f32 and f64.
// The tensor is seen as (outer, a, mid, b, inner) with a and b swapped; nothing is saved.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// y[o, j, m, i, k] = x[o, i, m, j, k].  x: (outer, a, mid, b, inner), y: (outer, b, mid, a, inner)
template <class T>
void transpose(const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t mid, std::int64_t b,
               std::int64_t inner, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
