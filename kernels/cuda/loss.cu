// Loss CUDA kernels, one launch per loss, a row per team (reduce_util.cuh's row plan: a group of
// 8/16/32 lanes per row up to 1024 classes, else a block per row with float4 loads where aligned).
// Pass 1 is one online sweep (max and sum of exponentials in double); pass 2 re-reads the row
// (L1/L2) for the terms that need the finished max and log-sum-exp. Log-probabilities are formed
// as (x - max) / T - lse and KL terms from differences of them, never from log(p), so logits of
// +-1e4 stay finite. KD forward + backward are two launches, not one: the upstream gradient is
// only known at backward time, and precomputing d(student) in the forward would cost a (B, C)
// write plus a read, more than the backward's re-read of s and t. With a scalar upstream gradient
// the KD backward needs no reduction at all (sum_c p_t,c = 1): ds = T g (p_s - p_t), elementwise.
// Labels are checked in the kernels themselves, with no answer sent back (see loss.h): a bad one
// makes its row NaN and goes in the device's record, read only on the error path.
#include <atomic>

#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// ------------------------------------------------------------------ labels

// The record of a bad label. A __device__ variable: each device has its own copy, set up when the
// module loads, so there is nothing to allocate. `tag` names the launch that wrote it.
struct LabelRecord {
  unsigned long long row;  // kNoRow while clear
  long long label, classes;
  unsigned long long tag;
  int lock;
};
constexpr unsigned long long kNoRow = ~0ull;
__device__ LabelRecord label_record = {kNoRow, 0, 0, 0, 0};

// Host: a tag per labelled launch (any device), so the record can tell its own launch from a later one.
std::atomic<unsigned long long> launch_tags{0};
unsigned long long next_tag() {
  return ++launch_tags;
}

__device__ inline bool bad_label(std::int64_t y, std::int64_t C) {
  return y < 0 || y >= C;
}

// Notes bad label y of row `row` (C classes) in launch `tag`: the record keeps the first launch that
// saw one and, within it, the smallest row, whatever order the rows arrive in. Only bad rows come
// here, so a spin lock does (sm_70+ schedules the lanes of a warp independently: lanes that contend
// for it all progress). Within a launch the recorded row only decreases, so a stale read of it is
// still a safe reason to skip.
__device__ void record_bad_label(unsigned long long tag, std::int64_t row, std::int64_t y, std::int64_t C) {
  volatile LabelRecord& r = label_record;
  const unsigned long long u = static_cast<unsigned long long>(row);
  if (r.row <= u) return;  // an earlier launch, or a smaller row of this one, is recorded already
  int* lock = const_cast<int*>(&r.lock);
  while (atomicCAS(lock, 0, 1) != 0) {
  }
  __threadfence();
  if (r.row == kNoRow || (r.tag == tag && u < r.row)) {
    r.tag = tag;
    r.label = y;
    r.classes = C;
    r.row = u;
  }
  __threadfence();
  atomicExch(lock, 0);
}

// Copies the record to `out` and clears it. One thread; nothing else runs on the stream meanwhile.
__global__ void take_label_record_kernel(LabelRecord* out) {
  out->row = label_record.row;
  out->label = label_record.label;
  out->classes = label_record.classes;
  out->tag = label_record.tag;
  out->lock = 0;
  label_record.row = kNoRow;
}

// ------------------------------------------------------------------ cross-entropy

// loss[i] = (1 - e)(lse - (x_y - m)) + e (lse - mean_c (x_c - m)).  x: (N, C), labels: (N), loss: (N)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    ce_forward_kernel(const float* __restrict__ x, const std::int64_t* __restrict__ labels, float* __restrict__ loss,
                      std::int64_t N, std::int64_t C, double e, unsigned long long tag) {
  for_each_row<W>(N, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float* xr = x + row * C;
    MaxSum ms = max_sum_identity();
    for_row<kVec>(team, xr, len, [&](std::int64_t, float v) { max_sum_add(ms, v, 1.0f); });
    ms = team.max_sum(ms, 1.0f);
    const double m = ms.m, lse = log(ms.s);
    double shifted = 0.0;  // sum_c (x_c - m), only for smoothing (skipped, not multiplied by 0, as on the CPU)
    if (e > 0.0) {
      for_row<kVec>(team, xr, len, [&](std::int64_t, float v) { shifted += static_cast<double>(v) - m; });
      shifted = team.sum(shifted);
    }
    if (valid && team.rank() == 0) {
      const std::int64_t y = labels[row];
      if (bad_label(y, C)) {  // no read outside the row: NaN, and the record for the deferred check
        loss[row] = NAN;
        record_bad_label(tag, row, y, C);
        return;
      }
      double value = lse - (static_cast<double>(xr[y]) - m);
      if (e > 0.0) value = (1.0 - e) * value + e * (lse - shifted / static_cast<double>(C));
      loss[row] = static_cast<float>(value);
    }
  });
}

