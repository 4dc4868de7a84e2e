// KD CPU kernels: one task per row, every intermediate in double, exponentials in the tensor's
// precision (expf for f32: the costly part). The row task sweeps the student and teacher rows
// side by side: max, sum of exponentials, then the loss and / or the gradients. Row sums of a
// scalar result are added in row order, so results do not depend on the thread count.
#include "kernels/cpu/kd_loss.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/cpu/row_lse.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// exp in the tensor's precision, as a double.
template <class T>
double exp_t(double x) {
  return static_cast<double>(std::exp(static_cast<T>(x)));
}

// One KD row's max and log-sum-exp of s / T and t / T, exp((t - max t) / T) kept in et for p_t,
// and, with `ce`, the log-sum-exp of s at temperature 1 (exponentials in double there, as
// cross_entropy_forward forms them).
struct KdRowLse {
  RowLse s, t, one;
  double sum_t = 0.0;
  double pt(const std::vector<double>& et, std::int64_t c) const { return et[static_cast<size_t>(c)] / sum_t; }
};

template <class T>
KdRowLse kd_row_lse(const T* sr, const T* tr, std::int64_t C, double inv_t, bool ce, std::vector<double>& et) {
  KdRowLse r;
  for (std::int64_t c = 0; c < C; ++c) {
    r.s.max = std::fmax(r.s.max, static_cast<double>(sr[c]));
    r.t.max = std::fmax(r.t.max, static_cast<double>(tr[c]));
  }
  r.one.max = r.s.max;
  double sum_s = 0.0, sum_1 = 0.0;
  for (std::int64_t c = 0; c < C; ++c) {
    const double sv = static_cast<double>(sr[c]);
    sum_s += exp_t<T>((sv - r.s.max) * inv_t);
    if (ce) sum_1 += std::exp(sv - r.s.max);
    et[static_cast<size_t>(c)] = exp_t<T>((static_cast<double>(tr[c]) - r.t.max) * inv_t);
    r.sum_t += et[static_cast<size_t>(c)];
  }
  r.s.log_sum = std::log(sum_s);
  r.t.log_sum = std::log(r.sum_t);
  r.one.log_sum = std::log(sum_1);
  return r;
}

// T^2 p_t (log p_t - log p_s) from the difference of log-probabilities (exactly 0 when s == t).
// Where p_t is 0 this is PyTorch's xlogy(0, 0) - 0 * log p_s: 0, or NaN if log p_s = -inf.
inline double kd_term(double pt, double log_pt, double log_ps, double t2) {
  return t2 * (pt > 0.0 ? pt * (log_pt - log_ps) : -pt * log_ps);
}

}  // namespace

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
      const KdRowLse r = kd_row_lse(sr, tr, C, inv_t, false, et);
      const RowLse &rs = r.s, &rt = r.t;
      double row = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double log_ps = rs.log_p(static_cast<double>(sr[c]), inv_t);
        const double log_pt = rt.log_p(static_cast<double>(tr[c]), inv_t);
        const double term = kd_term(r.pt(et, c), log_pt, log_ps, t2);
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
      const KdRowLse r = kd_row_lse(sr, tr, C, inv_t, true, et);
      const RowLse &rs = r.s, &rt = r.t, &r1 = r.one;
      double kl = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double log_ps = rs.log_p(static_cast<double>(sr[c]), inv_t);
        const double log_pt = rt.log_p(static_cast<double>(tr[c]), inv_t);
        kl += kd_term(r.pt(et, c), log_pt, log_ps, t2);
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

// --------------------------------------------------------------------------- fused loss + gradient

template <class T>
void kd_fused(const T* s, const T* t, const std::int64_t* labels, T* total, T* kd, T* ce, T* ds, std::int64_t B,
              std::int64_t C, T temperature, T alpha, T scale) {
  const double temp = static_cast<double>(temperature), inv_t = 1.0 / temp, t2 = temp * temp;
  const double a = static_cast<double>(alpha), sc = static_cast<double>(scale);
  const double gk = sc * a * temp, gc = sc * (1.0 - a);  // the two terms' gradient factors
  std::vector<double> row_kl(static_cast<size_t>(B)), row_ce(labels ? static_cast<size_t>(B) : 0);
#pragma omp parallel if (B * C > kParallelGrain)
  {
    std::vector<double> et(static_cast<size_t>(C));  // exp((t - max t) / T) of the row, kept for p_t
#pragma omp for
    for (std::int64_t b = 0; b < B; ++b) {
      const T *sr = s + b * C, *tr = t + b * C;
      const KdRowLse r = kd_row_lse(sr, tr, C, inv_t, labels != nullptr, et);
      const RowLse &rs = r.s, &rt = r.t, &r1 = r.one;
      const std::int64_t y = labels ? labels[b] : -1;
      double kl = 0.0;
      for (std::int64_t c = 0; c < C; ++c) {
        const double sv = static_cast<double>(sr[c]);
        const double log_ps = rs.log_p(sv, inv_t);
        const double log_pt = rt.log_p(static_cast<double>(tr[c]), inv_t);
        const double pt = r.pt(et, c);
        kl += kd_term(pt, log_pt, log_ps, t2);
        if (!ds) continue;
        double g = gk * (exp_t<T>(log_ps) - pt);
        if (labels) g += gc * (std::exp(r1.log_p(sv, 1.0)) - (c == y ? 1.0 : 0.0));
        ds[b * C + c] = static_cast<T>(g);
      }
      row_kl[static_cast<size_t>(b)] = kl;
      if (labels) row_ce[static_cast<size_t>(b)] = -r1.log_p(static_cast<double>(sr[y]), 1.0);
    }
  }
  double sum_kl = 0.0, sum_ce = 0.0;
  for (std::int64_t b = 0; b < B; ++b) {
    sum_kl += row_kl[static_cast<size_t>(b)];
    if (labels) sum_ce += row_ce[static_cast<size_t>(b)];
  }
  if (total) *total = static_cast<T>(sc * (labels ? a * sum_kl + (1.0 - a) * sum_ce : sum_kl));
  if (kd) *kd = static_cast<T>(sc * sum_kl);
  if (ce && labels) *ce = static_cast<T>(sc * sum_ce);
}


#define KDCU_INSTANTIATE(T)                                                                                            \
  template void kd_kl_div_forward<T>(const T*, const T*, T*, T*, double*, std::int64_t, std::int64_t, T);              \
  template void kd_kl_div_backward<T>(const T*, const T*, const double*, const T*, std::int64_t, T, T*, T*,            \
                                      std::int64_t, std::int64_t, T);                                                  \
  template void kd_hard_forward<T>(const T*, const T*, const std::int64_t*, T*, double*, std::int64_t, std::int64_t,   \
                                   T, T);                                                                              \
  template void kd_hard_backward<T>(const T*, const T*, const std::int64_t*, const double*, const T*, std::int64_t, T, \
                                    T*, std::int64_t, std::int64_t, T, T);                                             \
  template void kd_fused<T>(const T*, const T*, const std::int64_t*, T*, T*, T*, T*, std::int64_t, std::int64_t, T, T, \
                            T);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
