// Optimizer and clipping CPU kernels (formulas in optim.h). Each element's update is independent,
// so the loops split across threads without changing any result; the reductions use fixed chunks.
#include "kernels/cpu/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void sgd_step(T* p, const T* g, T* buf, std::int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step) {
  // Scalars rounded to T as PyTorch's scalar arguments are; 1 - dampening is formed in double first.
  const T neg_lr = static_cast<T>(-lr), mom = static_cast<T>(momentum), wd = static_cast<T>(weight_decay);
  const T keep = static_cast<T>(1.0 - dampening);
  const bool use_wd = weight_decay != 0.0, use_momentum = momentum != 0.0;
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if (use_wd) d = d + wd * p[i];
    if (use_momentum) {
      const T b = first_step ? d : buf[i] * mom + keep * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    p[i] = p[i] + neg_lr * d;
  }
}

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, std::int64_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, std::int64_t step) {
  const double s = static_cast<double>(step);
  const T neg_step_size = static_cast<T>(-(lr / (1.0 - std::pow(beta1, s))));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, s)));
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
  const T e = static_cast<T>(eps), wd = static_cast<T>(weight_decay);
  const T shrink = static_cast<T>(1.0 - lr * weight_decay);
  const bool l2 = !decoupled && weight_decay != 0.0;
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    T x = p[i];
    if (decoupled) x = x * shrink;
    const T d = l2 ? g[i] + wd * x : g[i];
    const T mi = m[i] * b1 + one_minus_b1 * d;
    const T vi = v[i] * b2 + one_minus_b2 * d * d;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / bc2_sqrt + e;
    p[i] = x + neg_step_size * (mi / denom);
  }
}

template <class T>
double abs_pow_sum(const T* x, std::int64_t n, double norm_type) {
  if (norm_type == 2.0) {
    return ordered_sum(n, [x](std::int64_t i) {
      const double d = static_cast<double>(x[i]);
      return d * d;
    });
  }
  if (norm_type == 1.0) return ordered_sum(n, [x](std::int64_t i) { return std::fabs(static_cast<double>(x[i])); });
  return ordered_sum(
      n, [x, norm_type](std::int64_t i) { return std::pow(std::fabs(static_cast<double>(x[i])), norm_type); });
}

template <class T>
double abs_max(const T* x, std::int64_t n) {
  if (n <= 0) return 0.0;
  // A max is exact in any order; the chunks only exist so that NaN can win deterministically.
  const std::int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t end = std::min(n, (c + 1) * kSumChunk);
    double acc = 0.0;
    for (std::int64_t i = c * kSumChunk; i < end; ++i) {
      const double a = std::fabs(static_cast<double>(x[i]));
      if (std::isnan(a)) {
        acc = a;
        break;
      }
      acc = std::max(acc, a);
    }
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double a : partial) {
    if (std::isnan(a)) return a;
    total = std::max(total, a);
  }
  return total;
}

template <class T>
void scale_inplace(T* x, std::int64_t n, double scale) {
  const T s = static_cast<T>(scale);
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] * s;
}

#define KDCU_INSTANTIATE(T)                                                                                    \
  template void sgd_step<T>(T*, const T*, T*, std::int64_t, double, double, double, double, bool, bool);       \
  template void adam_step<T>(T*, const T*, T*, T*, std::int64_t, double, double, double, double, double, bool, \
                             std::int64_t);                                                                    \
  template double abs_pow_sum<T>(const T*, std::int64_t, double);                                              \
  template double abs_max<T>(const T*, std::int64_t);                                                          \
  template void scale_inplace<T>(T*, std::int64_t, double);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
