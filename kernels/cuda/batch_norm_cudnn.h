// cuDNN's batch norm (spatial mode, f32), beside kdcu's own kernels in batch_norm.h, so that the
// two can be measured against each other (bench/bench_bn_cuda) and checked to compute the same
// thing (tests/gpu). Not an op path: ops::batch_norm uses the own kernels, which are
// deterministic and save mean and invstd exactly as the CPU does (see batch_norm.h).
#pragma once

#include <cstdint>

namespace kdcu {
namespace kernels {
namespace cuda {

// Training forward: y = BN(x) with the batch statistics; the running statistics are updated with
// `momentum` (cuDNN's exponentialAverageFactor); save_mean / save_invstd receive what the backward
// reads. x, y: (N, C, S) viewed as (N, C, S, 1); weight, bias, running_*, save_*: (C).
void cudnn_batch_norm_forward_training(const float* x, float* y, const float* weight, const float* bias,
                                       float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                                       std::int64_t n, std::int64_t c, std::int64_t s, double eps, double momentum,
                                       int device);

// Backward from the forward's saved statistics: dx, dweight, dbias (all written).
void cudnn_batch_norm_backward(const float* x, const float* dy, const float* weight, const float* save_mean,
                               const float* save_invstd, float* dx, float* dweight, float* dbias, std::int64_t n,
                               std::int64_t c, std::int64_t s, double eps, int device);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