// dx[i, c] = g_i (softmax(x_i)_c - q_c), q = (1 - e) onehot(y_i) + e / C.  x, dx: (N, C)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    ce_backward_kernel(const float* __restrict__ x, const std::int64_t* __restrict__ labels,
                       const float* __restrict__ dloss, std::int64_t stride, float scale, float* __restrict__ dx,
                       std::int64_t N, std::int64_t C, double e) {
  const double off = e / static_cast<double>(C), on = 1.0 - e + off;
  for_each_row<W>(N, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float* xr = x + row * C;
    MaxSum ms = max_sum_identity();
    for_row<kVec>(team, xr, len, [&](std::int64_t, float v) { max_sum_add(ms, v, 1.0f); });
    ms = team.max_sum(ms, 1.0f);
    if (!valid) return;  // nothing below synchronises
    const float m = ms.m, inv_s = static_cast<float>(1.0 / ms.s);
    const std::int64_t y = labels[row];
    // A bad label's row (NaN loss, recorded by the forward) gets a NaN gradient, not a plausible one.
    const double g = bad_label(y, C) ? static_cast<double>(NAN)
                                     : static_cast<double>(scale) * static_cast<double>(dloss[row * stride]);
    map_row<kVec>(team, xr, dx + row * C, len, [&](std::int64_t c, float v) {
      const double p = static_cast<double>(expf(v - m) * inv_s);
      return static_cast<float>(g * (p - (c == y ? on : off)));
    });
  });
}

// ------------------------------------------------------------------ mean squared error

template <class T>
__global__ void mse_forward_kernel(const T* x, const T* t, T* loss, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) {
    const T d = x[i] - t[i];
    loss[i] = d * d;
  }
}

template <class T>
struct SquaredDiff {
  const T* x;
  const T* t;
  __device__ double operator()(std::int64_t i) const {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    return d * d;
  }
};

template <class T>
__global__ void mse_backward_kernel(const T* x, const T* t, const T* dloss, std::int64_t stride, T scale, T* dx, T* dt,
                                    std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) {
    const T d = T(2) * scale * dloss[i * stride] * (x[i] - t[i]);
    if (dx) dx[i] = d;
    if (dt) dt[i] = -d;
  }
}

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

// s, t, loss: (B, C), row_loss: (B), stats: (B, 4)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_forward_kernel(const float* __restrict__ s, const float* __restrict__ t, float* row_loss, float* loss,
                      double* stats, std::int64_t B, std::int64_t C, float t2, float inv_t) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    MaxSum a = max_sum_identity(), b = max_sum_identity();
    for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) {
      max_sum_add(a, sv, inv_t);
      max_sum_add(b, tv, inv_t);
    });
    a = team.max_sum(a, inv_t);
    b = team.max_sum(b, inv_t);
    const double lse_s = log(a.s), lse_t = log(b.s);
    const KdRow r = kd_row(a.m, lse_s, b.m, lse_t, inv_t);
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

// Scalar upstream gradient, student only: ds = T g (p_s - p_t), no reduction.  s, t, ds: (B, C)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    kd_backward_scalar_kernel(const float* __restrict__ s, const float* __restrict__ t,
                              const double* __restrict__ stats, const float* __restrict__ dloss, float scale,
                              float* __restrict__ ds, std::int64_t B, std::int64_t C, float temp, float inv_t) {
  const float tg = temp * scale * dloss[0];
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    if (!valid) return;  // nothing here synchronises
    const double* st = stats + row * 4;
    const KdRow r = kd_row(static_cast<float>(st[0]), st[1], static_cast<float>(st[2]), st[3], inv_t);
    map_row2<kVec>(team, s + row * C, t + row * C, ds + row * C, C,
                   [&](std::int64_t, float sv, float tv) { return tg * (r.ps(sv) - r.pt(tv)); });
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
                           std::int64_t C, float t2, float inv_t, double alpha, unsigned long long tag) {
  for_each_row<W>(B, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? C : 0;
    const float *sr = s + row * C, *tr = t + row * C;
    MaxSum a = max_sum_identity(), b = max_sum_identity();
    for_row2<kVec>(team, sr, tr, len, [&](std::int64_t, float sv, float tv) {
      max_sum_add(a, sv, inv_t);
      max_sum_add(b, tv, inv_t);
    });
    a = team.max_sum(a, inv_t);
    b = team.max_sum(b, inv_t);
    const double lse_s = log(a.s), lse_t = log(b.s);
    const KdRow r = kd_row(a.m, lse_s, b.m, lse_t, inv_t);
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
      if (bad) record_bad_label(tag, row, y, C);
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

// ------------------------------------------------------------------ host helpers

void ce_forward_impl(const float* x, const std::int64_t* labels, float* loss, std::int64_t N, std::int64_t C, float e,
                     int device) {
  const RowPlan p = plan_rows(N, C, {x});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("cross_entropy", ce_forward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0,
                       device, x, labels, loss, N, C, static_cast<double>(e), next_tag());
  });
}

