// Smooth L1 CUDA kernels: one thread per element (grid-stride), every intermediate in double as on
// the CPU; the scalar forward fuses the loss into the fixed-order two-pass sum of reduce_util.cuh.
#include "core/cuda_check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce_util.cuh"
#include "kernels/cuda/smooth_l1.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// The quadratic branch is taken only for |d| < beta, so beta = 0 never divides.
__device__ __forceinline__ double smooth_l1(double d, double beta) {
  const double ad = fabs(d);
  return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
}

__device__ __forceinline__ double smooth_l1_slope(double d, double beta) {
  if (fabs(d) < beta) return d / beta;
  return d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0);
}

template <class T>
__global__ void smooth_l1_forward_kernel(const T* x, const T* t, T* loss, std::int64_t n, double beta) {
  for (const std::int64_t i : grid_stride(n))
    loss[i] = static_cast<T>(smooth_l1(static_cast<double>(x[i]) - static_cast<double>(t[i]), beta));
}

template <class T>
struct SmoothL1Term {
  const T* x;
  const T* t;
  double beta;
  __device__ double operator()(std::int64_t i) const {
    return smooth_l1(static_cast<double>(x[i]) - static_cast<double>(t[i]), beta);
  }
};

template <class T>
__global__ void smooth_l1_backward_kernel(const T* x, const T* t, const T* dloss, std::int64_t stride, double scale,
                                          T* dx, T* dt, std::int64_t n, double beta) {
  for (const std::int64_t i : grid_stride(n)) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    const double g = scale * static_cast<double>(dloss[i * stride]) * smooth_l1_slope(d, beta);
    if (dx) dx[i] = static_cast<T>(g);
    if (dt) dt[i] = static_cast<T>(-g);
  }
}

}  // namespace

template <class T>
void smooth_l1_forward(const T* x, const T* t, T* loss, std::int64_t n, T beta, int device) {
  kdcu::cuda::launch("smooth_l1_loss", smooth_l1_forward_kernel<T>, grid_for(n), kThreads, 0, device, x, t, loss, n,
                     static_cast<double>(beta));
}

template <class T>
void smooth_l1_sum_forward(const T* x, const T* t, T* y, std::int64_t n, T beta, T scale, int device) {
  ordered_sum<T>("smooth_l1_loss", SmoothL1Term<T>{x, t, static_cast<double>(beta)}, n, static_cast<double>(scale), y,
                 device);
}

template <class T>
void smooth_l1_backward(const T* x, const T* t, const T* dloss, std::int64_t dloss_stride, T scale, T* dx, T* dt,
                        std::int64_t n, T beta, int device) {
  kdcu::cuda::launch("smooth_l1_loss backward", smooth_l1_backward_kernel<T>, grid_for(n), kThreads, 0, device, x, t,
                     dloss, dloss_stride, static_cast<double>(scale), dx, dt, n, static_cast<double>(beta));
}

#define KDCU_INSTANTIATE(T)                                                                \
  template void smooth_l1_forward<T>(const T*, const T*, T*, std::int64_t, T, int);        \
  template void smooth_l1_sum_forward<T>(const T*, const T*, T*, std::int64_t, T, T, int); \
  template void smooth_l1_backward<T>(const T*, const T*, const T*, std::int64_t, T, T*, T*, std::int64_t, T, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
