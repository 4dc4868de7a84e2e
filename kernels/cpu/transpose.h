// Transpose CPU kernel: swaps two dims of a contiguous row-major tensor by copying. The tensor is
// seen as (outer, a, mid, b, inner) with a and b the swapped extents; y is (outer, b, mid, a, inner).
// The backward of a transpose is the same copy with a and b exchanged; nothing is saved.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// y[o, j, m, i, k] = x[o, i, m, j, k].  x: (outer, a, mid, b, inner), y: (outer, b, mid, a, inner)
template <class T>
void transpose(const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t mid, std::int64_t b,
               std::int64_t inner);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
