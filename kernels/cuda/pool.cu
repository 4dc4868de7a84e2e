// Pooling on CUDA (see pool.h). The window arithmetic is the CPU's window_at, line for line, so
// divisors and clipping agree; the backward gathers, in the order the CPU's scatter adds.
#include <cmath>

#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/pool.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// One output's window, clipped to the image, and the avg-pool divisor (as kernels/cpu/pool.cpp).
struct Window {
  std::int64_t y0, y1, x0, x1;  // in-image rows [y0, y1), columns [x0, x1)
  std::int64_t padded_size;     // pixels of the window inside the padded image
};

__device__ inline Window window_at(const Pool2dShape& s, std::int64_t i, std::int64_t j) {
  Window win;
  win.y0 = i * s.sh - s.ph;
  win.x0 = j * s.sw - s.pw;
  win.y1 = min(win.y0 + s.kh, s.h + s.ph);
  win.x1 = min(win.x0 + s.kw, s.w + s.pw);
  win.padded_size = (win.y1 - win.y0) * (win.x1 - win.x0);
  win.y0 = max(win.y0, std::int64_t{0});
  win.x0 = max(win.x0, std::int64_t{0});
  win.y1 = min(win.y1, s.h);
  win.x1 = min(win.x1, s.w);
  return win;
}

__device__ inline std::int64_t divisor_of(const Window& win, bool count_include_pad) {
  return count_include_pad ? win.padded_size : (win.y1 - win.y0) * (win.x1 - win.x0);
}

// The outputs along one dim whose unclipped window [o * stride - pad, o * stride - pad + k) holds
// input coordinate p: [lo, hi] (empty when lo > hi).
__device__ inline void covering(std::int64_t p, std::int64_t k, std::int64_t stride, std::int64_t pad,
                                std::int64_t count, std::int64_t& lo, std::int64_t& hi) {
  const std::int64_t first = p + pad - k + 1;  // o * stride >= first
  lo = first > 0 ? (first + stride - 1) / stride : 0;
  hi = min((p + pad) / stride, count - 1);
}

// The CPU's padded path; without padding it gives the same winner as the CPU's unpadded fast path
// (both scan the window in row order with the same comparison, and an all -inf window keeps its
// first pixel in both).
template <class T>
__global__ void max_forward_kernel(const T* x, T* y, std::int64_t* indices, Pool2dShape s) {
  const std::int64_t out_plane = s.oh * s.ow;
  for (const std::int64_t o : grid_stride(s.planes * out_plane)) {
    const std::int64_t c = o / out_plane, r = o % out_plane, i = r / s.ow, j = r % s.ow;
    const T* xc = x + c * s.h * s.w;
    const Window win = window_at(s, i, j);
    std::int64_t best = win.y0 * s.w + win.x0;
    T best_value = -static_cast<T>(INFINITY);
    for (std::int64_t iy = win.y0; iy < win.y1; ++iy) {
      for (std::int64_t ix = win.x0; ix < win.x1; ++ix) {
        const T v = xc[iy * s.w + ix];
        if (v > best_value || isnan(v)) {  // strict: the first maximum wins a tie; a NaN always wins
          best_value = v;
          best = iy * s.w + ix;
        }
      }
    }
    y[o] = best_value;
    if (indices) indices[o] = best;
  }
}

template <class T>
__global__ void max_backward_kernel(const T* dy, const std::int64_t* indices, T* dx, Pool2dShape s) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  for (const std::int64_t e : grid_stride(s.planes * in_plane)) {
    const std::int64_t c = e / in_plane, pix = e % in_plane, iy = pix / s.w, ix = pix % s.w;
    std::int64_t i0, i1, j0, j1;
    covering(iy, s.kh, s.sh, s.ph, s.oh, i0, i1);
    covering(ix, s.kw, s.sw, s.pw, s.ow, j0, j1);
    T acc = T(0);
    for (std::int64_t i = i0; i <= i1; ++i) {
      for (std::int64_t j = j0; j <= j1; ++j) {
        const std::int64_t o = c * out_plane + i * s.ow + j;
        if (indices[o] == pix) acc += dy[o];
      }
    }
    dx[e] = acc;
  }
}

template <class T>
__global__ void avg_forward_kernel(const T* x, T* y, Pool2dShape s, bool count_include_pad) {
  const std::int64_t out_plane = s.oh * s.ow;
  for (const std::int64_t o : grid_stride(s.planes * out_plane)) {
    const std::int64_t c = o / out_plane, r = o % out_plane, i = r / s.ow, j = r % s.ow;
    const T* xc = x + c * s.h * s.w;
    const Window win = window_at(s, i, j);
    if (win.y0 >= win.y1 || win.x0 >= win.x1) {
      y[o] = T(0);
      continue;
    }
    T sum = T(0);
    for (std::int64_t iy = win.y0; iy < win.y1; ++iy)
      for (std::int64_t ix = win.x0; ix < win.x1; ++ix) sum += xc[iy * s.w + ix];
    y[o] = sum / static_cast<T>(divisor_of(win, count_include_pad));
  }
}

