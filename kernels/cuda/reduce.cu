// Reduction CUDA kernels over all elements or the middle axis of (outer, n, inner). Sums: double
// accumulation, fixed-order trees (reduce_util.cuh), no atomics. Over a dim, a "row" is one output
// (o, k) whose n elements lie `inner` apart: contiguous rows (inner == 1) get a group of 8/16/32
// lanes (n <= 1024) or a 256-thread block each; with inner > 1, many outputs or short rows get one
// thread per output walking j in order (coalesced across k), few long rows a team each. The max
// keeps the first index of the max, a NaN beating any number (the first NaN): the combine is
// associative and commutative, so a tree gives exactly the CPU's sequential answer.
#include <cmath>

#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/reduce_util.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <class T>
struct Load {
  const T* x;
  __device__ double operator()(std::int64_t i) const { return static_cast<double>(x[i]); }
};

// First element of row r of (outer, n, inner) seen as rows of n elements `inner` apart.
__device__ __forceinline__ std::int64_t row_base(std::int64_t r, std::int64_t n, std::int64_t inner) {
  return (r / inner) * n * inner + r % inner;
}

// ------------------------------------------------------------------ sums

template <class T>
__global__ void fill_scaled_kernel(const T* dy, T* dx, std::int64_t n, T scale) {
  const T v = dy[0] * scale;
  for (const std::int64_t i : grid_stride(n)) dx[i] = v;
}

// x: (outer, n, inner) as rows = outer * inner rows, y: (rows)
template <int W, class T>
__global__ void sum_rows_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t rows, std::int64_t n,
                                std::int64_t inner, double scale) {
  for_each_row<W>(rows, [&](const auto& team, std::int64_t r, bool valid) {
    const std::int64_t len = valid ? n : 0, base = row_base(r, n, inner);
    double acc = 0.0;
    for (std::int64_t j = team.rank(); j < len; j += team.size()) acc += static_cast<double>(x[base + j * inner]);
    acc = team.sum(acc);
    if (valid && team.rank() == 0) y[r] = static_cast<T>(acc * scale);
  });
}

// One thread per output, j in order.
template <class T>
__global__ void sum_columns_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t rows, std::int64_t n,
                                   std::int64_t inner, double scale) {
  for (const std::int64_t r : grid_stride(rows)) {
    const std::int64_t base = row_base(r, n, inner);
    double acc = 0.0;
    for (std::int64_t j = 0; j < n; ++j) acc += static_cast<double>(x[base + j * inner]);
    y[r] = static_cast<T>(acc * scale);
  }
}

template <class T>
__global__ void sum_backward_kernel(const T* dy, T* dx, std::int64_t total, std::int64_t n, std::int64_t inner,
                                    T scale) {
  for (const std::int64_t i : grid_stride(total)) dx[i] = dy[(i / (n * inner)) * inner + i % inner] * scale;
}

// ------------------------------------------------------------------ max / argmax

// (value, index); index < 0 is the empty identity.
template <class T>
struct ArgMax {
  T v;
  std::int64_t i;
};

// The CPU's rule, made symmetric: NaN beats a number (lower index among NaNs), otherwise the
// larger value, ties to the lower index.
template <class T>
__device__ __forceinline__ ArgMax<T> pick(ArgMax<T> a, ArgMax<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = isnan(a.v), bn = isnan(b.v);
  if (an || bn) return (an && bn) ? (b.i < a.i ? b : a) : (bn ? b : a);
  if (b.v > a.v) return b;
  if (a.v > b.v) return a;
  return b.i < a.i ? b : a;
}

template <int W, class T>
__device__ ArgMax<T> group_pick(ArgMax<T> v) {
#pragma unroll
  for (int off = W / 2; off > 0; off /= 2) {
    const ArgMax<T> o{__shfl_xor_sync(kFullMask, v.v, off), __shfl_xor_sync(kFullMask, v.i, off)};
    v = pick(v, o);
  }
  return v;
}

template <class T>
__device__ ArgMax<T> block_pick(ArgMax<T> v) {
  __shared__ T part_v[32];
  __shared__ std::int64_t part_i[32];
  __shared__ T result_v;
  __shared__ std::int64_t result_i;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = group_pick<32>(v);
  __syncthreads();
  if (lane == 0) part_v[warp] = v.v, part_i[warp] = v.i;
  __syncthreads();
  if (warp == 0) {
    ArgMax<T> w = lane < warps ? ArgMax<T>{part_v[lane], part_i[lane]} : ArgMax<T>{T(0), -1};
    w = group_pick<32>(w);
    if (lane == 0) result_v = w.v, result_i = w.i;
  }
  __syncthreads();
  return {result_v, result_i};
}

template <int W, class T>
__global__ void max_rows_kernel(const T* __restrict__ x, T* y, std::int64_t* idx, std::int64_t rows, std::int64_t n,
                                std::int64_t inner) {
  for_each_row<W>(rows, [&](const auto& team, std::int64_t r, bool valid) {
    const std::int64_t len = valid ? n : 0, base = row_base(r, n, inner);
    ArgMax<T> best{T(0), -1};
    for (std::int64_t j = team.rank(); j < len; j += team.size()) best = pick(best, ArgMax<T>{x[base + j * inner], j});
    if constexpr (W == 0)
      best = block_pick(best);
    else
      best = group_pick<W>(best);
    if (valid && team.rank() == 0) {
      if (y) y[r] = best.v;
      idx[r] = best.i;
    }
  });
}

