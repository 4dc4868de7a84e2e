// Optimizer and gradient-clipping CPU kernels: one fused pass per parameter tensor for SGD
// (weight decay, momentum with dampening, Nesterov) and Adam/AdamW (bias-corrected moments), as
// PyTorch 1.13's single-tensor torch.optim code computes them; plus the reductions clipping needs.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// In place over i < n (p, g, buf: (n)); every scalar is rounded to T first, as PyTorch does:
//   d = g + weight_decay * p                       (when weight_decay != 0)
//   buf = first_step ? d : momentum * buf + (1 - dampening) * d   (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
//   p = p - lr * d
// buf may be null when momentum == 0 (then it is neither read nor written). On the first step the
// buffer is a copy of d with no dampening, PyTorch's rule.
template <class T>
void sgd_step(T* p, const T* g, T* buf, std::int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step);

// In place over i < n (p, g, m, v: (n)); `step` >= 1 is this parameter's update count, this one included:
//   p = p * (1 - lr * weight_decay)                (decoupled, AdamW)
//   d = g + weight_decay * p                       (not decoupled, Adam's L2; when weight_decay != 0)
//   m = beta1 * m + (1 - beta1) * d
//   v = beta2 * v + (1 - beta2) * d * d
//   p = p - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// The bias corrections are computed in double, then rounded to T.
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, std::int64_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, std::int64_t step);

// sum_i |x_i|^norm_type in double (x: (n)); norm_type 2 is an exact sum of squares (no pow). The
// summation order is fixed (kernels/cpu/reduce.h's ordered_sum), so the result does not depend on
// the thread count. Requires norm_type > 0 and finite.
template <class T>
double abs_pow_sum(const T* x, std::int64_t n, double norm_type);
// max_i |x_i| in double, NaN when any x_i is NaN, 0 for n == 0.
template <class T>
double abs_max(const T* x, std::int64_t n);
// x *= T(scale), in place.
template <class T>
void scale_inplace(T* x, std::int64_t n, double scale);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
