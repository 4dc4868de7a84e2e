// Batch norm on the CPU, channels in parallel; each channel's sums run in a fixed order (images,
// then pixels) in double. The rounding steps follow PyTorch's CPU kernels (the mean is rounded to
// T before the variance pass, alpha/beta are formed in T), so results match it to the last bits
// or nearly.
#include "kernels/cpu/batch_norm.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

bool parallel_channels(std::int64_t n, std::int64_t c, std::int64_t s) {
  return c > 1 && n * c * s > kParallelGrain;
}

// The values of channel ch in image i: s contiguous elements.
template <class T>
const T* plane(const T* x, std::int64_t i, std::int64_t ch, std::int64_t c, std::int64_t s) {
  return x + (i * c + ch) * s;
}

}  // namespace

template <class T>
void batch_norm_stats(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double eps, T* mean, T* invstd,
                      T* running_mean, T* running_var, double momentum) {
  const std::int64_t count = n * s;
#pragma omp parallel for if (parallel_channels(n, c, s))
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const T* p = plane(x, i, ch, c, s);
      for (std::int64_t j = 0; j < s; ++j) sum += static_cast<double>(p[j]);
    }
    const T m = static_cast<T>(sum / static_cast<double>(count));
    double sq = 0.0;  // two passes: no cancellation from E[x^2] - E[x]^2
    for (std::int64_t i = 0; i < n; ++i) {
      const T* p = plane(x, i, ch, c, s);
      for (std::int64_t j = 0; j < s; ++j) {
        const T d = p[j] - m;
        sq += static_cast<double>(d * d);
      }
    }
    const T var_sum = static_cast<T>(sq);
    const T var = var_sum / static_cast<T>(count);  // biased: what the normalisation uses
    mean[ch] = m;
    invstd[ch] = (var == T(0) && eps == 0.0) ? T(0) : static_cast<T>(1.0 / std::sqrt(static_cast<double>(var) + eps));
    if (running_mean) {
      running_mean[ch] =
          static_cast<T>(momentum * static_cast<double>(m) + (1.0 - momentum) * static_cast<double>(running_mean[ch]));
    }
    if (running_var) {
      const double unbiased = static_cast<double>(var_sum / static_cast<T>(count - 1));
      running_var[ch] = static_cast<T>(momentum * unbiased + (1.0 - momentum) * static_cast<double>(running_var[ch]));
    }
  }
}

template <class T>
void batch_norm_running_stats(const T* running_mean, const T* running_var, std::int64_t c, double eps, T* mean,
                              T* invstd) {
  for (std::int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = running_mean[ch];
    invstd[ch] = T(1) / std::sqrt(running_var[ch] + static_cast<T>(eps));
  }
}

template <class T>
void batch_norm_forward(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias, T* y,
                        std::int64_t n, std::int64_t c, std::int64_t s) {
#pragma omp parallel for collapse(2) if (n * c * s > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const T alpha = invstd[ch] * (weight ? weight[ch] : T(1));
      const T beta = (bias ? bias[ch] : T(0)) - mean[ch] * alpha;
      const T* p = plane(x, i, ch, c, s);
      T* q = y + (i * c + ch) * s;
      for (std::int64_t j = 0; j < s; ++j) q[j] = p[j] * alpha + beta;
    }
  }
}

template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, bool training, T* dx,
                         T* dweight, T* dbias, std::int64_t n, std::int64_t c, std::int64_t s) {
  const std::int64_t count = n * s;
#pragma omp parallel for if (parallel_channels(n, c, s))
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const T m = mean[ch], is = invstd[ch], w = weight ? weight[ch] : T(1);
    // sum(dy) and sum((x - mean) dy) = sum(dy xhat) / invstd, in one pass over dy.
    double sum = 0.0, dotp = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const T* gp = plane(dy, i, ch, c, s);
      if (x) {
        const T* xp = plane(x, i, ch, c, s);
        for (std::int64_t j = 0; j < s; ++j) {
          sum += static_cast<double>(gp[j]);
          dotp += static_cast<double>((xp[j] - m) * gp[j]);
        }
      } else {
        for (std::int64_t j = 0; j < s; ++j) sum += static_cast<double>(gp[j]);
      }
    }
    if (dx) {
      // Training: the mean and variance depend on x too; their share is the two projections.
      const T k = training ? static_cast<T>(dotp) * is * is / static_cast<T>(count) : T(0);
      const T grad_mean = training ? static_cast<T>(sum / static_cast<double>(count)) : T(0);
      for (std::int64_t i = 0; i < n; ++i) {
        const T* gp = plane(dy, i, ch, c, s);
        T* out = dx + (i * c + ch) * s;
        if (training) {
          const T* xp = plane(x, i, ch, c, s);
          for (std::int64_t j = 0; j < s; ++j) out[j] = (gp[j] - grad_mean - (xp[j] - m) * k) * is * w;
        } else {
          for (std::int64_t j = 0; j < s; ++j) out[j] = gp[j] * is * w;
        }
      }
    }
    if (dweight) dweight[ch] = static_cast<T>(dotp * static_cast<double>(is));
    if (dbias) dbias[ch] = static_cast<T>(sum);
  }
}

#define KDCU_INSTANTIATE(T)                                                                                     \
  template void batch_norm_stats<T>(const T*, std::int64_t, std::int64_t, std::int64_t, double, T*, T*, T*, T*, \
                                    double);                                                                    \
  template void batch_norm_running_stats<T>(const T*, const T*, std::int64_t, double, T*, T*);                  \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, std::int64_t,       \
                                      std::int64_t, std::int64_t);                                              \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool, T*, T*, T*,      \
                                       std::int64_t, std::int64_t, std::int64_t);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
