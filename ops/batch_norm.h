// Differentiable batch normalisation over dim 1 of [N, C] or [N, C, H, W] (any rank >= 2), as
// PyTorch's F.batch_norm: training normalises with the batch statistics and updates the running
// ones in place; eval uses the running ones. Saves x (when a gradient needs it), the weight and
// the per-channel mean and invstd the forward used.
#pragma once

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// weight (gamma), bias (beta): [C] or undefined (affine off). running_mean / running_var: [C]
// buffers or undefined; in training, when defined, they become (1 - momentum) r + momentum s,
// with s the batch mean and the unbiased (n / (n - 1)) variance, n = N * H * W. The update is
// not differentiable and happens even under no-grad. Eval needs both running statistics.
// Gradients flow to x, weight and bias; in training through the batch statistics.
// Throws ShapeError for ranks or per-channel shapes that do not fit, ValueError for a training
// batch with one value per channel, eval without running statistics, or eps < 0.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace ops
}  // namespace kdcu
