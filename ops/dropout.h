// Differentiable inverted dropout: in training each element is kept where its Philox uniform
// u >= p and scaled by 1 / (1 - p), else zeroed; the scaled mask is saved for backward
// (dx = dy * mask). Identity in eval or for p == 0; zeros for p == 1.
#pragma once

#include "core/rng.h"
#include "core/tensor.h"

namespace kdcu {
namespace ops {

// p in [0, 1] (ValueError otherwise). When 0 < p < 1 in training, one call reserves
// philox::blocks_uniform_f32(numel) blocks of `gen` (the f32 mapping whatever x's dtype, so a
// seed gives the same mask for f32 and f64); otherwise gen is untouched and, in eval or for
// p == 0, x itself is returned.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace ops
}  // namespace kdcu
