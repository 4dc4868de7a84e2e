// Index plan for elementwise work over a broadcast output: adjacent dims that every operand
// walks contiguously are merged, and a broadcast dim gets stride 0. Shared by the CPU and CUDA
// kernels (a plain struct, passed to CUDA kernels by value).
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {

inline constexpr int kMaxDims = 8;

struct BroadcastPlan {
  int ndim = 0;                          // after merging; 0 means a single element
  std::int64_t numel = 1;                // elements of the output
  std::int64_t size[kMaxDims] = {};      // extents of the merged output dims
  std::int64_t stride_a[kMaxDims] = {};  // element strides of operand a (0 where broadcast)
  std::int64_t stride_b[kMaxDims] = {};  // element strides of operand b (0 where broadcast)
};

// `out` must be the broadcast of `a` and `b` (shapes right-aligned; missing dims are 1).
// Throws ShapeError when more than kMaxDims dims remain after merging.
BroadcastPlan make_broadcast_plan(const std::int64_t* out, int out_ndim, const std::int64_t* a, int a_ndim,
                                  const std::int64_t* b, int b_ndim);

// Offsets of element `linear` of the output in a and b.
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline void
    broadcast_offsets(const BroadcastPlan& p, std::int64_t linear, std::int64_t& ia, std::int64_t& ib) {
  ia = 0;
  ib = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const std::int64_t i = linear % p.size[d];
    linear /= p.size[d];
    ia += i * p.stride_a[d];
    ib += i * p.stride_b[d];
  }
}

}  // namespace kernels
}  // namespace kdcu
