// Differentiable reductions: sum and mean over all elements or one dim, max over a dim (values;
// the gradient goes to the first index that attains the max) and argmax (not differentiable).
// Semantics follow PyTorch: a 0-d tensor reduces over dim 0 or -1 to itself; NaN wins a max.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kdcu {
namespace ops {

Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);  // NaN for an empty tensor, as in PyTorch
Tensor mean(const Tensor& x, std::int64_t dim, bool keepdim = false);
// Throws ShapeError when the dim is empty (a max of nothing has no value).
Tensor max(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);  // i64, the first index on ties

// How an op over `dim` sees a contiguous tensor: (outer, n, inner) with n = shape[dim], and the
// shape with that dim reduced (kept as 1 when keepdim). Negative dims count from the end; a 0-d
// tensor is one element with dim 0 or -1 and reduces to shape []. Throws ShapeError naming `op`.
struct DimView {
  std::int64_t outer = 1, n = 1, inner = 1;
  Shape reduced;
};
DimView dim_view(const Shape& shape, std::int64_t dim, bool keepdim, const char* op);

}  // namespace ops
}  // namespace kdcu
