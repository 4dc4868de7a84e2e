// Cross-entropy and MSE CUDA kernels, one launch per loss, a row per team (reduce_util.cuh's row
// plan: a group of 8/16/32 lanes per row up to 1024 classes, else a block per row with float4 loads
// where aligned). The cross-entropy row is one online sweep (max and sum of exponentials in
// double), and a second sweep from L1/L2 for the smoothing term. Labels are checked in the kernels
// themselves, with no answer sent back (labels.cuh): a bad one makes its row NaN and goes in the
// device's record, read only on the error path. The KD kernels are in kd_loss.cu.
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/labels.cuh"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// ------------------------------------------------------------------ cross-entropy

// loss[i] = (1 - e)(lse - (x_y - m)) + e (lse - mean_c (x_c - m)).  x: (N, C), labels: (N), loss: (N)
template <int W, bool kVec>
__global__ void __launch_bounds__(1024)
    ce_forward_kernel(const float* __restrict__ x, const std::int64_t* __restrict__ labels, float* __restrict__ loss,
                      std::int64_t N, std::int64_t C, double e, LabelRecord* record, unsigned long long tag) {
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
        record_bad_label(record, tag, row, y, C);
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

// ------------------------------------------------------------------ host helpers

void ce_forward_impl(const float* x, const std::int64_t* labels, float* loss, std::int64_t N, std::int64_t C, float e,
                     int device) {
  const RowPlan p = plan_rows(N, C, {x});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch("cross_entropy", ce_forward_kernel<decltype(w)::value, decltype(v)::value>, p.grid, p.threads, 0,
                       device, x, labels, loss, N, C, static_cast<double>(e), label_record(device),
                       next_label_tag());
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

}  // namespace

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


#define KDCU_INSTANTIATE(T)                                                                                           \
  template void cross_entropy_forward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, T, int);      \
  template void cross_entropy_backward<T>(const T*, const std::int64_t*, const T*, std::int64_t, T, T*, std::int64_t, \
                                          std::int64_t, T, int);                                                      \
  template void mse_forward<T>(const T*, const T*, T*, std::int64_t, int);                                            \
  template void mse_sum_forward<T>(const T*, const T*, T*, std::int64_t, T, int);                                     \
  template void mse_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
