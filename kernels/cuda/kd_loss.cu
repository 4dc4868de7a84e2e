// KD CUDA kernels (kd_loss.h), a row per team as in loss.cu. Pass 1 is one online sweep over the
// student and teacher rows (max and sum of exponentials in double); pass 2 re-reads the row
// (L1/L2) for the terms that need the finished max and log-sum-exp. Log-probabilities are formed
// as (x - max) / T - lse and KL terms from differences of them, never from log(p), so logits of
// +-1e4 stay finite.
//
// kd_fused is the training path: one launch reads s and t from HBM once, writes the student's
// gradient for an upstream gradient of 1 (ops scale it when the upstream is not 1) and leaves
// each row's terms for the last block to finish, which sums them in a fixed order into the scalar
// results: one launch in all, deterministic. The separate forward / backward kernels remain for
// the unreduced loss and for a teacher that requires grad (the only callers ops has for them).
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kd_loss.h"
#include "kernels/cuda/labels.cuh"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// ------------------------------------------------------------------ KD (KL divergence)

// The per-row quantities of a KD row, in the float registers the element loops use.
struct KdRow {
  float ms, mt;  // row maxima
  float inv_ss;  // 1 / sum exp((s - ms) / T)
  float inv_st;  // 1 / sum exp((t - mt) / T)
  float lse_s;   // log sum exp((s - ms) / T)
  float dlse;    // lse_s - lse_t, rounded once (a difference of two similar numbers)
  float inv_t;
  __device__ float pt(float tv) const { return expf((tv - mt) * inv_t) * inv_st; }
  __device__ float ps(float sv) const { return expf((sv - ms) * inv_t) * inv_ss; }
  // log p_t - log p_s = ((t - mt) - (s - ms)) / T + lse_s - lse_t
  __device__ float l(float sv, float tv) const { return ((tv - mt) - (sv - ms)) * inv_t + dlse; }
  __device__ float log_ps(float sv) const { return (sv - ms) * inv_t - lse_s; }
};

__device__ inline KdRow kd_row(float ms, double lse_s, float mt, double lse_t, float inv_t) {
  return {ms,
          mt,
          static_cast<float>(exp(-lse_s)),
          static_cast<float>(exp(-lse_t)),
          static_cast<float>(lse_s),
          static_cast<float>(lse_s - lse_t),
          inv_t};
}

// T^2 p_t (log p_t - log p_s); where p_t is 0, PyTorch's xlogy(0, 0) - 0 * log p_s (0, or NaN for -inf).
__device__ __forceinline__ float kd_term(const KdRow& r, float sv, float tv, float t2) {
  const float pt = r.pt(tv);
  return t2 * (pt > 0.0f ? pt * r.l(sv, tv) : -pt * r.log_ps(sv));
}

// Pass 1 of a KD row: the online max and sum of exponentials of s / T and t / T over the team's
// share of the row, combined across the team; with kOne, also of s at temperature 1 into `one`.
struct KdPass1 {
  MaxSum s, t;
  double lse_s, lse_t;
  KdRow row;
};

template <bool kVec, bool kOne, class Team>
__device__ __forceinline__ KdPass1 kd_pass1(const Team& team, const float* sr, const float* tr, std::int64_t len,
                                            float inv_t, MaxSum& one) {
  MaxSum a = max_sum_identity(), b = max_sum_identity();
  for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) {
    max_sum_add(a, sv, inv_t);
    max_sum_add(b, tv, inv_t);
    if constexpr (kOne) max_sum_add(one, sv, 1.0f);
  });
  a = team.max_sum(a, inv_t);
  b = team.max_sum(b, inv_t);
  if constexpr (kOne) one = team.max_sum(one, 1.0f);
  const double lse_s = log(a.s), lse_t = log(b.s);
  return {a, b, lse_s, lse_t, kd_row(a.m, lse_s, b.m, lse_t, inv_t)};
}

