// Loss CPU kernels: one task per row, every intermediate in double. A row's log-sum-exp is
// recomputed wherever it is needed (forward and backward) instead of materialising
// probabilities, which keeps each loss finite for logits of +-1e4. The KD kernels are in kd_loss.cpp.
#include "kernels/cpu/loss.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/cpu/row_lse.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {


std::int64_t first_bad_label(const std::int64_t* labels, std::int64_t N, std::int64_t C) {
  for (std::int64_t i = 0; i < N; ++i)
    if (labels[i] < 0 || labels[i] >= C) return i;
  return -1;
}

// --------------------------------------------------------------------------- cross-entropy

template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* labels, T* loss, std::int64_t N, std::int64_t C,
                           T label_smoothing) {
  const double e = static_cast<double>(label_smoothing);
#pragma omp parallel for if (N * C > kParallelGrain)
  for (std::int64_t i = 0; i < N; ++i) {
    const T* x = logits + i * C;
    const RowLse r = row_lse(x, C, 1.0);
    double value = -r.log_p(static_cast<double>(x[labels[i]]), 1.0);
    // Without smoothing the uniform term is skipped, not multiplied by 0: a -inf logit would
    // make it inf and 0 * inf NaN (PyTorch skips it too).
    if (e > 0.0) {
      double uniform = 0.0;
      for (std::int64_t c = 0; c < C; ++c) uniform -= r.log_p(static_cast<double>(x[c]), 1.0);
      value = (1.0 - e) * value + e * uniform / static_cast<double>(C);
    }
    loss[i] = static_cast<T>(value);
  }
}

template <class T>
void cross_entropy_backward(const T* logits, const std::int64_t* labels, const T* dloss, std::int64_t dloss_stride,
                            T scale, T* dlogits, std::int64_t N, std::int64_t C, T label_smoothing) {
  const double e = static_cast<double>(label_smoothing);
  const double off = e / static_cast<double>(C);  // q for every class but the label
#pragma omp parallel for if (N * C > kParallelGrain)
  for (std::int64_t i = 0; i < N; ++i) {
    const T* x = logits + i * C;
    T* dx = dlogits + i * C;
    const double g = static_cast<double>(scale) * static_cast<double>(dloss[i * dloss_stride]);
    const RowLse r = row_lse(x, C, 1.0);
    for (std::int64_t c = 0; c < C; ++c) {
      const double q = c == labels[i] ? 1.0 - e + off : off;
      dx[c] = static_cast<T>(g * (std::exp(r.log_p(static_cast<double>(x[c]), 1.0)) - q));
    }
  }
}

// --------------------------------------------------------------------------- mean squared error

template <class T>
void mse_forward(const T* x, const T* t, T* loss, std::int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = x[i] - t[i];
    loss[i] = d * d;
  }
}

template <class T>
void mse_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T scale) {
  const double total = ordered_sum(n, [x, t](std::int64_t i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    return d * d;
  });
  y[0] = static_cast<T>(total * static_cast<double>(scale));
}

template <class T>
void mse_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                  std::int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = T(2) * scale * dloss[i * dloss_stride] * (x[i] - t[i]);
    if (dx) dx[i] = d;
    if (dt) dt[i] = -d;
  }
}

#define KDCU_INSTANTIATE(T)                                                                                           \
  template void cross_entropy_forward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, T);           \
  template void cross_entropy_backward<T>(const T*, const std::int64_t*, const T*, std::int64_t, T, T*, std::int64_t, \
                                          std::int64_t, T);                                                           \
  template void mse_forward<T>(const T*, const T*, T*, std::int64_t);                                                 \
  template void mse_sum_forward<T>(const T*, const T*, T*, std::int64_t, T);                                          \
  template void mse_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
