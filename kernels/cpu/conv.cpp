// Convolution on the CPU by im2col + GEMM, one image at a time, OpenMP across the batch with a
// column buffer per thread (the GEMMs inside then run single-threaded). Buffers are allocated
// before any parallel region so that an allocation failure is an exception, not a terminate.
#include "kernels/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/dispatch.h"

namespace kdcu {
namespace kernels {
namespace cpu {
namespace {

// The outputs j in [lo, hi) whose input coordinate j * stride + offset lies in [0, size).
void valid_range(std::int64_t offset, std::int64_t stride, std::int64_t size, std::int64_t count, std::int64_t& lo,
                 std::int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = offset >= size ? 0 : (size - 1 - offset) / stride + 1;
  lo = std::min(lo, count);
  hi = std::max(lo, std::min(hi, count));
}

// A 1x1, stride-1, unpadded kernel reads each image as it is: its column matrix is the image.
bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// Splitting the batch across threads pays once there are two images and enough multiply-adds;
// never more threads than images, so that every thread (and its buffers) has work.
int batch_threads(const Conv2dShape& s) {
  const std::int64_t work = s.n * s.cout * s.cin * s.kh * s.kw * s.oh * s.ow;
  if (s.n < 2 || work <= kParallelGrain) return 1;
  return static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), s.n));
}

// Walks im2col's rows (c, a, b) and the output rows i, calling f(row, i, x_row, lo, hi, ix):
// x_row is the offset in x of the input row read (-1 when it lies in the padding); output
// columns [lo, hi) read in-image pixels, the first at column ix, then every sw.
template <class F>
void for_each_col_row(const Conv2dShape& s, F&& f) {
  for (std::int64_t c = 0; c < s.cin; ++c) {
    for (std::int64_t a = 0; a < s.kh; ++a) {
      for (std::int64_t b = 0; b < s.kw; ++b) {
        const std::int64_t row = (c * s.kh + a) * s.kw + b;
        const std::int64_t x_off = b * s.dw - s.pw;
        std::int64_t lo, hi;
        valid_range(x_off, s.sw, s.w, s.ow, lo, hi);
        for (std::int64_t i = 0; i < s.oh; ++i) {
          const std::int64_t iy = i * s.sh - s.ph + a * s.dh;
          const bool inside = iy >= 0 && iy < s.h;
          f(row, i, inside ? (c * s.h + iy) * s.w : std::int64_t{-1}, lo, hi, lo * s.sw + x_off);
        }
      }
    }
  }
}

}  // namespace

template <class T>
void im2col(const T* x, T* col, const Conv2dShape& s) {
  const std::int64_t p = s.oh * s.ow;
  for_each_col_row(
      s, [&](std::int64_t row, std::int64_t i, std::int64_t x_row, std::int64_t lo, std::int64_t hi, std::int64_t ix) {
        T* out = col + row * p + i * s.ow;
        if (x_row < 0) {
          std::fill(out, out + s.ow, T(0));
          return;
        }
        const T* in = x + x_row;
        std::fill(out, out + lo, T(0));
        if (s.sw == 1) {
          std::copy(in + ix, in + ix + (hi - lo), out + lo);
        } else {
          for (std::int64_t j = lo; j < hi; ++j, ix += s.sw) out[j] = in[ix];
        }
        std::fill(out + hi, out + s.ow, T(0));
      });
}

template <class T>
void col2im(const T* col, T* dx, const Conv2dShape& s) {
  const std::int64_t p = s.oh * s.ow;
  std::fill(dx, dx + s.cin * s.h * s.w, T(0));
  for_each_col_row(
      s, [&](std::int64_t row, std::int64_t i, std::int64_t x_row, std::int64_t lo, std::int64_t hi, std::int64_t ix) {
        if (x_row < 0) return;  // padding has no gradient
        const T* in = col + row * p + i * s.ow;
        T* out = dx + x_row;
        for (std::int64_t j = lo; j < hi; ++j, ix += s.sw) out[ix] += in[j];
      });
}

