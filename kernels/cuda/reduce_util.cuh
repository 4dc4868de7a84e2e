// Reduction building blocks of kdcu's CUDA kernels: warp / sub-warp / block sums and maxima, the
// online (max, sum of exponentials) pair of a softmax row, the "team" that owns one row (W lanes
// of a warp, or a whole block) with its row loops (16-byte loads where aligned), the row launch
// plan, and a deterministic two-pass sum of n terms. Every reduction combines in a fixed tree
// order that depends only on the launch geometry, which the host derives from the sizes alone, so
// results are bitwise reproducible run to run; no float atomics anywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/cuda_check.h"
#include "core/error.h"
#include "kernels/cuda/common.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {

inline constexpr unsigned kFullMask = 0xffffffffu;

// Host: the message of a kernel that exists for f32 only (f64 belongs on the CPU: gradient checks).
[[noreturn]] inline void f32_only(const char* op) {
  throw DTypeError(cat(op, ": the CUDA kernel supports f32 only, found f64; run f64 on the CPU ",
                       "(.to(Device::cpu())) or cast to f32 (.to(DType::F32))"));
}

// ------------------------------------------------------------------ warp and block reductions

// Sum / max over aligned groups of W lanes (W a power of two <= 32). Every lane of the warp must
// call it (full mask). The xor butterfly leaves the bitwise same result in every lane of a group
// (IEEE addition is commutative), so all lanes agree on it.
template <int W, class T>
__device__ __forceinline__ T group_sum(T v) {
#pragma unroll
  for (int off = W / 2; off > 0; off /= 2) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// fmaxf ignores a NaN operand, as the CPU reference's std::fmax does.
template <int W>
__device__ __forceinline__ float group_max(float v) {
#pragma unroll
  for (int off = W / 2; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Block-wide sum returned to every thread. blockDim.x must be a multiple of 32 and every thread of
// the block must call it (it synchronises); consecutive calls are safe (leading barrier).
template <class T>
__device__ T block_sum(T v) {
  __shared__ T part[32];
  __shared__ T result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = group_sum<32>(v);
  __syncthreads();  // a previous call may still be reading part[] / result
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? part[lane] : T(0);
    w = group_sum<32>(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

__device__ inline float block_max(float v) {
  __shared__ float part[32];
  __shared__ float result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = group_max<32>(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < warps ? part[lane] : -INFINITY;
    w = group_max<32>(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

// ------------------------------------------------------------------ online max / sum of exp

// m = max of the elements seen (NaN ignored, as std::fmax), s = sum_j exp((x_j - m) * inv_t) in
// double. {-inf, 0} is the identity. A NaN element makes s NaN (the CPU's row sum is NaN then);
// a -inf element adds exp(-inf) = 0 and is skipped, so it cannot meet m = -inf and give NaN early.
struct MaxSum {
  float m;
  double s;
};

__device__ __forceinline__ MaxSum max_sum_identity() {
  return {-INFINITY, 0.0};
}

__device__ __forceinline__ void max_sum_add(MaxSum& a, float x, float inv_t) {
  if (x > a.m) {
    a.s = a.s * static_cast<double>(expf((a.m - x) * inv_t)) + 1.0;
    a.m = x;
  } else if (x != -INFINITY) {
    a.s += static_cast<double>(expf((x - a.m) * inv_t));
  }
}

// Symmetric in a and b (bitwise), so a butterfly leaves every lane with the same pair.
__device__ __forceinline__ MaxSum max_sum_combine(MaxSum a, MaxSum b, float inv_t) {
  const float m = fmaxf(a.m, b.m);
  const double sa = a.s == 0.0 ? 0.0 : a.s * static_cast<double>(expf((a.m - m) * inv_t));
  const double sb = b.s == 0.0 ? 0.0 : b.s * static_cast<double>(expf((b.m - m) * inv_t));
  return {m, sa + sb};
}

// The CPU sums exp((x - max) / T) over the finished max: a +inf element gives exp(inf - inf) = NaN
// there, which the online form would not see; restore that.
__device__ __forceinline__ MaxSum max_sum_finish(MaxSum a) {
  if (a.m == INFINITY) a.s = NAN;
  return a;
}

template <int W>
__device__ __forceinline__ MaxSum group_max_sum(MaxSum v, float inv_t) {
#pragma unroll
  for (int off = W / 2; off > 0; off /= 2) {
    const MaxSum o{__shfl_xor_sync(kFullMask, v.m, off), __shfl_xor_sync(kFullMask, v.s, off)};
    v = max_sum_combine(v, o, inv_t);
  }
  return v;
}

__device__ inline MaxSum block_max_sum(MaxSum v, float inv_t) {
  __shared__ float part_m[32];
  __shared__ double part_s[32];
  __shared__ MaxSum result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = group_max_sum<32>(v, inv_t);
  __syncthreads();
  if (lane == 0) part_m[warp] = v.m, part_s[warp] = v.s;
  __syncthreads();
  if (warp == 0) {
    MaxSum w = lane < warps ? MaxSum{part_m[lane], part_s[lane]} : max_sum_identity();
    w = group_max_sum<32>(w, inv_t);
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

// ------------------------------------------------------------------ teams that own one row

// W lanes of a warp (W in {8, 16, 32}: 32 / W rows per warp).
template <int W>
struct GroupTeam {
  __device__ int rank() const { return static_cast<int>(threadIdx.x) % W; }
  __device__ int size() const { return W; }
  template <class T>
  __device__ T sum(T v) const {
    return group_sum<W>(v);
  }
  __device__ float max(float v) const { return group_max<W>(v); }
  __device__ MaxSum max_sum(MaxSum v, float inv_t) const { return max_sum_finish(group_max_sum<W>(v, inv_t)); }
};

// A whole block (blockDim.x a multiple of 32).
struct BlockTeam {
  __device__ int rank() const { return static_cast<int>(threadIdx.x); }
  __device__ int size() const { return static_cast<int>(blockDim.x); }
  template <class T>
  __device__ T sum(T v) const {
    return block_sum(v);
  }
  __device__ float max(float v) const { return block_max(v); }
  __device__ MaxSum max_sum(MaxSum v, float inv_t) const { return max_sum_finish(block_max_sum(v, inv_t)); }
};

// Runs body(team, row, valid) for every row of `rows`. W > 0: one group of W lanes per row; the
// loop runs over a warp-uniform base so every lane reaches the shuffles (rows past the end come in
// with valid = false and must touch no memory). W == 0: one block per row (block-uniform loop).
template <int W, class Body>
__device__ void for_each_row(std::int64_t rows, Body&& body) {
  if constexpr (W == 0) {
    const BlockTeam team{};
    for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) body(team, row, true);
  } else {
    const GroupTeam<W> team{};
    constexpr std::int64_t kGroupsPerWarp = 32 / W;
    const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * blockDim.x / 32;
    const std::int64_t group = (threadIdx.x & 31) / W;
    for (std::int64_t base = warp * kGroupsPerWarp; base < rows; base += warps * kGroupsPerWarp) {
      const std::int64_t row = base + group;
      const bool valid = row < rows;
      body(team, valid ? row : 0, valid);
    }
  }
}

// f(c, a[c]) for this thread's share of a row of n elements. kVec: the row is 16-byte aligned and
// n % 4 == 0, so each float4 load gives elements 4v .. 4v+3.
template <bool kVec, class Team, class F>
__device__ __forceinline__ void for_row(const Team& team, const float* __restrict__ a, std::int64_t n, F&& f) {
  if constexpr (kVec) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    for (std::int64_t v = team.rank(); v < n / 4; v += team.size()) {
      const float4 x = a4[v];
      f(4 * v, x.x), f(4 * v + 1, x.y), f(4 * v + 2, x.z), f(4 * v + 3, x.w);
    }
  } else {
    for (std::int64_t c = team.rank(); c < n; c += team.size()) f(c, a[c]);
  }
}

// out[c] = f(c, a[c]) with float4 stores under kVec (out aligned like a).
template <bool kVec, class Team, class F>
__device__ __forceinline__ void map_row(const Team& team, const float* __restrict__ a, float* __restrict__ out,
                                        std::int64_t n, F&& f) {
  if constexpr (kVec) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (std::int64_t v = team.rank(); v < n / 4; v += team.size()) {
      const float4 x = a4[v];
      // Named in order: f may accumulate, and argument evaluation order is unspecified.
      const float r0 = f(4 * v, x.x), r1 = f(4 * v + 1, x.y), r2 = f(4 * v + 2, x.z), r3 = f(4 * v + 3, x.w);
      o4[v] = make_float4(r0, r1, r2, r3);
    }
  } else {
    for (std::int64_t c = team.rank(); c < n; c += team.size()) out[c] = f(c, a[c]);
  }
}

// f(c, a[c], b[c]) over two rows side by side.
template <bool kVec, class Team, class F>
__device__ __forceinline__ void for_row2(const Team& team, const float* __restrict__ a, const float* __restrict__ b,
                                         std::int64_t n, F&& f) {
  if constexpr (kVec) {
    const float4 *a4 = reinterpret_cast<const float4*>(a), *b4 = reinterpret_cast<const float4*>(b);
    for (std::int64_t v = team.rank(); v < n / 4; v += team.size()) {
      const float4 x = a4[v], y = b4[v];
      f(4 * v, x.x, y.x), f(4 * v + 1, x.y, y.y), f(4 * v + 2, x.z, y.z), f(4 * v + 3, x.w, y.w);
    }
  } else {
    for (std::int64_t c = team.rank(); c < n; c += team.size()) f(c, a[c], b[c]);
  }
}

// out[c] = f(c, a[c], b[c]) with float4 stores under kVec (out aligned like a and b).
template <bool kVec, class Team, class F>
__device__ __forceinline__ void map_row2(const Team& team, const float* __restrict__ a, const float* __restrict__ b,
                                         float* __restrict__ out, std::int64_t n, F&& f) {
  if constexpr (kVec) {
    const float4 *a4 = reinterpret_cast<const float4*>(a), *b4 = reinterpret_cast<const float4*>(b);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (std::int64_t v = team.rank(); v < n / 4; v += team.size()) {
      const float4 x = a4[v], y = b4[v];
      // Named in order: f may accumulate, and argument evaluation order is unspecified.
      const float r0 = f(4 * v, x.x, y.x), r1 = f(4 * v + 1, x.y, y.y);
      const float r2 = f(4 * v + 2, x.z, y.z), r3 = f(4 * v + 3, x.w, y.w);
      o4[v] = make_float4(r0, r1, r2, r3);
    }
  } else {
    for (std::int64_t c = team.rank(); c < n; c += team.size()) out[c] = f(c, a[c], b[c]);
  }
}

// ------------------------------------------------------------------ row launch plan (host)

// Rows of n contiguous elements: n <= 1024 gives a group of W lanes per row (W = 8 for n <= 8,
// 16 for n <= 16, else 32) in 256-thread blocks; larger rows get a block each (256 threads up to
// 4096 elements, 512 up to 16384, then 1024), with float4 loads when every row pointer is 16-byte
// aligned. The grid is capped; the row loops stride over the rest. Row kernels are declared
// __launch_bounds__(1024), so their registers always fit a 1024-thread block.
struct RowPlan {
  int group = 32;  // lanes per row; 0 = a block per row
  bool vec = false;
  unsigned threads = 256;
  unsigned grid = 1;
};

inline bool aligned16(const void* p) {
  return p == nullptr || reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

inline RowPlan plan_rows(std::int64_t rows, std::int64_t n, std::initializer_list<const void*> ptrs) {
  constexpr std::int64_t kMaxGrid = 1 << 20;
  RowPlan p;
  if (n <= 1024) {
    p.group = n <= 8 ? 8 : (n <= 16 ? 16 : 32);
    const std::int64_t rows_per_block = p.threads / p.group;
    const std::int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    p.grid = static_cast<unsigned>(blocks < kMaxGrid ? blocks : kMaxGrid);
  } else {
    p.group = 0;
    p.threads = n <= 4096 ? 256 : (n <= 16384 ? 512 : 1024);
    p.vec = n % 4 == 0;
    for (const void* ptr : ptrs) p.vec = p.vec && aligned16(ptr);
    p.grid = static_cast<unsigned>(rows < kMaxGrid ? rows : kMaxGrid);
  }
  return p;
}

// Calls f(std::integral_constant<int, W>, std::bool_constant<Vec>) for the plan's kernel variant.
template <class F>
void visit_plan(const RowPlan& p, F&& f) {
  if (p.group == 8) return f(std::integral_constant<int, 8>{}, std::false_type{});
  if (p.group == 16) return f(std::integral_constant<int, 16>{}, std::false_type{});
  if (p.group == 32) return f(std::integral_constant<int, 32>{}, std::false_type{});
  if (p.vec) return f(std::integral_constant<int, 0>{}, std::true_type{});
  return f(std::integral_constant<int, 0>{}, std::false_type{});
}

// ------------------------------------------------------------------ deterministic sum of n terms

// Device scratch from the pool, returned (stream-ordered) when the guard goes out of scope.
struct DeviceScratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  DeviceScratch(size_t b, int d) : ptr(kdcu::cuda::allocate(b, d)), bytes(b), device(d) {}
  ~DeviceScratch() { kdcu::cuda::deallocate(ptr, bytes, device); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
};

inline constexpr int kSumThreads = 256;
inline constexpr std::int64_t kSumOneBlock = 1 << 15;  // up to this many terms: one block, one launch
inline constexpr std::int64_t kSumMaxBlocks = 1024;

// partial[blockIdx.x] = sum of term(i) over this block's grid-stride share, in double.
template <class Term>
__global__ void partial_sum_kernel(Term term, std::int64_t n, double* partial) {
  double acc = 0.0;
  for (const std::int64_t i : grid_stride(n)) acc += term(i);
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// y[0] = T(scale * sum_i term(i)), one block; term(i) for i < n.
template <class T, class Term>
__global__ void __launch_bounds__(1024) final_sum_kernel(Term term, std::int64_t n, double scale, T* y) {
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += term(i);
  acc = block_sum(acc);
  if (threadIdx.x == 0) y[0] = static_cast<T>(acc * scale);
}

struct PartialTerm {
  const double* partial;
  __device__ double operator()(std::int64_t i) const { return partial[i]; }
};

// y[0] = T(scale * sum_{i < n} term(i)) with double accumulation. Up to kSumOneBlock terms one block
// does it; beyond, a fixed number of blocks (a function of n only) writes partials that one block
// adds in order. n == 0 writes 0 * scale (NaN for the mean of nothing, as on the CPU).
template <class T, class Term>
void ordered_sum(const char* name, Term term, std::int64_t n, double scale, T* y, int device) {
  if (n <= kSumOneBlock) {
    kdcu::cuda::launch(name, final_sum_kernel<T, Term>, 1, 1024, 0, device, term, n, scale, y);
    return;
  }
  const std::int64_t want = (n + kSumThreads * 16 - 1) / (kSumThreads * 16);
  const std::int64_t blocks = want < kSumMaxBlocks ? want : kSumMaxBlocks;
  DeviceScratch scratch(static_cast<size_t>(blocks) * sizeof(double), device);
  double* partial = static_cast<double*>(scratch.ptr);
  kdcu::cuda::launch(name, partial_sum_kernel<Term>, static_cast<unsigned>(blocks), kSumThreads, 0, device, term, n,
                     partial);
  kdcu::cuda::launch(name, final_sum_kernel<T, PartialTerm>, 1, 1024, 0, device, PartialTerm{partial}, blocks, scale,
                     y);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
