// Softmax / log-softmax with the temperature fused (z = (x - max) * (1/T) in registers), forward
// and backward. Contiguous rows (inner == 1) use the row plan of reduce_util.cuh: a group of 8/16/32
// lanes per row up to 1024 elements (several rows per warp for tiny rows), else a block per row
// with float4 loads where aligned. Pass 1 is one sweep (online max and sum of exponentials, or the
// backward's dot product, summed in double), pass 2 re-reads the row (from L1/L2) and writes it.
// inner > 1 (a softmax over a middle dim) takes one thread per (o, k) column, strided by inner.
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce_util.cuh"
#include "kernels/cuda/softmax.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// ------------------------------------------------------------------ forward

// x, y: (rows, n)
template <int W, bool kVec, bool kLog>
__global__ void __launch_bounds__(1024) softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y,
                                                            std::int64_t rows, std::int64_t n, float inv_t) {
  for_each_row<W>(rows, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? n : 0;
    const float* xr = x + row * n;
    float* yr = y + row * n;
    MaxSum ms = max_sum_identity();
    for_row<kVec>(team, xr, len, [&](std::int64_t, float v) { max_sum_add(ms, v, inv_t); });
    ms = team.max_sum(ms, inv_t);
    const float m = ms.m;
    if constexpr (kLog) {
      const float log_s = static_cast<float>(log(ms.s));
      map_row<kVec>(team, xr, yr, len, [&](std::int64_t, float v) { return (v - m) * inv_t - log_s; });
    } else {
      const float inv_s = static_cast<float>(1.0 / ms.s);
      map_row<kVec>(team, xr, yr, len, [&](std::int64_t, float v) { return expf((v - m) * inv_t) * inv_s; });
    }
  });
}

// x, y: (outer, n, inner), one thread per (o, k).
template <bool kLog>
__global__ void softmax_strided_kernel(const float* __restrict__ x, float* __restrict__ y, std::int64_t outer,
                                       std::int64_t n, std::int64_t inner, float inv_t) {
  for (const std::int64_t i : grid_stride(outer * inner)) {
    const std::int64_t base = (i / inner) * n * inner + i % inner;
    MaxSum ms = max_sum_identity();
    for (std::int64_t j = 0; j < n; ++j) max_sum_add(ms, x[base + j * inner], inv_t);
    ms = max_sum_finish(ms);
    if constexpr (kLog) {
      const float log_s = static_cast<float>(log(ms.s));
      for (std::int64_t j = 0; j < n; ++j) y[base + j * inner] = (x[base + j * inner] - ms.m) * inv_t - log_s;
    } else {
      const float inv_s = static_cast<float>(1.0 / ms.s);
      for (std::int64_t j = 0; j < n; ++j) y[base + j * inner] = expf((x[base + j * inner] - ms.m) * inv_t) * inv_s;
    }
  }
}

// ------------------------------------------------------------------ backward

// softmax: dx = y (dy - sum dy y) / T; log_softmax: dx = (dy - exp(y) sum dy) / T.  y, dy, dx: (rows, n)
template <int W, bool kVec, bool kLog>
__global__ void __launch_bounds__(1024)
    softmax_backward_rows_kernel(const float* __restrict__ y, const float* __restrict__ dy, float* __restrict__ dx,
                                 std::int64_t rows, std::int64_t n, float inv_t) {
  for_each_row<W>(rows, [&](const auto& team, std::int64_t row, bool valid) {
    const std::int64_t len = valid ? n : 0;
    const float *yr = y + row * n, *gr = dy + row * n;
    double acc = 0.0;
    for_row2<kVec>(team, yr, gr, len, [&](std::int64_t, float yv, float g) {
      acc += kLog ? static_cast<double>(g) : static_cast<double>(g) * static_cast<double>(yv);
    });
    const float red = static_cast<float>(team.sum(acc));
    map_row2<kVec>(team, yr, gr, dx + row * n, len, [&](std::int64_t, float yv, float g) {
      return kLog ? (g - expf(yv) * red) * inv_t : yv * (g - red) * inv_t;
    });
  });
}

// y, dy, dx: (outer, n, inner), one thread per (o, k).
template <bool kLog>
__global__ void softmax_backward_strided_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                                float* __restrict__ dx, std::int64_t outer, std::int64_t n,
                                                std::int64_t inner, float inv_t) {
  for (const std::int64_t i : grid_stride(outer * inner)) {
    const std::int64_t base = (i / inner) * n * inner + i % inner;
    double acc = 0.0;
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t e = base + j * inner;
      acc += kLog ? static_cast<double>(dy[e]) : static_cast<double>(dy[e]) * static_cast<double>(y[e]);
    }
    const float red = static_cast<float>(acc);
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t e = base + j * inner;
      dx[e] = kLog ? (dy[e] - expf(y[e]) * red) * inv_t : y[e] * (dy[e] - red) * inv_t;
    }
  }
}

// ------------------------------------------------------------------ host side

template <bool kLog>
void forward_impl(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, float inv_t,
                  int device) {
  const char* name = kLog ? "log_softmax" : "softmax";
  if (inner != 1) {
    kdcu::cuda::launch(name, softmax_strided_kernel<kLog>, grid_for(outer * inner), kThreads, 0, device, x, y, outer, n,
                       inner, inv_t);
    return;
  }
  const RowPlan p = plan_rows(outer, n, {x, y});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch(name, softmax_rows_kernel<decltype(w)::value, decltype(v)::value, kLog>, p.grid, p.threads, 0,
                       device, x, y, outer, n, inv_t);
  });
}

template <bool kLog>
void backward_impl(const float* y, const float* dy, float* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                   float inv_t, int device) {
  const char* name = kLog ? "log_softmax backward" : "softmax backward";
  if (inner != 1) {
    kdcu::cuda::launch(name, softmax_backward_strided_kernel<kLog>, grid_for(outer * inner), kThreads, 0, device, y, dy,
                       dx, outer, n, inner, inv_t);
    return;
  }
  const RowPlan p = plan_rows(outer, n, {y, dy, dx});
  visit_plan(p, [&](auto w, auto v) {
    kdcu::cuda::launch(name, softmax_backward_rows_kernel<decltype(w)::value, decltype(v)::value, kLog>, p.grid,
                       p.threads, 0, device, y, dy, dx, outer, n, inv_t);
  });
}

}  // namespace

template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature,
                     int device) {
  if constexpr (std::is_same_v<T, float>)
    forward_impl<false>(x, y, outer, n, inner, inv_temperature, device);
  else
    f32_only("softmax");
}

template <class T>
void log_softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T inv_temperature,
                         int device) {
  if constexpr (std::is_same_v<T, float>)
    forward_impl<true>(x, y, outer, n, inner, inv_temperature, device);
  else
    f32_only("log_softmax");
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      T inv_temperature, int device) {
  if constexpr (std::is_same_v<T, float>)
    backward_impl<false>(y, dy, dx, outer, n, inner, inv_temperature, device);
  else
    f32_only("softmax backward");
}

template <class T>
void log_softmax_backward(const T* y, const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                          T inv_temperature, int device) {
  if constexpr (std::is_same_v<T, float>)
    backward_impl<true>(y, dy, dx, outer, n, inner, inv_temperature, device);
  else
    f32_only("log_softmax backward");
}

#define KDCU_INSTANTIATE(T)                                                                                    \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int);            \
  template void log_softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int);        \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int); \
  template void log_softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
