// Losses: check, allocate, dispatch to kernels/cpu/loss, record the node. A scalar reduction
// reduces the per-row (or per-element) losses with the chunked, thread-count-independent sum of
// kernels/cpu/reduce. Saved for backward: the logits / inputs themselves and the labels.
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
#include "ops/softmax.h"

namespace kdcu {
namespace ops {
namespace {

void check_not_batchmean(Reduction r, const char* op) {
  require<ValueError>(r != Reduction::BatchMean, op, ": reduction 'batchmean' is not valid here (expected one of ",
                      "'none', 'mean', 'sum'); batchmean is for kd_kl_div");
}

// The factor a scalar reduction applies to the sum of the loss elements; `count` is what Mean
// divides by. 1/0 = inf makes an empty mean NaN, as in PyTorch.
double reduction_scale(Reduction r, std::int64_t count, std::int64_t batch) {
  switch (r) {
    case Reduction::Mean:
      return 1.0 / static_cast<double>(count);
    case Reduction::BatchMean:
      return 1.0 / static_cast<double>(batch);
    default:
      return 1.0;
  }
}

// scale * (sum of every element of `parts`) as a 0-d tensor.
Tensor reduce_parts(const Tensor& parts, double scale, const char* op) {
  Tensor out = empty({}, parts.dtype(), parts.device());
  visit_floating(parts.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        parts.device(),
        [&](auto) { kernels::cpu::sum_all_forward<T>(parts.data<T>(), out.data<T>(), parts.numel(), T(scale)); },
        [&](auto) {
          kernels::cuda::sum_all_forward<T>(parts.data<T>(), out.data<T>(), parts.numel(), T(scale),
                                            parts.device().index);
        });
  });
  return out;
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

// Gradients to the student and (when it requires grad) the teacher, recomputed from the logits.
Grads kd_kl_div_grads(const Tensor& s, const Tensor& t, const Tensor& stats, const Tensor& g, std::int64_t stride,
                      double scale, std::int64_t B, std::int64_t C, double temperature,
                      const std::vector<bool>& needs) {
  Grads grads(2);
  if (needs[0]) grads[0] = empty_like(s);
  if (needs[1]) grads[1] = empty_like(t);
  visit_floating(s.dtype(), "kd_kl_div backward", [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        s.device(),
        [&](auto) {
          kernels::cpu::kd_kl_div_backward<T>(s.data<T>(), t.data<T>(), stats.data<double>(), g.data<T>(), stride,
                                              T(scale), needs[0] ? grads[0].data<T>() : nullptr,
                                              needs[1] ? grads[1].data<T>() : nullptr, B, C, T(temperature));
        },
        [&](auto) {
          kernels::cuda::kd_kl_div_backward<T>(s.data<T>(), t.data<T>(), stats.data<double>(), g.data<T>(), stride,
                                               T(scale), needs[0] ? grads[0].data<T>() : nullptr,
                                               needs[1] ? grads[1].data<T>() : nullptr, B, C, T(temperature),
                                               s.device().index);
        });
  });
  return grads;
}

[[noreturn]] void cuda_f32_only(const char* op) {  // kernels/cuda's f32_only message, for the non-template kd_hard
  throw DTypeError(cat(op, ": the CUDA kernel supports f32 only, found f64; run f64 on the CPU ",
                       "(.to(Device::cpu())) or cast to f32 (.to(DType::F32))"));
}

// Gradient to the student of kd_hard_loss, from the logits, labels and the forward's (B, 5) stats.
Tensor kd_hard_grad(const Tensor& s, const Tensor& t, const Tensor& labels, const Tensor& stats, const Tensor& g,
                    std::int64_t stride, double scale, std::int64_t B, std::int64_t C, double temperature,
                    double alpha) {
  Tensor ds = empty_like(s);
  const char* op = "kd_hard_loss backward";
  visit_floating(s.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        s.device(),
        [&](auto) {
          kernels::cpu::kd_hard_backward<T>(s.data<T>(), t.data<T>(), labels.data<std::int64_t>(), stats.data<double>(),
                                            g.data<T>(), stride, T(scale), ds.data<T>(), B, C, T(temperature),
                                            T(alpha));
        },
        [&](auto) {
          if constexpr (std::is_same_v<T, float>)
            kernels::cuda::kd_hard_backward(s.data<float>(), t.data<float>(), labels.data<std::int64_t>(),
                                            stats.data<double>(), g.data<float>(), stride, static_cast<float>(scale),
                                            ds.data<float>(), B, C, static_cast<float>(temperature),
                                            static_cast<float>(alpha), s.device().index);
          else
            cuda_f32_only(op);
        });
  });
  return ds;
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

