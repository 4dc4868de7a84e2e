// Loss CPU kernels: one task per row, every intermediate in double. A row's log-sum-exp is
// recomputed wherever it is needed (forward and backward) instead of materialising
// probabilities, which keeps each loss finite for logits of +-1e4. The KD row task sweeps the
// student and teacher rows side by side: max, sum of exponentials, then the loss (or gradients).
#include "kernels/cpu/loss.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// max_c x[c] and log sum_c exp((x[c] - max) * inv_t) of one contiguous row, so that
// log softmax(x / T)[c] = (x[c] - max) * inv_t - log_sum.
struct RowLse {
  double max = -INFINITY;
  double log_sum = 0.0;
  double log_p(double x, double inv_t) const { return (x - max) * inv_t - log_sum; }
};

template <class T>
RowLse row_lse(const T* x, std::int64_t C, double inv_t) {
  RowLse r;
  for (std::int64_t c = 0; c < C; ++c) r.max = std::fmax(r.max, static_cast<double>(x[c]));
  double s = 0.0;
  for (std::int64_t c = 0; c < C; ++c) s += std::exp((static_cast<double>(x[c]) - r.max) * inv_t);
  r.log_sum = std::log(s);
  return r;
}

}  // namespace

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

// --------------------------------------------------------------------------- KD (KL divergence)

// exp in the tensor's precision (expf for f32: the costly part of the KD loss), sums in double.
template <class T>
double exp_t(double x) {
  return static_cast<double>(std::exp(static_cast<T>(x)));
}

template <class T>
void kd_kl_div_forward(const T* s, const T* t, T* row_loss, T* loss, double* stats, std::int64_t B, std::int64_t C,
                       T temperature) {
  const double temp = static_cast<double>(temperature), inv_t = 1.0 / temp, t2 = temp * temp;
#pragma omp parallel if (B * C > kParallelGrain)
  {
    std::vector<double> et(static_cast<size_t>(C));  // exp((t - max t) / T) of the row, kept for p_t
#pragma omp for
    for (std::int64_t b = 0; b < B; ++b) {
      const T *sr = s + b * C, *tr = t + b * C;
      RowLse rs, rt;
      for (std::int64_t c = 0; c < C; ++c) {
        rs.max = std::fmax(rs.max, static_cast<double>(sr[c]));
        rt.max = std::fmax(rt.max, static_cast<double>(tr[c]));
      }
      double sum_s = 0.0, sum_t = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        sum_s += exp_t<T>((static_cast<double>(sr[c]) - rs.max) * inv_t);
        et[static_cast<size_t>(c)] = exp_t<T>((static_cast<double>(tr[c]) - rt.max) * inv_t);
        sum_t += et[static_cast<size_t>(c)];
      }
      rs.log_sum = std::log(sum_s);
      rt.log_sum = std::log(sum_t);
      double row = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double log_ps = rs.log_p(static_cast<double>(sr[c]), inv_t);
        const double log_pt = rt.log_p(static_cast<double>(tr[c]), inv_t);
        const double pt = et[static_cast<size_t>(c)] / sum_t;
        // p_t (log p_t - log p_s) from the difference of log-probabilities (exactly 0 when s == t).
        // Where p_t is 0 this is PyTorch's xlogy(0, 0) - 0 * log p_s: 0, or NaN if log p_s = -inf.
        const double term = t2 * (pt > 0.0 ? pt * (log_pt - log_ps) : -pt * log_ps);
        if (loss) loss[b * C + c] = static_cast<T>(term);
        row += term;
      }
      if (row_loss) row_loss[b] = static_cast<T>(row);
      if (stats) {
        double* st = stats + b * 4;
        st[0] = rs.max, st[1] = rs.log_sum, st[2] = rt.max, st[3] = rt.log_sum;
      }
    }
  }
}

template <class T>
void kd_kl_div_backward(const T* s, const T* t, const double* stats, const T* dloss, std::int64_t dloss_stride, T scale,
                        T* ds, T* dt, std::int64_t B, std::int64_t C, T temperature) {
  const double temp = static_cast<double>(temperature), inv_t = 1.0 / temp;
#pragma omp parallel if (B * C > kParallelGrain)
  {
    std::vector<double> ps(static_cast<size_t>(C)), pt(static_cast<size_t>(C));
#pragma omp for
    for (std::int64_t b = 0; b < B; ++b) {
      const T *sr = s + b * C, *tr = t + b * C;
      const double* st = stats + b * 4;
      RowLse rs, rt;
      rs.max = st[0], rs.log_sum = st[1], rt.max = st[2], rt.log_sum = st[3];
      const auto g = [&](std::int64_t c) {
        return static_cast<double>(scale) * static_cast<double>(dloss[(b * C + c) * dloss_stride]);
      };
      // l_c = log p_t,c - log p_s,c, without an exponential.
      const auto l = [&](std::int64_t c) {
        return rt.log_p(static_cast<double>(tr[c]), inv_t) - rs.log_p(static_cast<double>(sr[c]), inv_t);
      };
      // p_t (l + 1), taken as its limit 0 where p_t underflows (l may be -inf there).
      const auto pt_l1 = [&](std::int64_t c) {
        const double p = pt[static_cast<size_t>(c)];
        return p > 0.0 ? p * (l(c) + 1.0) : 0.0;
      };
      double sum_gpt = 0.0, sum_gpt_l1 = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const size_t k = static_cast<size_t>(c);
        pt[k] = exp_t<T>(rt.log_p(static_cast<double>(tr[c]), inv_t));
        if (ds) ps[k] = exp_t<T>(rs.log_p(static_cast<double>(sr[c]), inv_t));
        sum_gpt += g(c) * pt[k];
        if (dt) sum_gpt_l1 += g(c) * pt_l1(c);
      }
      for (std::int64_t c = 0; c < C; ++c) {
        const size_t k = static_cast<size_t>(c);
        if (ds) ds[b * C + c] = static_cast<T>(temp * (ps[k] * sum_gpt - g(c) * pt[k]));
        if (dt) dt[b * C + c] = static_cast<T>(temp * (g(c) * pt_l1(c) - pt[k] * sum_gpt_l1));
      }
    }
  }
}

