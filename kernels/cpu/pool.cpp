// Pooling on the CPU, planes in parallel (each plane is written by one thread, so the backward's
// scatter-adds need no atomics and sum in a fixed order). Window clipping follows PyTorch's CPU
// kernels line for line, so divisors and tie-breaking match it exactly.
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// One output's window, clipped to the image, and the avg-pool divisor.
struct Window {
  std::int64_t y0, y1, x0, x1;  // in-image rows [y0, y1), columns [x0, x1)
  std::int64_t padded_size;     // pixels of the window inside the padded image
};

Window window_at(const Pool2dShape& s, std::int64_t i, std::int64_t j) {
  Window win;
  win.y0 = i * s.sh - s.ph;
  win.x0 = j * s.sw - s.pw;
  win.y1 = std::min(win.y0 + s.kh, s.h + s.ph);
  win.x1 = std::min(win.x0 + s.kw, s.w + s.pw);
  win.padded_size = (win.y1 - win.y0) * (win.x1 - win.x0);
  win.y0 = std::max<std::int64_t>(win.y0, 0);
  win.x0 = std::max<std::int64_t>(win.x0, 0);
  win.y1 = std::min(win.y1, s.h);
  win.x1 = std::min(win.x1, s.w);
  return win;
}

bool parallel_planes(const Pool2dShape& s) {
  return s.planes * s.oh * s.ow * s.kh * s.kw > kParallelGrain;
}

}  // namespace

// Without padding every window lies inside the image (floor mode): no clipping per output.
template <class T>
void max_pool2d_unpadded(const T* x, T* y, std::int64_t* indices, const Pool2dShape& s) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
#pragma omp parallel for if (parallel_planes(s))
  for (std::int64_t c = 0; c < s.planes; ++c) {
    const T* xc = x + c * in_plane;
    for (std::int64_t i = 0; i < s.oh; ++i) {
      for (std::int64_t j = 0; j < s.ow; ++j) {
        const std::int64_t first = i * s.sh * s.w + j * s.sw;
        std::int64_t best = first;
        T best_value = xc[first];
        for (std::int64_t a = 0; a < s.kh; ++a) {
          const std::int64_t row = first + a * s.w;
          for (std::int64_t b = 0; b < s.kw; ++b) {
            const T v = xc[row + b];
            if (v > best_value || std::isnan(v)) {  // as the clipped path: the first maximum wins a tie
              best_value = v;
              best = row + b;
            }
          }
        }
        const std::int64_t o = c * out_plane + i * s.ow + j;
        y[o] = best_value;
        if (indices) indices[o] = best;
      }
    }
  }
}

template <class T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* indices, const Pool2dShape& s) {
  if (s.ph == 0 && s.pw == 0) return max_pool2d_unpadded(x, y, indices, s);
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
#pragma omp parallel for if (parallel_planes(s))
  for (std::int64_t c = 0; c < s.planes; ++c) {
    const T* xc = x + c * in_plane;
    for (std::int64_t i = 0; i < s.oh; ++i) {
      for (std::int64_t j = 0; j < s.ow; ++j) {
        const Window win = window_at(s, i, j);
        std::int64_t best = win.y0 * s.w + win.x0;
        T best_value = -std::numeric_limits<T>::infinity();
        for (std::int64_t iy = win.y0; iy < win.y1; ++iy) {
          for (std::int64_t ix = win.x0; ix < win.x1; ++ix) {
            const T v = xc[iy * s.w + ix];
            if (v > best_value || std::isnan(v)) {  // strict: the first maximum wins a tie
              best_value = v;
              best = iy * s.w + ix;
            }
          }
        }
        const std::int64_t o = c * out_plane + i * s.ow + j;
        y[o] = best_value;
        if (indices) indices[o] = best;
      }
    }
  }
}

template <class T>
void max_pool2d_backward(const T* dy, const std::int64_t* indices, T* dx, const Pool2dShape& s) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
#pragma omp parallel for if (parallel_planes(s))
  for (std::int64_t c = 0; c < s.planes; ++c) {
    T* dxc = dx + c * in_plane;
    std::fill(dxc, dxc + in_plane, T(0));
    for (std::int64_t o = c * out_plane; o < (c + 1) * out_plane; ++o) dxc[indices[o]] += dy[o];
  }
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
#pragma omp parallel for if (parallel_planes(s))
  for (std::int64_t c = 0; c < s.planes; ++c) {
    const T* xc = x + c * in_plane;
    for (std::int64_t i = 0; i < s.oh; ++i) {
      for (std::int64_t j = 0; j < s.ow; ++j) {
        const Window win = window_at(s, i, j);
        T& out = y[c * out_plane + i * s.ow + j];
        if (win.y0 >= win.y1 || win.x0 >= win.x1) {
          out = T(0);
          continue;
        }
        T sum = T(0);
        for (std::int64_t iy = win.y0; iy < win.y1; ++iy)
          for (std::int64_t ix = win.x0; ix < win.x1; ++ix) sum += xc[iy * s.w + ix];
        const std::int64_t divisor = count_include_pad ? win.padded_size : (win.y1 - win.y0) * (win.x1 - win.x0);
        out = sum / static_cast<T>(divisor);
      }
    }
  }
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad) {
  const std::int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
#pragma omp parallel for if (parallel_planes(s))
  for (std::int64_t c = 0; c < s.planes; ++c) {
    T* dxc = dx + c * in_plane;
    std::fill(dxc, dxc + in_plane, T(0));
    for (std::int64_t i = 0; i < s.oh; ++i) {
      for (std::int64_t j = 0; j < s.ow; ++j) {
        const Window win = window_at(s, i, j);
        if (win.y0 >= win.y1 || win.x0 >= win.x1) continue;
        const std::int64_t divisor = count_include_pad ? win.padded_size : (win.y1 - win.y0) * (win.x1 - win.x0);
        const T delta = dy[c * out_plane + i * s.ow + j] / static_cast<T>(divisor);
        for (std::int64_t iy = win.y0; iy < win.y1; ++iy)
          for (std::int64_t ix = win.x0; ix < win.x1; ++ix) dxc[iy * s.w + ix] += delta;
      }
    }
  }
}

template <class T>
void global_avg_pool2d_forward(const T* x, T* y, std::int64_t planes, std::int64_t hw) {
#pragma omp parallel for if (planes * hw > kParallelGrain)
  for (std::int64_t c = 0; c < planes; ++c) {
    double sum = 0.0;
    for (const T* p = x + c * hw; p < x + (c + 1) * hw; ++p) sum += static_cast<double>(*p);
    y[c] = static_cast<T>(sum / static_cast<double>(hw));
  }
}

template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, std::int64_t planes, std::int64_t hw) {
#pragma omp parallel for if (planes * hw > kParallelGrain)
  for (std::int64_t c = 0; c < planes; ++c) {
    const T g = dy[c] / static_cast<T>(hw);
    std::fill(dx + c * hw, dx + (c + 1) * hw, g);
  }
}

#define KDCU_INSTANTIATE(T)                                                                    \
  template void max_pool2d_forward<T>(const T*, T*, std::int64_t*, const Pool2dShape&);        \
  template void max_pool2d_backward<T>(const T*, const std::int64_t*, T*, const Pool2dShape&); \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&, bool);                 \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&, bool);                \
  template void global_avg_pool2d_forward<T>(const T*, T*, std::int64_t, std::int64_t);        \
  template void global_avg_pool2d_backward<T>(const T*, T*, std::int64_t, std::int64_t);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
