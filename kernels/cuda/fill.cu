// Fill, arange, casts and Philox draws on CUDA: one thread per element (grid-stride), the same
// element mapping as the CPU (core/philox.h), so a seed gives the same tensor on both devices.
#include "core/cuda_check.h"
#include "core/philox.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fill.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <class T>
__global__ void fill_kernel(T* out, std::int64_t n, T value) {
  for (const std::int64_t i : grid_stride(n)) out[i] = value;
}

template <class T>
__global__ void arange_kernel(T* out, std::int64_t n, double start, double step) {
  for (const std::int64_t i : grid_stride(n)) out[i] = static_cast<T>(start + static_cast<double>(i) * step);
}

template <class Src, class Dst>
__global__ void cast_kernel(const Src* in, Dst* out, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) out[i] = static_cast<Dst>(in[i]);
}

template <class T>
__global__ void uniform_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T lo, T hi) {
  for (const std::int64_t i : grid_stride(n)) {
    const auto k = static_cast<std::uint64_t>(i);
    if constexpr (sizeof(T) == 4) {
      out[i] = lo + (hi - lo) * philox::uniform_f32(seed, block0, k);
    } else {
      out[i] = lo + (hi - lo) * philox::uniform_f64(seed, block0, k);
    }
  }
}

template <class T>
__global__ void normal_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T mean, T stddev) {
  for (const std::int64_t i : grid_stride(n)) {
    const auto k = static_cast<std::uint64_t>(i);
    if constexpr (sizeof(T) == 4) {
      out[i] = mean + stddev * philox::normal_f32(seed, block0, k);
    } else {
      out[i] = mean + stddev * philox::normal_f64(seed, block0, k);
    }
  }
}

}  // namespace

template <class T>
void fill(T* out, std::int64_t n, T value, int device) {
  kdcu::cuda::launch("fill", fill_kernel<T>, grid_for(n), kThreads, 0, device, out, n, value);
}

template <class T>
void arange(T* out, std::int64_t n, double start, double step, int device) {
  kdcu::cuda::launch("arange", arange_kernel<T>, grid_for(n), kThreads, 0, device, out, n, start, step);
}

template <class Src, class Dst>
void cast(const Src* in, Dst* out, std::int64_t n, int device) {
  kdcu::cuda::launch("cast", cast_kernel<Src, Dst>, grid_for(n), kThreads, 0, device, in, out, n);
}

template <class T>
void uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T lo, T hi, int device) {
  kdcu::cuda::launch("uniform", uniform_kernel<T>, grid_for(n), kThreads, 0, device, out, n, seed, block0, lo, hi);
}

template <class T>
void normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t block0, T mean, T stddev, int device) {
  kdcu::cuda::launch("normal", normal_kernel<T>, grid_for(n), kThreads, 0, device, out, n, seed, block0, mean, stddev);
}

template void fill<float>(float*, std::int64_t, float, int);
template void fill<double>(double*, std::int64_t, double, int);
template void fill<std::int64_t>(std::int64_t*, std::int64_t, std::int64_t, int);
template void arange<float>(float*, std::int64_t, double, double, int);
template void arange<double>(double*, std::int64_t, double, double, int);
template void arange<std::int64_t>(std::int64_t*, std::int64_t, double, double, int);
template void uniform<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float, int);
template void uniform<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double, int);
template void normal<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float, int);
template void normal<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double, int);
#define KDCU_CAST(S, D) template void cast<S, D>(const S*, D*, std::int64_t, int);
KDCU_CAST(float, double)
KDCU_CAST(double, float)
KDCU_CAST(float, std::int64_t)
KDCU_CAST(double, std::int64_t)
KDCU_CAST(std::int64_t, float)
KDCU_CAST(std::int64_t, double)
KDCU_CAST(float, float)
KDCU_CAST(double, double)
KDCU_CAST(std::int64_t, std::int64_t)
#undef KDCU_CAST

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