void ce_backward_impl(const float* x, const std::int64_t* labels, const float* dloss, std::int64_t stride, float scale,
                      float* dx, std::int64_t N, std::int64_t C, float e, int device) {
  const RowPlan p = plan_rows(N, C, {x, dx});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("cross_entropy backward", ce_backward_kernel<decltype(w)::value, decltype(v)::value>, p.grid,
                       p.threads, 0, device, x, labels, dloss, stride, scale, dx, N, C, static_cast<double>(e));
  });
}

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
  if (stride == 0 && !dt) {
    const RowPlan p = plan_rows(B, C, {s, t, ds});
    visit_plan(p, [&](auto w, auto v) {
      kdcu::cuda::launch(name, kd_backward_scalar_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0,
                         device, s, t, stats, dloss, scale, ds, B, C, temperature, inverse(temperature));
    });
    return;
  }
  const RowPlan p = plan_rows(B, C, {s, t});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch(name, kd_backward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0, device,
                       s, t, stats, dloss, stride, scale, ds, dt, B, C, temperature, inverse(temperature));
  });
}

}  // namespace

std::optional<LabelError> take_label_error(int device) {
  DeviceScratch out(sizeof(LabelRecord), device);
  auto* ptr = static_cast<LabelRecord*>(out.ptr);
  kdcu::cuda::launch("take_label_error", take_label_record_kernel, 1, 1, 0, device, ptr);
  LabelRecord host{};
  kdcu::cuda::copy_device_to_host(&host, ptr, sizeof(host), device);  // waits for the stream
  if (host.row == kNoRow) return std::nullopt;
  return LabelError{static_cast<std::int64_t>(host.row), host.label, host.classes};
}

template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* labels, T* loss, std::int64_t N, std::int64_t C,
                           T label_smoothing, int device) {
  if constexpr (std::is_same_v<T, float>)
    ce_forward_impl(logits, labels, loss, N, C, label_smoothing, device);
  else
    f32_only("cross_entropy");
}

template <class T>
void cross_entropy_backward(const T* logits, const std::int64_t* labels, const T* dloss, std::int64_t dloss_stride,
                            T scale, T* dlogits, std::int64_t N, std::int64_t C, T label_smoothing, int device) {
  if constexpr (std::is_same_v<T, float>)
    ce_backward_impl(logits, labels, dloss, dloss_stride, scale, dlogits, N, C, label_smoothing, device);
  else
    f32_only("cross_entropy backward");
}

template <class T>
void mse_forward(const T* x, const T* t, T* loss, std::int64_t n, int device) {
  kdcu::cuda::launch("mse_loss", mse_forward_kernel<T>, grid_for(n), kThreads, 0, device, x, t, loss, n);
}

template <class T>
void mse_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T scale, int device) {
  ordered_sum<T>("mse_loss", SquaredDiff<T>{x, t}, n, static_cast<double>(scale), y, device);
}

template <class T>
void mse_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                  std::int64_t n, int device) {
  kdcu::cuda::launch("mse_loss backward", mse_backward_kernel<T>, grid_for(n), kThreads, 0, device, x, t, dloss,
                     dloss_stride, scale, dx, dt, n);
}

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
                       static_cast<double>(alpha), next_tag());
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

#define KDCU_INSTANTIATE(T)                                                                                           \
  template void cross_entropy_forward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, T, int);      \
  template void cross_entropy_backward<T>(const T*, const std::int64_t*, const T*, std::int64_t, T, T*, std::int64_t, \
                                          std::int64_t, T, int);                                                      \
  template void mse_forward<T>(const T*, const T*, T*, std::int64_t, int);                                            \
  template void mse_sum_forward<T>(const T*, const T*, T*, std::int64_t, T, int);                                     \
  template void mse_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t, int);            \
  template void kd_kl_div_forward<T>(const T*, const T*, T*, T*, double*, std::int64_t, std::int64_t, T, int);        \
  template void kd_kl_div_backward<T>(const T*, const T*, const double*, const T*, std::int64_t, T, T*, T*,           \
                                      std::int64_t, std::int64_t, T, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