// s, t, loss: (B, C), row_loss: (B), stats: (B, 4)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_forward_kernel(const float* __restrict__ s, const float* __restrict__ t, float* row_loss, float* loss,
                      double* stats, std::int64_t B, std::int64_t C, float t2, float inv_t) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    MaxSum unused;
    const KdPass1 p1 = kd_pass1<kVec, false>(team, sr, tr, len, inv_t, unused);
    const KdRow& r = p1.row;
    const MaxSum &a = p1.s, &b = p1.t;
    const double lse_s = p1.lse_s, lse_t = p1.lse_t;
    double acc = 0.0;
    if (loss) {
      map_row2<kVec>(team, sr, tr, loss + row * C, len, [&](std::int64_t, float sv, float tv) {
        const float v = kd_term(r, sv, tv, t2);
        acc += v;
        return v;
      });
    } else if (row_loss) {
      for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) { acc += kd_term(r, sv, tv, t2); });
    }
    if (row_loss) {
      acc = team.sum(acc);
      if (valid && team.rank() == 0) row_loss[row] = static_cast<float>(acc);
    }
    if (stats && valid && team.rank() == 0) {
      double* st = stats + row * 4;
      st[0] = a.m, st[1] = lse_s, st[2] = b.m, st[3] = lse_t;
    }
  });
}

// The general backward: ds_j = T (p_s,j sum_c g_c p_t,c - g_j p_t,j),
// dt_j = T (g_j p_t,j (l_j + 1) - p_t,j sum_c g_c p_t,c (l_c + 1)), p_t (l + 1) taken as 0 where p_t is 0.
// The teacher's terms are formed in double, as on the CPU: l reaches 4e4 for logits of +-1e4, and
// dt is a difference of such terms (an f32 l would lose the digits that survive the difference).
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_backward_kernel(const float* __restrict__ s, const float* __restrict__ t, const double* __restrict__ stats,
                       const float* __restrict__ dloss, std::int64_t stride, float scale, float* ds, float* dt,
                       std::int64_t B, std::int64_t C, float temp, float inv_t) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    const double* st = stats + row * 4;
    const KdRow r = kd_row(static_cast<float>(st[0]), st[1], static_cast<float>(st[2]), st[3], inv_t);
    const double ms = st[0], mt = st[2], dlse = st[1] - st[3], it = static_cast<double>(inv_t);
    const auto g = [&](std::int64_t c) { return static_cast<double>(scale) * dloss[(row * C + c) * stride]; };
    const auto pt_l1 = [&](double pt, float sv, float tv) {
      const double l = ((static_cast<double>(tv) - mt) - (static_cast<double>(sv) - ms)) * it + dlse;
      return pt > 0.0 ? pt * (l + 1.0) : 0.0;
    };
    double sum_gpt = 0.0, sum_gpt_l1 = 0.0;
    for_row2<kVec>(team, sr, tr, len, [&](std::int64_t c, float sv, float tv) {
      const double pt = r.pt(tv), gc = g(c);
      sum_gpt += gc * pt;
      if (dt) sum_gpt_l1 += gc * pt_l1(pt, sv, tv);
    });
    if (ds) sum_gpt = team.sum(sum_gpt);
    if (dt) sum_gpt_l1 = team.sum(sum_gpt_l1);
    const double T = static_cast<double>(temp);
    float *dsr = ds ? ds + row * C : nullptr, *dtr = dt ? dt + row * C : nullptr;
    for_row2<kVec>(team, sr, tr, len, [&](std::int64_t c, float sv, float tv) {
      const double pt = r.pt(tv), gc = g(c);
      if (dsr) dsr[c] = static_cast<float>(T * (static_cast<double>(r.ps(sv)) * sum_gpt - gc * pt));
      if (dtr) dtr[c] = static_cast<float>(T * (gc * pt_l1(pt, sv, tv) - pt * sum_gpt_l1));
    });
  });
}

// ------------------------------------------------------------------ hard-label KD

