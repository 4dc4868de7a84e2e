// Reductions: check, allocate, dispatch to kernels/cpu/reduce, record the backward node. Sum and
// mean keep only the input's shape for backward (their gradient is a broadcast); max keeps the
// argmax indices.
#include "ops/reduce.h"

#include "core/autograd.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/reduce.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

void check_input(const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  check_floating(x, op);
}

// sum (scale 1) or mean (scale 1/numel) of every element, as a 0-d tensor.
Tensor reduce_all(const Tensor& x, bool mean, const char* op) {
  check_input(x, op);
  const std::int64_t n = x.numel();
  // 1/0 = inf makes the mean of nothing 0 * inf = NaN, PyTorch's answer.
  const double scale = mean ? 1.0 / static_cast<double>(n) : 1.0;
  Tensor y = empty({}, x.dtype(), x.device());
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(), [&](auto) { kernels::cpu::sum_all_forward<T>(x.data<T>(), y.data<T>(), n, T(scale)); },
        [&](auto) { kernels::cuda::sum_all_forward<T>(x.data<T>(), y.data<T>(), n, T(scale), x.device().index); });
  });
  autograd::record(y, op, {x}, [op, scale, shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
    Tensor dx = empty(shape, g.dtype(), g.device());
    visit_floating(g.dtype(), op, [&](auto zero) {
      using T = decltype(zero);
      kernels::on_device(
          g.device(), [&](auto) { kernels::cpu::sum_all_backward<T>(g.data<T>(), dx.data<T>(), dx.numel(), T(scale)); },
          [&](auto) {
            kernels::cuda::sum_all_backward<T>(g.data<T>(), dx.data<T>(), dx.numel(), T(scale), g.device().index);
          });
    });
    return {dx};
  });
  return y;
}

// sum (scale 1) or mean (scale 1/n) over one dim.
Tensor reduce_dim(const Tensor& x, std::int64_t dim, bool keepdim, bool mean, const char* op) {
  check_input(x, op);
  const DimView v = dim_view(x.shape(), dim, keepdim, op);
  const double scale = mean ? 1.0 / static_cast<double>(v.n) : 1.0;
  Tensor y = empty(v.reduced, x.dtype(), x.device());
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) { kernels::cpu::sum_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(scale)); },
        [&](auto) {
          kernels::cuda::sum_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(scale), x.device().index);
        });
  });
  autograd::record(y, op, {x}, [op, scale, v, shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
    Tensor dx = empty(shape, g.dtype(), g.device());
    visit_floating(g.dtype(), op, [&](auto zero) {
      using T = decltype(zero);
      kernels::on_device(
          g.device(),
          [&](auto) { kernels::cpu::sum_backward<T>(g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner, T(scale)); },
          [&](auto) {
            kernels::cuda::sum_backward<T>(g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner, T(scale),
                                           g.device().index);
          });
    });
    return {dx};
  });
  return y;
}

// Values (when `values` is defined) and the first argmax indices over one dim.
Tensor max_indices(const Tensor& x, const DimView& v, Tensor values, const char* op) {
  Tensor idx = empty(v.reduced, DType::I64, x.device());
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::max_forward<T>(x.data<T>(), values.defined() ? values.data<T>() : nullptr,
                                       idx.data<std::int64_t>(), v.outer, v.n, v.inner);
        },
        [&](auto) {
          kernels::cuda::max_forward<T>(x.data<T>(), values.defined() ? values.data<T>() : nullptr,
                                        idx.data<std::int64_t>(), v.outer, v.n, v.inner, x.device().index);
        });
  });
  return idx;
}

DimView checked_max_view(const Tensor& x, std::int64_t dim, bool keepdim, const char* op) {
  check_input(x, op);
  const DimView v = dim_view(x.shape(), dim, keepdim, op);
  require<ShapeError>(v.n > 0, op, ": cannot reduce over dim ", dim, " of shape ", shape_str(x.shape()),
                      " (expected a non-empty dim, found size 0)");
  return v;
}

}  // namespace

DimView dim_view(const Shape& shape, std::int64_t dim, bool keepdim, const char* op) {
  const std::int64_t ndim = static_cast<std::int64_t>(shape.size());
  DimView v;
  if (ndim == 0) {  // PyTorch treats a scalar as one element along dim 0 (or -1)
    normalize_dim(dim, 1, op);
    return v;
  }
  const std::int64_t d = normalize_dim(dim, ndim, op);
  for (std::int64_t i = 0; i < d; ++i) v.outer *= shape[static_cast<size_t>(i)];
  v.n = shape[static_cast<size_t>(d)];
  for (std::int64_t i = d + 1; i < ndim; ++i) v.inner *= shape[static_cast<size_t>(i)];
  v.reduced = shape;
  if (keepdim)
    v.reduced[static_cast<size_t>(d)] = 1;
  else
    v.reduced.erase(v.reduced.begin() + d);
  return v;
}

Tensor sum(const Tensor& x) {
  return reduce_all(x, false, "sum");
}
Tensor mean(const Tensor& x) {
  return reduce_all(x, true, "mean");
}
Tensor sum(const Tensor& x, std::int64_t dim, bool keepdim) {
  return reduce_dim(x, dim, keepdim, false, "sum");
}
Tensor mean(const Tensor& x, std::int64_t dim, bool keepdim) {
  return reduce_dim(x, dim, keepdim, true, "mean");
}

Tensor max(const Tensor& x, std::int64_t dim, bool keepdim) {
  const DimView v = checked_max_view(x, dim, keepdim, "max");
  Tensor y = empty(v.reduced, x.dtype(), x.device());
  const Tensor idx = max_indices(x, v, y, "max");
  autograd::record(y, "max", {x}, [v, idx, shape = x.shape()](const Tensor& g, const std::vector<bool>&) -> Grads {
    Tensor dx = empty(shape, g.dtype(), g.device());
    visit_floating(g.dtype(), "max backward", [&](auto zero) {
      using T = decltype(zero);
      kernels::on_device(
          g.device(),
          [&](auto) {
            kernels::cpu::max_backward<T>(g.data<T>(), idx.data<std::int64_t>(), dx.data<T>(), v.outer, v.n, v.inner);
          },
          [&](auto) {
            kernels::cuda::max_backward<T>(g.data<T>(), idx.data<std::int64_t>(), dx.data<T>(), v.outer, v.n, v.inner,
                                           g.device().index);
          });
    });
    return {dx};
  });
  return y;
}

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  const DimView v = checked_max_view(x, dim, keepdim, "argmax");
  return max_indices(x, v, Tensor(), "argmax");
}

}  // namespace ops
}  // namespace kdcu
