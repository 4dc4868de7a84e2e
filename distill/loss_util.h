// Helpers shared by the distillation losses (not part of the public distill API): argument checks
// that name the loss, and small compositions of ops (row L2 normalisation, a lower clamp, flattening
// a batch to [B, D]). Everything here is differentiable through kdcu ops.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kdcu {
namespace distill {
namespace detail {

// ShapeError unless s and t are both [B, C] with the same shape, naming `op` and both shapes; also
// checks that both are defined, floating, of one dtype and on one device.
void check_logits_pair(const Tensor& s, const Tensor& t, const char* op);
// Defined, floating, same dtype and device (shapes are checked by the caller).
void check_pair(const Tensor& s, const Tensor& t, const char* op);

// x [B, ...] -> [B, D] with D the product of the rest (a view); ShapeError naming `op` and `what` for
// fewer than 2 dims ("expected <what> of shape [B, ...] with at least 2 dims, found [..]").
Tensor flatten_batch(const Tensor& x, const char* op, const char* what);

// x / sqrt(sum(x^2, dim) + eps^2): a smooth form of F.normalize's x / max(||x||, eps). A zero vector
// maps to 0 with a finite gradient.
inline constexpr double kNormEps = 1e-12;
Tensor normalize(const Tensor& x, std::int64_t dim, double eps = kNormEps);

// max(x, lo) elementwise as relu(x - lo) + lo (gradient 1 above lo, 0 below).
Tensor clamp_min(const Tensor& x, double lo);

}  // namespace detail
}  // namespace distill
}  // namespace kdcu