// s, t: (B, C), labels: (B), row_loss: (B), stats: (B, 5)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_hard_forward_kernel(const float* __restrict__ s, const float* __restrict__ t,
                           const std::int64_t* __restrict__ labels, float* row_loss, double* stats, std::int64_t B,
                           std::int64_t C, float t2, float inv_t, double alpha, LabelRecord* record,
                           unsigned long long tag) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    MaxSum unused;
    const KdPass1 p1 = kd_pass1<kVec, false>(team, sr, tr, len, inv_t, unused);
    const KdRow& r = p1.row;
    const MaxSum &a = p1.s, &b = p1.t;
    const double lse_s = p1.lse_s, lse_t = p1.lse_t;
    double kl = 0.0, sum1 = 0.0;  // sum1 = sum exp(s - ms): the temperature-1 softmax of the CE term
    for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) {
      kl += kd_term(r, sv, tv, t2);
      sum1 += static_cast<double>(expf(sv - r.ms));
    });
    kl = team.sum(kl);
    sum1 = team.sum(sum1);
    if (valid && team.rank() == 0) {
      const double lse1 = log(sum1);
      const std::int64_t y = labels[row];
      const bool bad = bad_label(y, C);  // as in the cross-entropy kernel: NaN, no read outside the row
      if (bad) record_bad_label(record, tag, row, y, C);
      const double ce = bad ? static_cast<double>(NAN) : lse1 - (static_cast<double>(sr[y]) - static_cast<double>(a.m));
      if (row_loss) row_loss[row] = static_cast<float>(alpha * kl + (1.0 - alpha) * ce);
      if (stats) {
        double* st = stats + row * 5;
        st[0] = a.m, st[1] = lse_s, st[2] = b.m, st[3] = lse_t, st[4] = lse1;
      }
    }
  });
}

template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_hard_backward_kernel(const float* __restrict__ s, const float* __restrict__ t,
                            const std::int64_t* __restrict__ labels, const double* __restrict__ stats,
                            const float* __restrict__ dloss, std::int64_t stride, float scale, float* __restrict__ ds,
                            std::int64_t B, std::int64_t C, float temp, float inv_t, float alpha) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    if (!valid) return;  // nothing here synchronises
    const double* st = stats + row * 5;
    const KdRow r = kd_row(static_cast<float>(st[0]), st[1], static_cast<float>(st[2]), st[3], inv_t);
    const float inv_s1 = static_cast<float>(exp(-st[4]));
    const std::int64_t y = labels[row];
    const float g = bad_label(y, C) ? NAN : scale * dloss[row * stride], gk = g * alpha * temp, gc = g * (1.0f - alpha);
    map_row2<kVec>(team, s + row * C, t + row * C, ds + row * C, C, [&](std::int64_t c, float sv, float tv) {
      const float p1 = expf(sv - r.ms) * inv_s1;
      return gk * (r.ps(sv) - r.pt(tv)) + gc * (p1 - (c == y ? 1.0f : 0.0f));
    });
  });
}

// ------------------------------------------------------------------ fused loss + gradient

// How many blocks of the current kd_fused launch have finished: one counter per device, which the
// last block puts back to 0. kdcu runs one stream per device, so launches never overlap on it.
__device__ unsigned int g_kd_blocks_done = 0;

