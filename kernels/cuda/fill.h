// CUDA versions of kernels/cpu/fill.h, same signatures plus the device index (work is ordered on
// that device's stream). T is float, double or int64_t where the CPU version has it.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

template <class T>
void fill(T* out, std::int64_t n, T value, int device);
template <class T>
void arange(T* out, std::int64_t n, double start, double step, int device);
template <class Src, class Dst>
void cast(const Src* in, Dst* out, std::int64_t n, int device);
template <class T>
void uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T lo, T hi, int device);
template <class T>
void normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T mean, T stddev, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
