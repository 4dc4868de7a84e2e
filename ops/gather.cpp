// index_rows: check, allocate, dispatch to kernels/{cpu,cuda}/gather, record the node. Saved for
// backward: the indices (detached) and x's row count; nothing of x itself.
#include "ops/gather.h"

#include <cstdint>

#include "core/autograd.h"
#include "core/error.h"
#include "kernels/cpu/gather.h"
#include "kernels/cuda/gather.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

// The gradient of x [n, ...] from g [B, ...]: zeros, plus g's row k at row indices[k].
Tensor index_rows_grad(const Tensor& g, const Tensor& indices, const Shape& x_shape) {
  const char* op = "index_rows backward";
  Tensor gx = empty(x_shape, g.dtype(), g.device());
  const std::int64_t rows = indices.numel(), n = x_shape[0];
  const std::int64_t cols = n == 0 ? 0 : numel(x_shape) / n;
  visit_floating(g.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        g.device(),
        [&](auto) {
          kernels::cpu::index_rows_backward<T>(g.data<T>(), indices.data<std::int64_t>(), gx.data<T>(), rows, n, cols);
        },
        [&](auto) {
          kernels::cuda::index_rows_backward<T>(g.data<T>(), indices.data<std::int64_t>(), gx.data<T>(), rows, n, cols,
                                                g.device().index);
        });
  });
  return gx;
}

}  // namespace

Tensor index_rows(const Tensor& x, const Tensor& indices) {
  const char* op = "index_rows";
  check_defined(x, op, "x");
  check_defined(indices, op, "indices");
  check_same_device(x, indices, op);
  require<DTypeError>(indices.dtype() == DType::I64, op, ": indices must be i64, found ", dtype_name(indices.dtype()));
  require<ShapeError>(indices.dim() == 1, op, ": indices must be 1-D, found shape ", shape_str(indices.shape()));
  require<ShapeError>(x.dim() >= 1, op, ": x must have at least one dim (the rows), found a scalar");
  const std::int64_t n = x.size(0), rows = indices.numel();
  const std::int64_t cols = n == 0 ? 0 : x.numel() / n;
  if (x.device().is_cpu()) {
    const std::int64_t* idx = indices.data<std::int64_t>();
    for (std::int64_t k = 0; k < rows; ++k)
      require<ValueError>(idx[k] >= 0 && idx[k] < n, op, ": index ", idx[k], " at position ", k, " is outside [0, ", n,
                          ") (x has ", n, " rows)");
  }
  Shape out_shape = x.shape();
  out_shape[0] = rows;
  Tensor y = empty(out_shape, x.dtype(), x.device());
  visit_any(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::index_rows<T>(x.data<T>(), indices.data<std::int64_t>(), y.data<T>(), rows, n, cols);
        },
        [&](auto) {
          kernels::cuda::index_rows<T>(x.data<T>(), indices.data<std::int64_t>(), y.data<T>(), rows, n, cols,
                                       x.device().index);
        });
  });
  if (autograd::needs_graph({x})) {
    const Tensor saved = indices.detach();
    const Shape x_shape = x.shape();
    autograd::record(y, op, {x}, [saved, x_shape](const Tensor& g, const std::vector<bool>&) -> Grads {
      return {index_rows_grad(g, saved, x_shape)};
    });
  }
  return y;
}

}  // namespace ops
}  // namespace kdcu