namespace {

// The labels of a CPU loss, every one checked to lie in [0, C): a ValueError names the first bad
// one and its row (the CUDA kernels mark such rows NaN instead; check_deferred_label_errors).
const std::int64_t* cpu_checked_labels(const Tensor& labels, std::int64_t N, std::int64_t C, const char* op) {
  const std::int64_t* y = labels.data<std::int64_t>();
  const std::int64_t bad = kernels::cpu::first_bad_label(y, N, C);
  require<ValueError>(bad < 0, op, ": label ", bad < 0 ? 0 : y[bad], " in row ", bad, " is out of range for ", C,
                      " classes (expected 0 <= label < ", C, ")");
  return y;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing, Reduction reduction) {
  const char* op = "cross_entropy";
  check_defined(logits, op, "logits");
  check_defined(labels, op, "labels");
  check_floating(logits, op);
  require<ShapeError>(logits.dim() == 2, op, ": expected logits of shape [N, C], found ", shape_str(logits.shape()));
  const std::int64_t N = logits.size(0), C = logits.size(1);
  require<DTypeError>(labels.dtype() == DType::I64, op, ": expected labels of dtype i64 (class indices), found ",
                      dtype_name(labels.dtype()));
  require<ShapeError>(labels.shape() == Shape{N}, op, ": expected labels of shape [", N, "] for logits ",
                      shape_str(logits.shape()), ", found ", shape_str(labels.shape()));
  check_same_device(logits, labels, op);
  require<ValueError>(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
                      ": label_smoothing must be in [0, 1], found ", label_smoothing);
  check_not_batchmean(reduction, op);

  Tensor rows = empty({N}, logits.dtype(), logits.device());
  visit_floating(logits.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        logits.device(),
        [&](auto) {
          const std::int64_t* y = cpu_checked_labels(labels, N, C, op);
          kernels::cpu::cross_entropy_forward<T>(logits.data<T>(), y, rows.data<T>(), N, C, T(label_smoothing));
        },
        [&](auto) {
          // No check here: its answer would have to come back to the host (a wait on the device's
          // stream). A bad label's row is NaN, and check_deferred_label_errors reports it.
          kernels::cuda::cross_entropy_forward<T>(logits.data<T>(), labels.data<std::int64_t>(), rows.data<T>(), N, C,
                                                  T(label_smoothing), logits.device().index);
        });
  });
  const double scale = reduction_scale(reduction, N, N);
  Tensor out = reduction == Reduction::None ? rows : reduce_parts(rows, scale, op);
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
  const double scale = reduction_scale(reduction, n, n);
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

namespace {

// Student and teacher logits of a KD loss: both defined, [B, C] floating, same shape, dtype, device.
void check_logit_pair(const Tensor& s, const Tensor& t, const char* op) {
  check_defined(s, op, "student_logits");
  check_defined(t, op, "teacher_logits");
  check_floating(s, op);
  require<ShapeError>(s.dim() == 2, op, ": expected student logits of shape [B, C], found ", shape_str(s.shape()));
  require<ShapeError>(s.shape() == t.shape(), op, ": expected teacher logits of the student's shape ",
                      shape_str(s.shape()), ", found ", shape_str(t.shape()));
  check_same_dtype(s, t, op);
  check_same_device(s, t, op);
}

}  // namespace

// --------------------------------------------------------------------------- KD (KL divergence)

