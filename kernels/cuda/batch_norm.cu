// Batch norm on CUDA (see batch_norm.h): per-channel block reductions in double in a fixed order,
// elementwise passes with explicitly rounded multiplies and adds (no FMA contraction), so that
// each step rounds exactly where the CPU reference rounds.
#include <cmath>

#include "core/cuda_check.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/common.cuh"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

constexpr int kBlock = 256;  // threads per channel block; a power of two (the tree below)

__device__ inline float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}
__device__ inline float add_rn(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ inline double add_rn(double a, double b) {
  return __dadd_rn(a, b);
}
__device__ inline float sub_rn(float a, float b) {
  return __fsub_rn(a, b);
}
__device__ inline double sub_rn(double a, double b) {
  return __dsub_rn(a, b);
}

// The block's total of v, the same on every thread; the tree's order is fixed. `shared` holds kBlock.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (static_cast<int>(threadIdx.x) < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // shared is reused by the next call
  return total;
}

// Element e < N*S of channel ch: image e / S, pixel e % S.
__device__ inline std::int64_t channel_offset(std::int64_t e, std::int64_t ch, std::int64_t c, std::int64_t s) {
  return ((e / s) * c + ch) * s + e % s;
}

// Block ch: channel ch's mean and invstd, and its running statistics.
template <class T>
__global__ void stats_kernel(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double eps, T* mean, T* invstd,
                             T* running_mean, T* running_var, double momentum) {
  __shared__ double shared[kBlock];
  const std::int64_t ch = blockIdx.x, count = n * s;
  double sum = 0.0;
  for (std::int64_t e = threadIdx.x; e < count; e += kBlock) sum += static_cast<double>(x[channel_offset(e, ch, c, s)]);
  sum = block_sum(sum, shared);
  const T m = static_cast<T>(sum / static_cast<double>(count));
  double sq = 0.0;  // two passes, as the CPU: no cancellation from E[x^2] - E[x]^2
  for (std::int64_t e = threadIdx.x; e < count; e += kBlock) {
    const T d = sub_rn(x[channel_offset(e, ch, c, s)], m);
    sq += static_cast<double>(mul_rn(d, d));
  }
  sq = block_sum(sq, shared);
  if (threadIdx.x != 0) return;
  const T var_sum = static_cast<T>(sq);
  const T var = var_sum / static_cast<T>(count);  // biased: what the normalisation uses
  mean[ch] = m;
  invstd[ch] = (var == T(0) && eps == 0.0) ? T(0) : static_cast<T>(1.0 / sqrt(static_cast<double>(var) + eps));
  if (running_mean) {
    running_mean[ch] = static_cast<T>(add_rn(mul_rn(momentum, static_cast<double>(m)),
                                             mul_rn(1.0 - momentum, static_cast<double>(running_mean[ch]))));
  }
  if (running_var) {
    const double unbiased = static_cast<double>(var_sum / static_cast<T>(count - 1));
    running_var[ch] = static_cast<T>(
        add_rn(mul_rn(momentum, unbiased), mul_rn(1.0 - momentum, static_cast<double>(running_var[ch]))));
  }
}

template <class T>
__global__ void running_stats_kernel(const T* running_mean, const T* running_var, std::int64_t c, T eps, T* mean,
                                     T* invstd) {
  for (const std::int64_t ch : grid_stride(c)) {
    mean[ch] = running_mean[ch];
    invstd[ch] = T(1) / sqrt(add_rn(running_var[ch], eps));
  }
}

template <class T>
__global__ void forward_kernel(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias, T* y,
                               std::int64_t total, std::int64_t c, std::int64_t s) {
  for (const std::int64_t e : grid_stride(total)) {
    const std::int64_t ch = (e / s) % c;
    const T alpha = mul_rn(invstd[ch], weight ? weight[ch] : T(1));
    const T beta = sub_rn(bias ? bias[ch] : T(0), mul_rn(mean[ch], alpha));
    y[e] = add_rn(mul_rn(x[e], alpha), beta);
  }
}