template <class T>
__global__ void avg_backward_kernel(const T* dy, T* dx, Pool2dShape s, bool count_include_pad) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  for (const std::int64_t e : grid_stride(s.planes * in_plane)) {
    const std::int64_t c = e / in_plane, pix = e % in_plane, iy = pix / s.w, ix = pix % s.w;
    std::int64_t i0, i1, j0, j1;
    covering(iy, s.kh, s.sh, s.ph, s.oh, i0, i1);
    covering(ix, s.kw, s.sw, s.pw, s.ow, j0, j1);
    T acc = T(0);
    for (std::int64_t i = i0; i <= i1; ++i) {
      for (std::int64_t j = j0; j <= j1; ++j) {
        // An in-image pixel inside the unclipped window is inside the clipped one too.
        const Window win = window_at(s, i, j);
        const T delta = dy[c * out_plane + i * s.ow + j] / static_cast<T>(divisor_of(win, count_include_pad));
        acc += delta;
      }
    }
    dx[e] = acc;
  }
}

constexpr int kWarp = 32, kWarpsPerBlock = kThreads / kWarp;

template <class T>
__global__ void global_avg_forward_kernel(const T* x, T* y, std::int64_t planes, std::int64_t hw) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const std::int64_t warp = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) / kWarp;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * blockDim.x / kWarp;
  for (std::int64_t c = warp; c < planes; c += warps) {
    double sum = 0.0;
    for (std::int64_t j = lane; j < hw; j += kWarp) sum += static_cast<double>(x[c * hw + j]);
    for (int offset = kWarp / 2; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[c] = static_cast<T>(sum / static_cast<double>(hw));
  }
}

template <class T>
__global__ void global_avg_backward_kernel(const T* dy, T* dx, std::int64_t planes, std::int64_t hw) {
  for (const std::int64_t e : grid_stride(planes * hw)) dx[e] = dy[e / hw] / static_cast<T>(hw);
}

}  // namespace

template <class T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* indices, const Pool2dShape& s, int device) {
  kdcu::cuda::launch("max_pool2d", max_forward_kernel<T>, grid_for(s.planes * s.oh * s.ow), kThreads, 0, device, x, y,
                     indices, s);
}

template <class T>
void max_pool2d_backward(const T* dy, const std::int64_t* indices, T* dx, const Pool2dShape& s, int device) {
  kdcu::cuda::launch("max_pool2d backward", max_backward_kernel<T>, grid_for(s.planes * s.h * s.w), kThreads, 0, device,
                     dy, indices, dx, s);
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad, int device) {
  kdcu::cuda::launch("avg_pool2d", avg_forward_kernel<T>, grid_for(s.planes * s.oh * s.ow), kThreads, 0, device, x, y,
                     s, count_include_pad);
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad, int device) {
  kdcu::cuda::launch("avg_pool2d backward", avg_backward_kernel<T>, grid_for(s.planes * s.h * s.w), kThreads, 0, device,
                     dy, dx, s, count_include_pad);
}

template <class T>
void global_avg_pool2d_forward(const T* x, T* y, std::int64_t planes, std::int64_t hw, int device) {
  const std::int64_t blocks = (planes + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned int grid = static_cast<unsigned int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  kdcu::cuda::launch("global_avg_pool2d", global_avg_forward_kernel<T>, grid, kThreads, 0, device, x, y, planes, hw);
}

template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, std::int64_t planes, std::int64_t hw, int device) {
  kdcu::cuda::launch("global_avg_pool2d backward", global_avg_backward_kernel<T>, grid_for(planes * hw), kThreads, 0,
                     device, dy, dx, planes, hw);
}

#define KDCU_INSTANTIATE(T)                                                                         \
  template void max_pool2d_forward<T>(const T*, T*, std::int64_t*, const Pool2dShape&, int);        \
  template void max_pool2d_backward<T>(const T*, const std::int64_t*, T*, const Pool2dShape&, int); \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&, bool, int);                 \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&, bool, int);                \
  template void global_avg_pool2d_forward<T>(const T*, T*, std::int64_t, std::int64_t, int);        \
  template void global_avg_pool2d_backward<T>(const T*, T*, std::int64_t, std::int64_t, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