// Pass 1 over s and t from HBM (online max and sums, also at temperature 1 for the CE term), pass 2
// from L1/L2 writing ds and adding the KL terms; each row's (kl, ce) goes to `rows`. The last block
// to finish then adds the rows in row-index order (a fixed tree) into the scalars.
// s, t, ds: (B, C), labels: (B), rows: (B)
template <int W, bool kVec, bool kHard>
__global__ void __launch_bounds__(1024)
    kd_fused_kernel(const float* __restrict__ s, const float* __restrict__ t, const std::int64_t* __restrict__ labels,
                    double2* rows, float* total, float* kd, float* ce, float* ds, std::int64_t B, std::int64_t C,
                    float t2, float inv_t, float gk, float gc, double alpha, double scale, LabelRecord* record,
                    unsigned long long tag) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    MaxSum one = max_sum_identity();
    const KdRow r = kd_pass1<kVec, kHard>(team, sr, tr, len, inv_t, one).row;
    [[maybe_unused]] std::int64_t y = -1;
    [[maybe_unused]] bool bad = false;
    [[maybe_unused]] float inv_s1 = 0.0f;
    if constexpr (kHard) {
      y = valid ? labels[row] : 0;
      bad = valid && bad_label(y, C);  // NaN for the row, never a read outside it
      inv_s1 = static_cast<float>(1.0 / one.s);
    }
    double kl = 0.0;
    if (ds) {
      map_row2<kVec>(team, sr, tr, ds + row * C, len, [&](std::int64_t c, float sv, float tv) {
        kl += kd_term(r, sv, tv, t2);
        float g = gk * (r.ps(sv) - r.pt(tv));
        if constexpr (kHard) g += gc * (expf(sv - one.m) * inv_s1 - (c == y ? 1.0f : 0.0f));
        return bad ? NAN : g;
      });
    } else {
      for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) { kl += kd_term(r, sv, tv, t2); });
    }
    kl = team.sum(kl);
    if (valid && team.rank() == 0) {
      double ce_row = 0.0;
      if constexpr (kHard) {
        if (bad) record_bad_label(record, tag, row, y, C);
        ce_row = bad ? static_cast<double>(NAN)
                     : log(one.s) - (static_cast<double>(sr[y]) - static_cast<double>(one.m));
      }
      rows[row] = make_double2(kl, ce_row);
    }
  });
  // Every writer fences its rows before the block counts itself done (the threadFenceReduction pattern).
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&g_kd_blocks_done, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  double sum_kl = 0.0, sum_ce = 0.0;
  for (std::int64_t i = threadIdx.x; i < B; i += blockDim.x) {
    const double2 v = __ldcg(rows + i);  // from L2: other blocks wrote it
    sum_kl += v.x;
    if constexpr (kHard) sum_ce += v.y;
  }
  sum_kl = block_sum(sum_kl);
  if constexpr (kHard) sum_ce = block_sum(sum_ce);
  if (threadIdx.x == 0) {
    if (total) *total = static_cast<float>(scale * (kHard ? alpha * sum_kl + (1.0 - alpha) * sum_ce : sum_kl));
    if (kd) *kd = static_cast<float>(scale * sum_kl);
    if (kHard && ce) *ce = static_cast<float>(scale * sum_ce);
    g_kd_blocks_done = 0;
  }
}

// ------------------------------------------------------------------ host helpers

// 1/T formed in double and rounded once, as the CPU kernel forms it.
float inverse(float temperature) {
  return static_cast<float>(1.0 / static_cast<double>(temperature));
}

void kd_forward_impl(const float* s, const float* t, float* row_loss, float* loss, double* stats, std::int64_t B,
                     std::int64_t C, float temperature, int device) {
  const float t2 = static_cast<float>(static_cast<double>(temperature) * static_cast<double>(temperature));
  const RowPlan p = plan_rows(B, C, {s, t, loss});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("kd_kl_div", kd_forward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0,
                       device, s, t, row_loss, loss, stats, B, C, t2, inverse(temperature));
  });
}

void kd_backward_impl(const float* s, const float* t, const double* stats, const float* dloss, std::int64_t stride,
                      float scale, float* ds, float* dt, std::int64_t B, std::int64_t C, float temperature,
                      int device) {
  const char* name = "kd_kl_div backward";
  if (!ds && !dt) return;
  const RowPlan p = plan_rows(B, C, {s, t});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch(name, kd_backward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0, device,
                       s, t, stats, dloss, stride, scale, ds, dt, B, C, temperature, inverse(temperature));
  });
}

}  // namespace

template <class T>
void kd_kl_div_forward(const T* s, const T* t, T* row_loss, T* loss, double* stats, std::int64_t B, std::int64_t C,
                       T temperature, int device) {
  if constexpr (std::is_same_v<T, float>)
    kd_forward_impl(s, t, row_loss, loss, stats, B, C, temperature, device);
  else
    f32_only("kd_kl_div");
}

