// Batch normalisation on the CPU over x viewed as (N, C, S), S = H*W (1 for [N, C] input):
//   y = (x - mean_c) * invstd_c * gamma_c + beta_c, invstd = 1 / sqrt(var + eps),
// with the batch's mean and biased variance in training (and the running statistics updated in
// the same pass), the running ones in eval. The per-channel mean and invstd are what backward
// keeps, next to x. Statistics and gradient sums are accumulated in double, as PyTorch's CPU does.
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cpu {

// Training statistics. x: (N, C, S) -> mean, invstd: (C). When running_mean / running_var are
// non-null they are updated in place: r = (1 - momentum) r + momentum * stat, with the unbiased
// variance (n / (n - 1), n = N*S) for running_var. Requires N*S >= 2 (the op checks).
template <class T>
void batch_norm_stats(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double eps, T* mean, T* invstd,
                      T* running_mean, T* running_var, double momentum);

// Eval statistics: mean = running_mean, invstd = 1 / sqrt(running_var + eps). All (C).
template <class T>
void batch_norm_running_stats(const T* running_mean, const T* running_var, std::int64_t c, double eps, T* mean,
                              T* invstd);

// y = x * alpha_c + beta_c with alpha = invstd * gamma, beta = bias - mean * alpha (gamma, bias
// null: affine off). x, y: (N, C, S)
template <class T>
void batch_norm_forward(const T* x, const T* mean, const T* invstd, const T* weight, const T* bias, T* y,
                        std::int64_t n, std::int64_t c, std::int64_t s);

// dy: (N, C, S). With xhat = (x - mean) invstd, per channel:
//   training: dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat))   (through the batch stats)
//   eval:     dx = gamma invstd dy
//   dweight = sum(dy xhat), dbias = sum(dy). Null outputs are skipped; the others are overwritten.
//   x may be null when neither dweight nor the training-mode dx is wanted.
template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, bool training, T* dx,
                         T* dweight, T* dbias, std::int64_t n, std::int64_t c, std::int64_t s);

}  // namespace cpu
}  // namespace kernels
}  // namespace kdcu
