// softmax / log_softmax: check, allocate, dispatch to kernels/cpu/softmax, record the node.
// The backward node keeps the output y (and 1/T): both gradients are functions of y alone.
#include "ops/softmax.h"

#include <cmath>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"
#include "kernels/dispatch.h"
#include "ops/reduce.h"

namespace kdcu {
namespace ops {
namespace {

// dx from the forward's output y and the upstream gradient g.
Tensor softmax_grad(const Tensor& y, const Tensor& g, const DimView& v, double inv_t, bool log, const char* op) {
  Tensor dx = empty_like(g);
  visit_floating(g.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        g.device(),
        [&](auto) {
          if (log)
            kernels::cpu::log_softmax_backward<T>(y.data<T>(), g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner,
                                                  T(inv_t));
          else
            kernels::cpu::softmax_backward<T>(y.data<T>(), g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner, T(inv_t));
        },
        [&](auto) {
          if (log)
            kernels::cuda::log_softmax_backward<T>(y.data<T>(), g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner,
                                                   T(inv_t), g.device().index);
          else
            kernels::cuda::softmax_backward<T>(y.data<T>(), g.data<T>(), dx.data<T>(), v.outer, v.n, v.inner, T(inv_t),
                                               g.device().index);
        });
  });
  return dx;
}

Tensor softmax_impl(const Tensor& x, std::int64_t dim, double temperature, bool log, const char* op) {
  check_defined(x, op, "x");
  check_floating(x, op);
  check_temperature(temperature, op);
  const DimView v = dim_view(x.shape(), dim, false, op);
  const double inv_t = 1.0 / temperature;
  Tensor y = empty_like(x);
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          if (log)
            kernels::cpu::log_softmax_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(inv_t));
          else
            kernels::cpu::softmax_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(inv_t));
        },
        [&](auto) {
          if (log)
            kernels::cuda::log_softmax_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(inv_t),
                                                  x.device().index);
          else
            kernels::cuda::softmax_forward<T>(x.data<T>(), y.data<T>(), v.outer, v.n, v.inner, T(inv_t),
                                              x.device().index);
        });
  });
  if (autograd::needs_graph({x})) {
    autograd::record(y, op, {x},
                     [op, log, v, inv_t, y_ = y.detach()](const Tensor& g, const std::vector<bool>&) -> Grads {
                       return {softmax_grad(y_, g, v, inv_t, log, op)};
                     });
  }
  return y;
}

}  // namespace

void check_temperature(double temperature, const char* op) {
  require<ValueError>(std::isfinite(temperature) && temperature > 0.0, op,
                      ": temperature must be finite and > 0, found ", temperature);
}

Tensor softmax(const Tensor& x, std::int64_t dim, double temperature) {
  return softmax_impl(x, dim, temperature, false, "softmax");
}

Tensor log_softmax(const Tensor& x, std::int64_t dim, double temperature) {
  return softmax_impl(x, dim, temperature, true, "log_softmax");
}

}  // namespace ops
}  // namespace kdcu