// --------------------------------------------------------------------------- hard-label KD

// The KD terms exactly as kd_kl_div_forward forms them (expf for f32), the CE term exactly as
// cross_entropy_forward does (exponentials in double), both from one sweep set over the row.
template <class T>
void kd_hard_forward(const T* s, const T* t, const std::int64_t* labels, T* row_loss, double* stats, std::int64_t B,
                     std::int64_t C, T temperature, T alpha) {
  const double temp = static_cast<double>(temperature), inv_t = 1.0 / temp, t2 = temp * temp;
  const double a = static_cast<double>(alpha);
#pragma omp parallel if (B * C > kParallelGrain)
  {
    std::vector<double> et(static_cast<size_t>(C));  // exp((t - max t) / T) of the row, kept for p_t
#pragma omp for
    for (std::int64_t b = 0; b < B; ++b) {
      const T *sr = s + b * C, *tr = t + b * C;
      RowLse rs, rt, r1;
      for (std::int64_t c = 0; c < C; ++c) {
        rs.max = std::fmax(rs.max, static_cast<double>(sr[c]));
        rt.max = std::fmax(rt.max, static_cast<double>(tr[c]));
      }
      r1.max = rs.max;
      double sum_s = 0.0, sum_t = 0.0, sum_1 = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double sv = static_cast<double>(sr[c]);
        sum_s += exp_t<T>((sv - rs.max) * inv_t);
        sum_1 += std::exp(sv - rs.max);
        et[static_cast<size_t>(c)] = exp_t<T>((static_cast<double>(tr[c]) - rt.max) * inv_t);
        sum_t += et[static_cast<size_t>(c)];
      }
      rs.log_sum = std::log(sum_s);
      rt.log_sum = std::log(sum_t);
      r1.log_sum = std::log(sum_1);
      double kl = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double log_ps = rs.log_p(static_cast<double>(sr[c]), inv_t);
        const double log_pt = rt.log_p(static_cast<double>(tr[c]), inv_t);
        const double pt = et[static_cast<size_t>(c)] / sum_t;
        kl += t2 * (pt > 0.0 ? pt * (log_pt - log_ps) : -pt * log_ps);  // as in kd_kl_div_forward
      }
      const double ce = -r1.log_p(static_cast<double>(sr[labels[b]]), 1.0);
      if (row_loss) row_loss[b] = static_cast<T>(a * kl + (1.0 - a) * ce);
      if (stats) {
        double* st = stats + b * 5;
        st[0] = rs.max, st[1] = rs.log_sum, st[2] = rt.max, st[3] = rt.log_sum, st[4] = r1.log_sum;
      }
    }
  }
}

template <class T>
void kd_hard_backward(const T* s, const T* t, const std::int64_t* labels, const double* stats, const T* dloss,
                      std::int64_t dloss_stride, T scale, T* ds, std::int64_t B, std::int64_t C, T temperature,
                      T alpha) {
  const double temp = static_cast<double>(temperature), inv_t = 1.0 / temp, a = static_cast<double>(alpha);
#pragma omp parallel for if (B * C > kParallelGrain)
  for (std::int64_t b = 0; b < B; ++b) {
    const T *sr = s + b * C, *tr = t + b * C;
    const double* st = stats + b * 5;
    RowLse rs, rt, r1;
    rs.max = st[0], rs.log_sum = st[1], rt.max = st[2], rt.log_sum = st[3];
    r1.max = st[0], r1.log_sum = st[4];
    const double g = static_cast<double>(scale) * static_cast<double>(dloss[b * dloss_stride]);
    const double gk = g * a * temp, gc = g * (1.0 - a);
    for (std::int64_t c = 0; c < C; ++c) {
      const double sv = static_cast<double>(sr[c]);
      const double ps = exp_t<T>(rs.log_p(sv, inv_t)), pt = exp_t<T>(rt.log_p(static_cast<double>(tr[c]), inv_t));
      const double p1 = std::exp(r1.log_p(sv, 1.0));
      ds[b * C + c] = static_cast<T>(gk * (ps - pt) + gc * (p1 - (c == labels[b] ? 1.0 : 0.0)));
    }
  }
}

#define KDCU_INSTANTIATE(T)                                                                                            \
  template void cross_entropy_forward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, T);            \
  template void cross_entropy_backward<T>(const T*, const std::int64_t*, const T*, std::int64_t, T, T*, std::int64_t,  \
                                          std::int64_t, T);                                                            \
  template void mse_forward<T>(const T*, const T*, T*, std::int64_t);                                                  \
  template void mse_sum_forward<T>(const T*, const T*, T*, std::int64_t, T);                                           \
  template void mse_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t);                  \
  template void kd_kl_div_forward<T>(const T*, const T*, T*, T*, double*, std::int64_t, std::int64_t, T);              \
  template void kd_kl_div_backward<T>(const T*, const T*, const double*, const T*, std::int64_t, T, T*, T*,            \
                                      std::int64_t, std::int64_t, T);                                                  \
  template void kd_hard_forward<T>(const T*, const T*, const std::int64_t*, T*, double*, std::int64_t, std::int64_t,   \
                                   T, T);                                                                              \
  template void kd_hard_backward<T>(const T*, const T*, const std::int64_t*, const double*, const T*, std::int64_t, T, \
                                    T*, std::int64_t, std::int64_t, T, T);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