template <class T>
void kd_kl_div_backward(const T* s, const T* t, const double* stats, const T* dloss, std::int64_t dloss_stride, T scale,
                        T* ds, T* dt, std::int64_t B, std::int64_t C, T temperature, int device) {
  if constexpr (std::is_same_v<T, float>)
    kd_backward_impl(s, t, stats, dloss, dloss_stride, scale, ds, dt, B, C, temperature, device);
  else
    f32_only("kd_kl_div backward");
}

void kd_hard_forward(const float* s, const float* t, const std::int64_t* labels, float* row_loss, double* stats,
                     std::int64_t B, std::int64_t C, float temperature, float alpha, int device) {
  const float t2 = static_cast<float>(static_cast<double>(temperature) * static_cast<double>(temperature));
  const RowPlan p = plan_rows(B, C, {s, t});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("kd_hard", kd_hard_forward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0,
                       device, s, t, labels, row_loss, stats, B, C, t2, inverse(temperature),
                       static_cast<double>(alpha), label_record(device), next_label_tag());
  });
}

void kd_hard_backward(const float* s, const float* t, const std::int64_t* labels, const double* stats,
                      const float* dloss, std::int64_t dloss_stride, float scale, float* ds, std::int64_t B,
                      std::int64_t C, float temperature, float alpha, int device) {
  const RowPlan p = plan_rows(B, C, {s, t, ds});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("kd_hard backward", kd_hard_backward_kernel<decltype(w)::value, decltype(v)::value>, p.grid,
                       p.threads, 0, device, s, t, labels, stats, dloss, dloss_stride, scale, ds, B, C, temperature,
                       inverse(temperature), alpha);
  });
}


void kd_fused(const float* s, const float* t, const std::int64_t* labels, float* total, float* kd, float* ce, float* ds,
              std::int64_t B, std::int64_t C, float temperature, float alpha, float scale, int device) {
  require<ValueError>(labels || alpha == 1.0f, "kd_fused: alpha must be 1 without labels, found ", alpha);
  const double T = static_cast<double>(temperature), a = static_cast<double>(alpha), sc = static_cast<double>(scale);
  const float t2 = static_cast<float>(T * T);
  const float gk = static_cast<float>(sc * a * T), gc = static_cast<float>(sc * (1.0 - a));
  RowPlan p = plan_rows(B, C, {s, t, ds});
  if (p.grid == 0) p.grid = 1;  // no rows: the one block still writes the (empty) sums
  DeviceScratch rows(static_cast<size_t>(B > 0 ? B : 1) * sizeof(double2), device);
  double2* r = static_cast<double2*>(rows.ptr);
  visit_plan(p, [&](auto w, auto v) {
    constexpr int kW = decltype(w)::value;
    constexpr bool kV = decltype(v)::value;
    if (labels)
      kdcu::cuda::launch("kd_hard_loss", kd_fused_kernel<kW, kV, true>, p.grid, p.threads, 0, device, s, t, labels, r,
                         total, kd, ce, ds, B, C, t2, inverse(temperature), gk, gc, a, sc, label_record(device),
                         next_label_tag());
    else
      kdcu::cuda::launch("kd_kl_div", kd_fused_kernel<kW, kV, false>, p.grid, p.threads, 0, device, s, t, labels, r,
                         total, kd, ce, ds, B, C, t2, inverse(temperature), gk, gc, a, sc,
                         static_cast<LabelRecord*>(nullptr), 0ull);
  });
}

#define KDCU_INSTANTIATE(T)                                                                                    \
  template void kd_kl_div_forward<T>(const T*, const T*, T*, T*, double*, std::int64_t, std::int64_t, T, int); \
  template void kd_kl_div_backward<T>(const T*, const T*, const double*, const T*, std::int64_t, T, T*, T*,    \
                                      std::int64_t, std::int64_t, T, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
