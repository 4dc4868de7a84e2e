// smooth_l1_loss: check, allocate, dispatch to kernels/cpu/smooth_l1, record the node. Saved for
// backward: the input and target themselves (detached), beta and the reduction's scale.
#include "ops/smooth_l1.h"

#include <cmath>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/smooth_l1.h"
#include "kernels/cuda/smooth_l1.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace ops {
namespace {

// Gradients to input and target, each only where `needs` asks for it.
Grads smooth_l1_grads(const Tensor& x, const Tensor& t, const Tensor& g, std::int64_t stride, double scale, double beta,
                      const std::vector<bool>& needs) {
  const char* op = "smooth_l1_loss backward";
  Grads grads(2);
  if (needs[0]) grads[0] = empty_like(x);
  if (needs[1]) grads[1] = empty_like(t);
  visit_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::smooth_l1_backward<T>(x.data<T>(), t.data<T>(), g.data<T>(), stride, T(scale),
                                              needs[0] ? grads[0].data<T>() : nullptr,
                                              needs[1] ? grads[1].data<T>() : nullptr, x.numel(), T(beta));
        },
        [&](auto) {
          kernels::cuda::smooth_l1_backward<T>(
              x.data<T>(), t.data<T>(), g.data<T>(), stride, T(scale), needs[0] ? grads[0].data<T>() : nullptr,
              needs[1] ? grads[1].data<T>() : nullptr, x.numel(), T(beta), x.device().index);
        });
  });
  return grads;
}

}  // namespace

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, double beta, Reduction reduction) {
  const char* op = "smooth_l1_loss";
  check_defined(input, op, "input");
  check_defined(target, op, "target");
  check_floating(input, op);
  check_same_dtype(input, target, op);
  check_same_device(input, target, op);
  check_same_shape(input, target, op);
  require<ValueError>(std::isfinite(beta) && beta >= 0.0, op, ": beta must be finite and >= 0, found ", beta);
  require<ValueError>(reduction != Reduction::BatchMean, op,
                      ": reduction 'batchmean' is not valid here (expected one of 'none', 'mean', 'sum')");

  const std::int64_t n = input.numel();
  // 1/0 = inf makes an empty mean NaN, as in PyTorch.
  const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(n) : 1.0;
  const bool elementwise = reduction == Reduction::None;
  Tensor out = elementwise ? empty_like(input) : empty({}, input.dtype(), input.device());
  visit_floating(input.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        input.device(),
        [&](auto) {
          if (elementwise)
            kernels::cpu::smooth_l1_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(beta));
          else
            kernels::cpu::smooth_l1_sum_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(beta),
                                                   T(scale));
        },
        [&](auto) {
          const int dev = input.device().index;
          if (elementwise)
            kernels::cuda::smooth_l1_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(beta), dev);
          else
            kernels::cuda::smooth_l1_sum_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(beta),
                                                    T(scale), dev);
        });
  });
  if (autograd::needs_graph({input, target})) {
    const std::int64_t stride = elementwise ? 1 : 0;
    autograd::record(out, op, {input, target},
                     [scale, stride, beta, x_ = input.detach(), t_ = target.detach()](
                         const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       return smooth_l1_grads(x_, t_, g, stride, scale, beta, needs);
                     });
  }
  return out;
}

}  // namespace ops
}  // namespace kdcu
