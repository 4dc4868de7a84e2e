// Inverted dropout on the CPU: mask_i = (u_i >= p) ? 1 / (1 - p) : 0, y = x * mask, where u_i is
// element i of the f32 Philox uniform draw at (seed, block0) (core/philox.h), whatever T is, so a
// seed gives the same mask for f32 and f64 tensors and on any device. The scaled mask is what
// backward keeps: dx = dy * mask.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// x, y, mask: (n); mask may be null (no backward will run). Requires 0 <= p <= 1; the draw occupies
// philox::blocks_uniform_f32(n) blocks from block0. p == 1 draws nothing (the mask is all zeros, y = x * 0).
template <class T>
void dropout_forward(const T* x, T* y, T* mask, std::int64_t n, double p, std::uint64_t seed, std::uint64_t block0);
// dx = dy * mask. dy, mask, dx: (n)
template <class T>
void dropout_backward(const T* dy, const T* mask, T* dx, std::int64_t n);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