Tensor kd_kl_div(const Tensor& student_logits, const Tensor& teacher_logits, double temperature, Reduction reduction) {
  const char* op = "kd_kl_div";
  const Tensor &s = student_logits, &t = teacher_logits;
  check_logit_pair(s, t, op);
  check_temperature(temperature, op);

  const std::int64_t B = s.size(0), C = s.size(1);
  const double scale = reduction_scale(reduction, B * C, B);
  const bool elementwise = reduction == Reduction::None;
  Tensor parts = elementwise ? empty_like(s) : empty({B}, s.dtype(), s.device());
  // Each row's max and log-sum-exp of s and t, kept so the backward needs no second pass for them.
  const bool graph = autograd::needs_graph({s, t});
  const Tensor stats = graph ? empty({B, 4}, DType::F64, s.device()) : Tensor();
  visit_floating(s.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        s.device(),
        [&](auto) {
          kernels::cpu::kd_kl_div_forward<T>(s.data<T>(), t.data<T>(), elementwise ? nullptr : parts.data<T>(),
                                             elementwise ? parts.data<T>() : nullptr,
                                             graph ? stats.data<double>() : nullptr, B, C, T(temperature));
        },
        [&](auto) {
          kernels::cuda::kd_kl_div_forward<T>(s.data<T>(), t.data<T>(), elementwise ? nullptr : parts.data<T>(),
                                              elementwise ? parts.data<T>() : nullptr,
                                              graph ? stats.data<double>() : nullptr, B, C, T(temperature),
                                              s.device().index);
        });
  });
  Tensor out = elementwise ? parts : reduce_parts(parts, scale, op);
  if (graph) {
    const std::int64_t stride = elementwise ? 1 : 0;
    autograd::record(out, op, {s, t},
                     [B, C, temperature, scale, stride, stats, s_ = s.detach(), t_ = t.detach()](
                         const Tensor& g, const std::vector<bool>& needs) -> Grads {
                       return kd_kl_div_grads(s_, t_, stats, g, stride, scale, B, C, temperature, needs);
                     });
  }
  return out;
}

// --------------------------------------------------------------------------- hard-label KD

Tensor kd_hard_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                    double temperature, double alpha, Reduction reduction) {
  const char* op = "kd_hard_loss";
  const Tensor &s = student_logits, &t = teacher_logits;
  check_logit_pair(s, t, op);
  check_defined(labels, op, "labels");
  const std::int64_t B = s.size(0), C = s.size(1);
  require<DTypeError>(labels.dtype() == DType::I64, op, ": expected labels of dtype i64 (class indices), found ",
                      dtype_name(labels.dtype()));
  require<ShapeError>(labels.shape() == Shape{B}, op, ": expected labels of shape [", B, "] for logits ",
                      shape_str(s.shape()), ", found ", shape_str(labels.shape()));
  check_same_device(s, labels, op);
  check_temperature(temperature, op);
  require<ValueError>(alpha >= 0.0 && alpha <= 1.0, op, ": alpha must be in [0, 1], found ", alpha);
  require<ValueError>(reduction != Reduction::Mean, op,
                      ": reduction 'mean' is not valid here (expected one of 'batchmean', 'sum', 'none'); ",
                      "the loss is a mean over rows, which is 'batchmean'");
  require<AutogradError>(!autograd::needs_graph({t}), op,
                         ": the teacher logits get no gradient from this loss, but they require grad; pass ",
                         "teacher_logits.detach(), or use kd_kl_div + cross_entropy for a teacher gradient");

  Tensor rows = empty({B}, s.dtype(), s.device());
  const bool graph = autograd::needs_graph({s});
  // Each row's (max s, lse of s/T, max t, lse of t/T, lse of s), so the backward needs no reduction.
  const Tensor stats = graph ? empty({B, 5}, DType::F64, s.device()) : Tensor();
  visit_floating(s.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        s.device(),
        [&](auto) {
          const std::int64_t* y = cpu_checked_labels(labels, B, C, op);
          kernels::cpu::kd_hard_forward<T>(s.data<T>(), t.data<T>(), y, rows.data<T>(),
                                           graph ? stats.data<double>() : nullptr, B, C, T(temperature), T(alpha));
        },
        [&](auto) {
          // As in cross_entropy: no label check here (it would wait for the device); a bad label's
          // row is NaN and check_deferred_label_errors reports it.
          if constexpr (std::is_same_v<T, float>)
            kernels::cuda::kd_hard_forward(s.data<float>(), t.data<float>(), labels.data<std::int64_t>(),
                                           rows.data<float>(), graph ? stats.data<double>() : nullptr, B, C,
                                           static_cast<float>(temperature), static_cast<float>(alpha),
                                           s.device().index);
          else
            cuda_f32_only(op);
        });
  });
  const double scale = reduction_scale(reduction, B, B);
  Tensor out = reduction == Reduction::None ? rows : reduce_parts(rows, scale, op);
  if (graph) {
    const std::int64_t stride = reduction == Reduction::None ? 1 : 0;
    autograd::record(out, op, {s},
                     [B, C, temperature, alpha, scale, stride, stats, s_ = s.detach(), t_ = t.detach(),
                      y_ = labels.detach()](const Tensor& g, const std::vector<bool>&) -> Grads {
                       return {kd_hard_grad(s_, t_, y_, stats, g, stride, scale, B, C, temperature, alpha)};
                     });
  }
  return out;
}

}  // namespace ops
}  // namespace kdcu
