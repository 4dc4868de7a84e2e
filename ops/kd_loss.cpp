// The KD losses: check, allocate, dispatch to kernels/{cpu,cuda}/kd_loss, record the node.
//
// A scalar loss whose teacher needs no gradient (the training case) takes the fused path: one
// kernel call computes the loss and writes the student's gradient for an upstream gradient of 1,
// and the node's backward hands that gradient over as it is when the upstream is known to be 1
// (autograd::uniform_value: loss.backward(), or a sum of losses with weight 1), scales it by a
// known weight, or multiplies it by the upstream tensor otherwise. The unreduced loss and a teacher
// that requires grad take a forward that keeps each row's stats and a backward that recomputes
// from the logits.
#include <type_traits>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/kd_loss.h"
#include "kernels/cuda/kd_loss.h"
#include "kernels/dispatch.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/loss_util.h"
#include "ops/softmax.h"

namespace kdcu {
namespace ops {
namespace {

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
            detail::cuda_f32_only(op);
        });
  });
  return ds;
}

// The fused kernel's gradient (written for an upstream gradient of 1) times the upstream g, a scalar.
Tensor times_upstream(Tensor ds, const Tensor& g) {
  if (const std::optional<double> u = autograd::uniform_value(g)) return *u == 1.0 ? ds : mul(ds, *u);
  return mul(ds, g);  // g is 0-d: broadcast
}

// One kd_fused call: the scalar loss (in the graph when the student requires grad) and, for the
// hard-label form, the KD and CE parts (detached). labels undefined: pure KD (alpha 1).
KdHardParts fused_loss(const Tensor& s, const Tensor& t, const Tensor& labels, double temperature, double alpha,
                       double scale, const char* op) {
  const std::int64_t B = s.size(0), C = s.size(1);
  const bool hard = labels.defined(), graph = autograd::needs_graph({s});
  KdHardParts r;
  r.total = empty({}, s.dtype(), s.device());
  if (hard) r.kd = empty({}, s.dtype(), s.device()), r.ce = empty({}, s.dtype(), s.device());
  Tensor ds = graph ? empty_like(s) : Tensor();
  visit_floating(s.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    T* const total = r.total.data<T>();
    T* const kd = hard ? r.kd.data<T>() : nullptr;
    T* const ce = hard ? r.ce.data<T>() : nullptr;
    T* const d = graph ? ds.data<T>() : nullptr;
    kernels::on_device(
        s.device(),
        [&](auto) {
          const std::int64_t* y = hard ? detail::cpu_checked_labels(labels, B, C, op) : nullptr;
          kernels::cpu::kd_fused<T>(s.data<T>(), t.data<T>(), y, total, kd, ce, d, B, C, T(temperature), T(alpha),
                                    T(scale));
        },
        [&](auto) {
          // No label check here (it would wait for the device): a bad label's row is NaN and
          // check_deferred_label_errors reports it.
          if constexpr (std::is_same_v<T, float>)
            kernels::cuda::kd_fused(s.data<float>(), t.data<float>(), hard ? labels.data<std::int64_t>() : nullptr,
                                    total, kd, ce, d, B, C, static_cast<float>(temperature), static_cast<float>(alpha),
                                    static_cast<float>(scale), s.device().index);
          else
            detail::cuda_f32_only(op);
        });
  });
  if (graph) {
    autograd::record(r.total, op, {s, t}, [ds](const Tensor& g, const std::vector<bool>&) mutable -> Grads {
      return {times_upstream(std::move(ds), g), Tensor()};
    });
  }
  return r;
}

// kd_hard_loss's arguments (errors name `op`).
void check_hard_args(const Tensor& s, const Tensor& t, const Tensor& labels, double temperature, double alpha,
                     const char* op) {
  detail::check_logit_pair(s, t, op);
  detail::check_class_labels(labels, s, op);
  check_temperature(temperature, op);
  require<ValueError>(alpha >= 0.0 && alpha <= 1.0, op, ": alpha must be in [0, 1], found ", alpha);
  require<AutogradError>(!autograd::needs_graph({t}), op,
                         ": the teacher logits get no gradient from this loss, but they require grad; pass ",
                         "teacher_logits.detach(), or use kd_kl_div + cross_entropy for a teacher gradient");
}

}  // namespace

// --------------------------------------------------------------------------- KD (KL divergence)

Tensor kd_kl_div(const Tensor& student_logits, const Tensor& teacher_logits, double temperature, Reduction reduction) {
  const char* op = "kd_kl_div";
  const Tensor &s = student_logits, &t = teacher_logits;
  detail::check_logit_pair(s, t, op);
  check_temperature(temperature, op);

  const std::int64_t B = s.size(0), C = s.size(1);
  const double scale = detail::reduction_scale(reduction, B * C, B);
  const bool elementwise = reduction == Reduction::None;
  if (!elementwise && !autograd::needs_graph({t})) return fused_loss(s, t, Tensor(), temperature, 1.0, scale, op).total;
  // The unreduced loss, or a teacher that requires grad: a forward that keeps the row stats and a
  // backward that recomputes from them.
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
  Tensor out = elementwise ? parts : detail::reduce_parts(parts, scale, op);
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

Tensor kd_hard_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                    double temperature, double alpha, Reduction reduction) {
  const char* op = "kd_hard_loss";
  const Tensor &s = student_logits, &t = teacher_logits;
  check_hard_args(s, t, labels, temperature, alpha, op);
  require<ValueError>(reduction != Reduction::Mean, op,
                      ": reduction 'mean' is not valid here (expected one of 'batchmean', 'sum', 'none'); ",
                      "the loss is a mean over rows, which is 'batchmean'");
  const std::int64_t B = s.size(0), C = s.size(1);
  const double scale = detail::reduction_scale(reduction, B, B);
  if (reduction != Reduction::None) return fused_loss(s, t, labels, temperature, alpha, scale, op).total;
  // The per-row losses: a forward that keeps the row stats and a backward that recomputes from them.
  Tensor rows = empty({B}, s.dtype(), s.device());
  const bool graph = autograd::needs_graph({s});
  // Each row's (max s, lse of s/T, max t, lse of t/T, lse of s), so the backward needs no reduction.
  const Tensor stats = graph ? empty({B, 5}, DType::F64, s.device()) : Tensor();
  visit_floating(s.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    kernels::on_device(
        s.device(),
        [&](auto) {
          const std::int64_t* y = detail::cpu_checked_labels(labels, B, C, op);
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
            detail::cuda_f32_only(op);
        });
  });
  Tensor out = rows;
  if (graph) {
    const std::int64_t stride = 1;
    autograd::record(out, op, {s},
                     [B, C, temperature, alpha, scale, stride, stats, s_ = s.detach(), t_ = t.detach(),
                      y_ = labels.detach()](const Tensor& g, const std::vector<bool>&) -> Grads {
                       return {kd_hard_grad(s_, t_, y_, stats, g, stride, scale, B, C, temperature, alpha)};
                     });
  }
  return out;
}

KdHardParts kd_hard_loss_parts(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                               double temperature, double alpha) {
  const char* op = "kd_hard_loss";
  check_hard_args(student_logits, teacher_logits, labels, temperature, alpha, op);
  const double scale = detail::reduction_scale(Reduction::BatchMean, 1, student_logits.size(0));
  return fused_loss(student_logits, teacher_logits, labels, temperature, alpha, scale, op);
}

}  // namespace ops
}  // namespace kdcu
