// Dropout on CUDA: one thread per Philox block (four elements), the CPU's element mapping, so the
// mask equals the CPU's bit for bit. The comparison u >= p is made in double, as on the CPU.
#include "core/cuda_check.h"
#include "core/philox.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/dropout.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

template <class T>
__global__ void dropout_kernel(const T* x, T* y, T* mask, std::int64_t n, double p, T scale, std::uint64_t seed,
                               std::uint64_t block0) {
  for (const std::int64_t b : grid_stride((n + 3) / 4)) {
    const philox::Words r = philox::block(seed, block0 + static_cast<std::uint64_t>(b));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const std::int64_t i = 4 * b + k;
      if (i >= n) break;
      const double u = static_cast<double>(philox::to_unit_f32(r.w[k]));
      const T m = u >= p ? scale : T(0);
      if (mask) mask[i] = m;
      y[i] = x[i] * m;
    }
  }
}

// p == 1: nothing kept, nothing drawn; x * 0 keeps a NaN a NaN, as on the CPU.
template <class T>
__global__ void dropout_all_kernel(const T* x, T* y, T* mask, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) {
    if (mask) mask[i] = T(0);
    y[i] = x[i] * T(0);
  }
}

template <class T>
__global__ void dropout_backward_kernel(const T* dy, const T* mask, T* dx, std::int64_t n) {
  for (const std::int64_t i : grid_stride(n)) dx[i] = dy[i] * mask[i];
}

}  // namespace

template <class T>
void dropout_forward(const T* x, T* y, T* mask, std::int64_t n, double p, std::uint64_t seed, std::uint64_t block0,
                     int device) {
  if (p >= 1.0) {
    kdcu::cuda::launch("dropout", dropout_all_kernel<T>, grid_for(n), kThreads, 0, device, x, y, mask, n);
    return;
  }
  const T scale = T(1) / static_cast<T>(1.0 - p);  // formed as the CPU forms it
  kdcu::cuda::launch("dropout", dropout_kernel<T>, grid_for((n + 3) / 4), kThreads, 0, device, x, y, mask, n, p, scale,
                     seed, block0);
}

template <class T>
void dropout_backward(const T* dy, const T* mask, T* dx, std::int64_t n, int device) {
  kdcu::cuda::launch("dropout backward", dropout_backward_kernel<T>, grid_for(n), kThreads, 0, device, dy, mask, dx, n);
}

template void dropout_forward<float>(const float*, float*, float*, std::int64_t, double, std::uint64_t, std::uint64_t,
                                     int);
template void dropout_forward<double>(const double*, double*, double*, std::int64_t, double, std::uint64_t,
                                      std::uint64_t, int);
template void dropout_backward<float>(const float*, const float*, float*, std::int64_t, int);
template void dropout_backward<double>(const double*, const double*, double*, std::int64_t, int);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
