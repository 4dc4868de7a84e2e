// CUDA versions of kernels/cpu/batch_norm.h (same signatures plus the device index), hand-written:
// x is viewed as (N, C, S), S = H*W. The statistics and the backward's two sums run one block per
// channel, each thread adding a fixed stride of the channel in double and the block combining the
// partials in a fixed tree, so results are deterministic (no atomics); the rounding steps are the
// CPU's (mean rounded to T before the variance pass, alpha/beta formed in T, no fused multiply-adds),
// so only the order of the double sums differs from the CPU. Saved for backward (by the op): mean
// and invstd per channel. cuDNN's batch norm is not used: it saves a different quantity (the
// biased variance's inverse with its own eps handling), sums in f32 and is not documented as
// deterministic; these kernels are bandwidth-bound passes either way.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// Training statistics and, when the pointers are non-null, the running-statistics update with the
// unbiased variance, as cpu::batch_norm_stats. x: (N, C, S) -> mean, invstd, running_*: (C)
template <class T>
void batch_norm_stats(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double eps, T* mean, T* invstd,
                      T* running_mean, T* running_var, double momentum, int device);

// Eval statistics: mean = running_mean, invstd = 1 / sqrt(running_var + eps). All (C).
template <class T>
void batch_norm_running_stats(const T* running_mean, const T* running_var, std::int64_t c, double eps, T* mean,
                              T* invstd, int device);

// y = x * alpha_c + beta_c, alpha = invstd * gamma, beta = bias - mean * alpha (gamma/bias null:
// affine off). x, y: (N, C, S)
template <class T>
void batch_norm_forward(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias, T* y,
                        std::int64_t n, std::int64_t c, std::int64_t s, int device);

// As cpu::batch_norm_backward: one block per channel forms sum(dy) and sum((x - mean) dy), then
// writes that channel's dx; dweight, dbias: (C). Null outputs skipped; x may be null when neither
// dweight nor the training-mode dx is wanted.
template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, bool training, T* dx,
                         T* dweight, T* dbias, std::int64_t n, std::int64_t c, std::int64_t s, int device);

// out[ch] = sum over i < N, j < S of x[(i * C + ch) * S + j], summed in double (deterministic).
// Also the bias gradient of conv2d (S = oh*ow) and linear (N = rows, S = 1). x: (N, C, S), out: (C)
template <class T>
void channel_sum(const T* x, T* out, std::int64_t n, std::int64_t c, std::int64_t s, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
