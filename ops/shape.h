// Differentiable layout ops that copy: transpose swaps two dims of a (contiguous) tensor into a
// fresh contiguous tensor. Its backward is the transpose of the gradient; nothing is saved but
// the dims. (Reshape, flatten and row slices are views: see Tensor.)
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// x with dims dim0 and dim1 exchanged ([B, M, N] -> [B, N, M] for (1, 2) or (-1, -2)), f32 or f64.
// Negative dims count from the end; dim0 == dim1 gives a copy. Throws ShapeError for a dim out of range.
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);

}  // namespace ops
}  // namespace kdcu