template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  const std::int64_t k = s.cin * s.kh * s.kw, p = s.oh * s.ow;
  check_blas_extents({s.cout, k, p}, "conv2d");
  const bool direct = is_pointwise(s);
  const int threads = batch_threads(s);
  std::vector<T> cols(direct ? 0 : static_cast<size_t>(threads * k * p));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    T* col = direct ? nullptr : cols.data() + omp_get_thread_num() * k * p;
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n) {
      const T* xn = x + n * s.cin * s.h * s.w;
      T* yn = y + n * s.cout * p;
      if (!direct) im2col(xn, col, s);
      if (bias) {
        for (std::int64_t o = 0; o < s.cout; ++o) std::fill(yn + o * p, yn + (o + 1) * p, bias[o]);
      }
      // y_n (Cout, P) = weight (Cout, K) col (K, P) [+ bias]
      gemm<T>(false, false, s.cout, p, k, T(1), weight, k, direct ? xn : col, p, bias ? T(1) : T(0), yn, p);
    }
  }
}

template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, const Conv2dShape& s) {
  const std::int64_t k = s.cin * s.kh * s.kw, p = s.oh * s.ow, wsize = s.cout * k;
  check_blas_extents({s.cout, k, p}, "conv2d backward");
  const bool direct = is_pointwise(s);
  const int threads = batch_threads(s);
  const bool need_cols = !direct && (dx || dweight);
  // Per thread: a column buffer (im2col for dweight, then reused as dcol for dx) and, beyond
  // thread 0 which accumulates straight into dweight, a partial weight gradient.
  std::vector<T> cols(need_cols ? static_cast<size_t>(threads * k * p) : 0);
  std::vector<T> partials(dweight ? static_cast<size_t>((threads - 1) * wsize) : 0, T(0));
  if (dweight) std::fill(dweight, dweight + wsize, T(0));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num();
    T* col = need_cols ? cols.data() + t * k * p : nullptr;
    T* dw_slot = dweight && t > 0 ? partials.data() + (t - 1) * wsize : dweight;
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n) {
      const T* xn = x ? x + n * s.cin * s.h * s.w : nullptr;  // no x when only dx is wanted
      const T* dyn = dy + n * s.cout * p;
      if (dweight) {
        if (!direct) im2col(xn, col, s);
        // dweight (Cout, K) += dy_n (Cout, P) col^T (P, K)
        gemm<T>(false, true, s.cout, k, p, T(1), dyn, p, direct ? xn : col, p, T(1), dw_slot, k);
      }
      if (dx) {
        T* dxn = dx + n * s.cin * s.h * s.w;
        // dcol (K, P) = weight^T (K, Cout) dy_n (Cout, P); a pointwise kernel's dcol is dx_n itself
        gemm<T>(true, false, k, p, s.cout, T(1), weight, k, dyn, p, T(0), direct ? dxn : col, p);
        if (!direct) col2im(col, dxn, s);
      }
    }
  }
  if (dweight) {
    for (int t = 1; t < threads; ++t) {
      const T* part = partials.data() + (t - 1) * wsize;
      for (std::int64_t i = 0; i < wsize; ++i) dweight[i] += part[i];
    }
  }
  if (dbias) {
    // Channels in parallel, each summed in a fixed order (images, then pixels) in double.
#pragma omp parallel for if (s.n * s.cout * p > kParallelGrain)
    for (std::int64_t o = 0; o < s.cout; ++o) {
      double acc = 0.0;
      for (std::int64_t n = 0; n < s.n; ++n) {
        const T* g = dy + (n * s.cout + o) * p;
        for (std::int64_t i = 0; i < p; ++i) acc += static_cast<double>(g[i]);
      }
      dbias[o] = static_cast<T>(acc);
    }
  }
}

#define KDCU_INSTANTIATE(T)                                                              \
  template void im2col<T>(const T*, T*, const Conv2dShape&);                             \
  template void col2im<T>(const T*, T*, const Conv2dShape&);                             \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&); \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, const Conv2dShape&);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
