// Cross-entropy and MSE: check, allocate, dispatch to kernels/{cpu,cuda}/loss, record the node. A
// scalar reduction reduces the per-row (or per-element) losses with a fixed-order sum. Saved for
// backward: the logits / inputs themselves and the labels. The KD losses are in kd_loss.cpp.
#include "ops/loss.h"

#include <cmath>
#include <optional>
#include <type_traits>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/reduce.h"
#include "kernels/dispatch.h"
#include "ops/loss_util.h"

namespace kdcu {
namespace ops {
namespace {

void check_not_batchmean(Reduction r, const char* op) {
  require<ValueError>(r != Reduction::BatchMean, op, ": reduction 'batchmean' is not valid here (expected one of ",
                      "'none', 'mean', 'sum'); batchmean is for kd_kl_div");
}

// Gradient to the logits; g is the upstream gradient, one per row (stride 1) or one (stride 0).
Tensor cross_entropy_grad(const Tensor& x, const Tensor& labels, const Tensor& g, std::int64_t stride, double scale,
                          std::int64_t N, std::int64_t C, double label_smoothing) {
  Tensor dx = empty_like(x);
  visit_floating(x.dtype(), "cross_entropy backward", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::cross_entropy_backward<T>(x.data<T>(), labels.data<std::int64_t>(), g.data<T>(), stride,
                                                  T(scale), dx.data<T>(), N, C, T(label_smoothing));
        },
        [&](auto) {
          kernels::cuda::cross_entropy_backward<T>(x.data<T>(), labels.data<std::int64_t>(), g.data<T>(), stride,
                                                   T(scale), dx.data<T>(), N, C, T(label_smoothing), x.device().index);
        });
  });
  return dx;
}

// Gradients to input and target, each only where `needs` asks for it.
Grads mse_grads(const Tensor& x, const Tensor& t, const Tensor& g, std::int64_t stride, double scale, std::int64_t n,
                const std::vector<bool>& needs) {
  Grads grads(2);
  if (needs[0]) grads[0] = empty_like(x);
  if (needs[1]) grads[1] = empty_like(t);
  visit_floating(x.dtype(), "mse_loss backward", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        x.device(),
        [&](auto) {
          kernels::cpu::mse_backward<T>(x.data<T>(), t.data<T>(), g.data<T>(), stride, T(scale),
                                        needs[0] ? grads[0].data<T>() : nullptr,
                                        needs[1] ? grads[1].data<T>() : nullptr, n);
        },
        [&](auto) {
          kernels::cuda::mse_backward<T>(x.data<T>(), t.data<T>(), g.data<T>(), stride, T(scale),
                                         needs[0] ? grads[0].data<T>() : nullptr,
                                         needs[1] ? grads[1].data<T>() : nullptr, n, x.device().index);
        });
  });
  return grads;
}

}  // namespace

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None:
      return "none";
    case Reduction::Mean:
      return "mean";
    case Reduction::Sum:
      return "sum";
    case Reduction::BatchMean:
      return "batchmean";
  }
  return "?";
}

Reduction parse_reduction(const std::string& name) {
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean})
    if (name == reduction_name(r)) return r;
  throw ValueError(cat("unknown reduction '", name, "' (expected one of 'none', 'mean', 'sum', 'batchmean')"));
}

// --------------------------------------------------------------------------- cross-entropy

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing, Reduction reduction) {
  const char* op = "cross_entropy";
  check_defined(logits, op, "logits");
  check_defined(labels, op, "labels");
  check_floating(logits, op);
  require<ShapeError>(logits.dim() == 2, op, ": expected logits of shape [N, C], found ", shape_str(logits.shape()));
  const std::int64_t N = logits.size(0), C = logits.size(1);
  detail::check_class_labels(labels, logits, op);
  require<ValueError>(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
                      ": label_smoothing must be in [0, 1], found ", label_smoothing);
  check_not_batchmean(reduction, op);

  Tensor rows = empty({N}, logits.dtype(), logits.device());
  visit_floating(logits.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        logits.device(),
        [&](auto) {
          const std::int64_t* y = detail::cpu_checked_labels(labels, N, C, op);
          kernels::cpu::cross_entropy_forward<T>(logits.data<T>(), y, rows.data<T>(), N, C, T(label_smoothing));
        },
        [&](auto) {
          // No check here: its answer would have to come back to the host (a wait on the device's
          // stream). A bad label's row is NaN, and check_deferred_label_errors reports it.
          kernels::cuda::cross_entropy_forward<T>(logits.data<T>(), labels.data<std::int64_t>(), rows.data<T>(), N, C,
                                                  T(label_smoothing), logits.device().index);
        });
  });
  const double scale = detail::reduction_scale(reduction, N, N);
  Tensor out = reduction == Reduction::None ? rows : detail::reduce_parts(rows, scale, op);
  if (autograd::needs_graph({logits})) {
    const std::int64_t stride = reduction == Reduction::None ? 1 : 0;
    autograd::record(out, op, {logits},
                     [N, C, label_smoothing, scale, stride, x_ = logits.detach(), y_ = labels.detach()](
                         const Tensor& g, const std::vector<bool>&) -> Grads {
                       return {cross_entropy_grad(x_, y_, g, stride, scale, N, C, label_smoothing)};
                     });
  }
  return out;
}

void check_deferred_label_errors(const Device& device) {
  if (!device.is_cuda() || !kdcu::cuda::available()) return;  // the CPU checks at the call
  kernels::on_device(
      device, [](auto) {},
      [&](auto) {
        const std::optional<kernels::cuda::LabelError> e = kernels::cuda::take_label_error(device.index);
        if (e)
          throw ValueError(cat("cross_entropy: label ", e->label, " in row ", e->row, " is out of range for ",
                               e->classes, " classes (expected 0 <= label < ", e->classes, ")"));
      });
}

// --------------------------------------------------------------------------- mean squared error

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const char* op = "mse_loss";
  check_defined(input, op, "input");
  check_defined(target, op, "target");
  check_floating(input, op);
  check_same_dtype(input, target, op);
  check_same_device(input, target, op);
  check_same_shape(input, target, op);
  check_not_batchmean(reduction, op);

  const std::int64_t n = input.numel();
  const double scale = detail::reduction_scale(reduction, n, n);
  Tensor out = reduction == Reduction::None ? empty_like(input) : empty({}, input.dtype(), input.device());
  visit_floating(input.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        input.device(),
        [&](auto) {
          if (reduction == Reduction::None)
            kernels::cpu::mse_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n);
          else
            kernels::cpu::mse_sum_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(scale));
        },
        [&](auto) {
          if (reduction == Reduction::None)
            kernels::cuda::mse_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, input.device().index);
          else
            kernels::cuda::mse_sum_forward<T>(input.data<T>(), target.data<T>(), out.data<T>(), n, T(scale),
                                              input.device().index);
        });
  });
  if (autograd::needs_graph({input, target})) {
    const std::int64_t stride = reduction == Reduction::None ? 1 : 0;
    autograd::record(out, op, {input, target},
                     [n, scale, stride, x_ = input.detach(), t_ = target.detach()](
                         const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       return mse_grads(x_, t_, g, stride, scale, n, needs);
                     });
  }
  return out;
}

}  // namespace ops
}  // namespace kdcu
