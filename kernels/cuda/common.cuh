// Shared pieces of kdcu's CUDA kernels: the launch geometry of 1-D elementwise work and a
// grid-stride range, so a kernel body reads `for (auto i : grid_stride(n)) ...`.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

inline constexpr int kThreads = 256;

// Blocks for n elements at kThreads each, capped (the grid-stride loop covers the rest).
inline unsigned int grid_for(std::int64_t n) {
  const long long blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

struct GridStride {
  struct Iter {
    std::int64_t i, step;
    __device__ std::int64_t operator*() const { return i; }
    __device__ Iter& operator++() {
      i += step;
      return *this;
    }
    __device__ bool operator!=(const Iter& end) const { return i < end.i; }
  };
  std::int64_t first, n, step;
  __device__ Iter begin() const { return {first, step}; }
  __device__ Iter end() const { return {n, step}; }
};

__device__ inline GridStride grid_stride(std::int64_t n) {
  return {blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x, n,
          static_cast<std::int64_t>(gridDim.x) * blockDim.x};
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
