// transpose: check, allocate, dispatch to kernels/cpu/transpose, record the node. The backward
// runs the same kernel on the gradient with the two extents exchanged (no autograd inside).
#include "ops/shape.h"

#include <utility>

#include "core/autograd.h"
#include "kernels/cpu/transpose.h"
#include "kernels/cuda/transpose.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

// x (shape `shape`) with dims d0 < d1 swapped, without autograd; `op` names the caller in errors.
Tensor transpose_copy(const Tensor& x, std::int64_t d0, std::int64_t d1, const char* op) {
  const Shape& shape = x.shape();
  std::int64_t outer = 1, mid = 1, inner = 1;
  for (std::int64_t i = 0; i < d0; ++i) outer *= shape[static_cast<size_t>(i)];
  for (std::int64_t i = d0 + 1; i < d1; ++i) mid *= shape[static_cast<size_t>(i)];
  for (std::int64_t i = d1 + 1; i < x.dim(); ++i) inner *= shape[static_cast<size_t>(i)];
  const std::int64_t a = shape[static_cast<size_t>(d0)], b = shape[static_cast<size_t>(d1)];
  Shape out_shape = shape;
  std::swap(out_shape[static_cast<size_t>(d0)], out_shape[static_cast<size_t>(d1)]);
  Tensor y = empty(out_shape, x.dtype(), x.device());
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::transpose<T>(x.data<T>(), y.data<T>(), outer, a, mid, b, inner); },
        [&](auto) {
          kernels::cuda::transpose<T>(x.data<T>(), y.data<T>(), outer, a, mid, b, inner, x.device().index);
        });
  });
  return y;
}

}  // namespace

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  const char* op = "transpose";
  check_defined(x, op, "x");
  check_floating(x, op);
  std::int64_t d0 = normalize_dim(dim0, x.dim(), op), d1 = normalize_dim(dim1, x.dim(), op);
  if (d0 == d1) return x.clone();
  if (d0 > d1) std::swap(d0, d1);
  Tensor y = transpose_copy(x, d0, d1, op);
  if (autograd::needs_graph({x})) {
    // The gradient has y's shape; swapping the same two dims back gives x's layout.
    autograd::record(y, op, {x}, [d0, d1](const Tensor& g, const std::vector<bool>&) -> Grads {
      return {transpose_copy(g, d0, d1, "transpose backward")};
    });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