// Block ch: the two sums of channel ch, then its dx, dweight and dbias.
template <class T>
__global__ void backward_kernel(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, bool training,
                                T* dx, T* dweight, T* dbias, std::int64_t n, std::int64_t c, std::int64_t s) {
  __shared__ double shared[kBlock];
  const std::int64_t ch = blockIdx.x, count = n * s;
  const T m = mean[ch], is = invstd[ch], w = weight ? weight[ch] : T(1);
  double sum = 0.0, dotp = 0.0;
  for (std::int64_t e = threadIdx.x; e < count; e += kBlock) {
    const std::int64_t o = channel_offset(e, ch, c, s);
    sum += static_cast<double>(dy[o]);
    if (x) dotp += static_cast<double>(mul_rn(sub_rn(x[o], m), dy[o]));
  }
  sum = block_sum(sum, shared);
  if (x) dotp = block_sum(dotp, shared);
  if (dx) {
    // Training: the mean and variance depend on x too; their share is the two projections.
    const T k = training ? static_cast<T>(dotp) * is * is / static_cast<T>(count) : T(0);
    const T grad_mean = training ? static_cast<T>(sum / static_cast<double>(count)) : T(0);
    for (std::int64_t e = threadIdx.x; e < count; e += kBlock) {
      const std::int64_t o = channel_offset(e, ch, c, s);
      if (training) {
        const T centred = sub_rn(sub_rn(dy[o], grad_mean), mul_rn(sub_rn(x[o], m), k));
        dx[o] = mul_rn(mul_rn(centred, is), w);
      } else {
        dx[o] = mul_rn(mul_rn(dy[o], is), w);
      }
    }
  }
  if (threadIdx.x != 0) return;
  if (dweight) dweight[ch] = static_cast<T>(dotp * static_cast<double>(is));
  if (dbias) dbias[ch] = static_cast<T>(sum);
}

template <class T>
__global__ void channel_sum_kernel(const T* x, T* out, std::int64_t n, std::int64_t c, std::int64_t s) {
  __shared__ double shared[kBlock];
  const std::int64_t ch = blockIdx.x, count = n * s;
  double sum = 0.0;
  for (std::int64_t e = threadIdx.x; e < count; e += kBlock) sum += static_cast<double>(x[channel_offset(e, ch, c, s)]);
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) out[ch] = static_cast<T>(sum);
}

// One block per channel; grid.x is at most 2^31 - 1, far beyond any channel count.
dim3 channel_grid(std::int64_t c) {
  return dim3(static_cast<unsigned int>(c));
}

}  // namespace

template <class T>
void batch_norm_stats(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double eps, T* mean, T* invstd,
                      T* running_mean, T* running_var, double momentum, int device) {
  kdcu::cuda::launch("batch_norm_stats", stats_kernel<T>, channel_grid(c), kBlock, 0, device, x, n, c, s, eps, mean,
                     invstd, running_mean, running_var, momentum);
}

template <class T>
void batch_norm_running_stats(const T* running_mean, const T* running_var, std::int64_t c, double eps, T* mean,
                              T* invstd, int device) {
  kdcu::cuda::launch("batch_norm_running_stats", running_stats_kernel<T>, grid_for(c), kThreads, 0, device,
                     running_mean, running_var, c, static_cast<T>(eps), mean, invstd);
}

template <class T>
void batch_norm_forward(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias, T* y,
                        std::int64_t n, std::int64_t c, std::int64_t s, int device) {
  const std::int64_t total = n * c * s;
  kdcu::cuda::launch("batch_norm_forward", forward_kernel<T>, grid_for(total), kThreads, 0, device, x, mean, invstd,
                     weight, bias, y, total, c, s);
}

template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, bool training, T* dx,
                         T* dweight, T* dbias, std::int64_t n, std::int64_t c, std::int64_t s, int device) {
  if (!dx && !dweight && !dbias) return;
  kdcu::cuda::launch("batch_norm_backward", backward_kernel<T>, channel_grid(c), kBlock, 0, device, x, dy, mean, invstd,
                     weight, training, dx, dweight, dbias, n, c, s);
}

template <class T>
void channel_sum(const T* x, T* out, std::int64_t n, std::int64_t c, std::int64_t s, int device) {
  kdcu::cuda::launch("channel_sum", channel_sum_kernel<T>, channel_grid(c), kBlock, 0, device, x, out, n, c, s);
}

#define KDCU_INSTANTIATE(T)                                                                                     \
  template void batch_norm_stats<T>(const T*, std::int64_t, std::int64_t, std::int64_t, double, T*, T*, T*, T*, \
                                    double, int);                                                               \
  template void batch_norm_running_stats<T>(const T*, const T*, std::int64_t, double, T*, T*, int);             \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, std::int64_t,       \
                                      std::int64_t, std::int64_t, int);                                         \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool, T*, T*, T*,      \
                                       std::int64_t, std::int64_t, std::int64_t, int);                          \
  template void channel_sum<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, int);
KDCU_INSTANTIATE(float)
KDCU_INSTANTIATE(double)
#undef KDCU_INSTANTIATE

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
