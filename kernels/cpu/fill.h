// Filling and converting: constant fill, arange, dtype casts, Philox uniform / normal draws.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

template <class T>
void fill(T* out, std::int64_t n, T value);  // out: (n)
template <class T>
void arange(T* out, std::int64_t n, double start, double step);  // out[i] = start + i * step
template <class Src, class Dst>
void cast(const Src* in, Dst* out, std::int64_t n);  // out[i] = Dst(in[i])
// out[i] = lo + (hi - lo) * u_i, u_i the i-th uniform of the Philox draw at (seed, block0).
template <class T>
void uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T lo, T hi);
// out[i] = mean + stddev * z_i, z_i the i-th standard normal of the draw at (seed, block0).
template <class T>
void normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T mean, T stddev);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
