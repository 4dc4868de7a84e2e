// Smooth L1 CPU kernels: elementwise, every intermediate in double; the scalar forward uses the
// chunked, thread-count-independent sum of kernels/cpu/reduce.h.
#include "kernels/cpu/smooth_l1.h"

#include <cmath>

#include "kernels/cpu/reduce.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// The quadratic branch is taken only for |d| < beta, so beta = 0 never divides.
inline double smooth_l1(double d, double beta) {
  const double ad = std::fabs(d);
  return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
}

inline double smooth_l1_slope(double d, double beta) {
  if (std::fabs(d) < beta) return d / beta;
  return d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0);
}

}  // namespace

template <class T>
void smooth_l1_forward(const T* x, const T* t, T* loss, std::int64_t n, T beta) {
  const double bt = static_cast<double>(beta);
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i)
    loss[i] = static_cast<T>(smooth_l1(static_cast<double>(x[i]) - static_cast<double>(t[i]), bt));
}

template <class T>
void smooth_l1_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T beta, T scale) {
  const double bt = static_cast<double>(beta);
  const double total = ordered_sum(
      n, [x, t, bt](std::int64_t i) { return smooth_l1(static_cast<double>(x[i]) - static_cast<double>(t[i]), bt); });
  y[0] = static_cast<T>(total * static_cast<double>(scale));
}

template <class T>
void smooth_l1_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                        std::int64_t n, T beta) {
  const double bt = static_cast<double>(beta), sc = static_cast<double>(scale);
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    const double g = sc * static_cast<double>(dloss[i * dloss_stride]) * smooth_l1_slope(d, bt);
    if (dx) dx[i] = static_cast<T>(g);
    if (dt) dt[i] = static_cast<T>(-g);
  }
}

#define KDCU_INSTANTIATE(T)                                                           \
  template void smooth_l1_forward<T>(const T*, const T*, T*, std::int64_t, T);        \
  template void smooth_l1_sum_forward<T>(const T*, const T*, T*, std::int64_t, T, T); \
  template void smooth_l1_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t, T);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