// One thread per output, the CPU's sequential scan.
template <class T>
__global__ void max_columns_kernel(const T* __restrict__ x, T* y, std::int64_t* idx, std::int64_t rows, std::int64_t n,
                                   std::int64_t inner) {
  for (const std::int64_t r : grid_stride(rows)) {
    const std::int64_t base = row_base(r, n, inner);
    T best = x[base];
    std::int64_t at = 0;
    for (std::int64_t j = 1; j < n; ++j) {
      const T v = x[base + j * inner];
      if (!(v <= best) && !isnan(best)) best = v, at = j;
    }
    if (y) y[r] = best;
    idx[r] = at;
  }
}

template <class T>
__global__ void max_backward_kernel(const T* dy, const std::int64_t* idx, T* dx, std::int64_t total, std::int64_t n,
                                    std::int64_t inner) {
  for (const std::int64_t i : grid_stride(total)) {
    const std::int64_t k = i % inner, j = (i / inner) % n, out = (i / (n * inner)) * inner + k;
    dx[i] = idx[out] == j ? dy[out] : T(0);
  }
}

// ------------------------------------------------------------------ host side

// How a reduction over (outer, n, inner) is split: lanes per output (8/16/32), a block (0), or
// one thread per output (-1).
int team_for(std::int64_t rows, std::int64_t n, std::int64_t inner) {
  if (inner > 1 && (rows >= 4096 || n <= 64)) return -1;
  if (n <= 8) return 8;
  if (n <= 16) return 16;
  return n <= 1024 ? 32 : 0;
}

unsigned team_grid(int team, std::int64_t rows) {
  constexpr std::int64_t kMaxGrid = 1 << 20;
  const std::int64_t per_block = team == 0 ? 1 : 256 / team;
  const std::int64_t blocks = (rows + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < kMaxGrid ? blocks : kMaxGrid);
}

template <class F>
void visit_team(int team, F&& f) {
  if (team == 8) return f(std::integral_constant<int, 8>{});
  if (team == 16) return f(std::integral_constant<int, 16>{});
  if (team == 32) return f(std::integral_constant<int, 32>{});
  return f(std::integral_constant<int, 0>{});
}

}  // namespace

template <class T>
void sum_all_forward(const T* x, T* y, std::int64_t n, T scale, int device) {
  ordered_sum<T>("sum", Load<T>{x}, n, static_cast<double>(scale), y, device);
}

template <class T>
void sum_all_backward(const T* dy, T* dx, std::int64_t n, T scale, int device) {
  kdcu::cuda::launch("sum backward", fill_scaled_kernel<T>, grid_for(n), kThreads, 0, device, dy, dx, n, scale);
}

template <class T>
void sum_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale, int device) {
  if (outer == 1 && inner == 1) return sum_all_forward(x, y, n, scale, device);
  const std::int64_t rows = outer * inner;
  const double sc = static_cast<double>(scale);
  const int team = team_for(rows, n, inner);
  if (team < 0) {
    kdcu::cuda::launch("sum", sum_columns_kernel<T>, grid_for(rows), kThreads, 0, device, x, y, rows, n, inner, sc);
    return;
  }
  visit_team(team, [&](auto w) {
    kdcu::cuda::launch("sum", sum_rows_kernel<decltype(w)::value, T>, team_grid(team, rows), 256, 0, device, x, y, rows,
                       n, inner, sc);
  });
}

template <class T>
void sum_backward(const T* dy, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner, T scale, int device) {
  const std::int64_t total = outer * n * inner;
  kdcu::cuda::launch("sum backward", sum_backward_kernel<T>, grid_for(total), kThreads, 0, device, dy, dx, total, n,
                     inner, scale);
}

template <class T>
void max_forward(const T* x, T* y, std::int64_t* idx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                 int device) {
  if (n <= 0) return;  // the op refuses an empty dim; nothing to scan
  const std::int64_t rows = outer * inner;
  const int team = team_for(rows, n, inner);
  if (team < 0) {
    kdcu::cuda::launch("max", max_columns_kernel<T>, grid_for(rows), kThreads, 0, device, x, y, idx, rows, n, inner);
    return;
  }
  visit_team(team, [&](auto w) {
    kdcu::cuda::launch("max", max_rows_kernel<decltype(w)::value, T>, team_grid(team, rows), 256, 0, device, x, y, idx,
                       rows, n, inner);
  });
}

template <class T>
void max_backward(const T* dy, const std::int64_t* idx, T* dx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                  int device) {
  const std::int64_t total = outer * n * inner;
  kdcu::cuda::launch("max backward", max_backward_kernel<T>, grid_for(total), kThreads, 0, device, dy, idx, dx, total,
                     n, inner);
}

#define KDCU_INSTANTIATE(T)                                                                                 \
  template void sum_all_forward<T>(const T*, T*, std::int64_t, T, int);                                     \
  template void sum_all_backward<T>(const T*, T*, std::int64_t, T, int);                                    \
  template void sum_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int);             \
  template void sum_backward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, T, int);            \
  template void max_forward<T>(const T*, T*, std::int64_t*, std::int64_t, std::int64_t, std::int64_t, int); \
  template void max_backward<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, std::int64_t, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
