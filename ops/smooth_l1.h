// Differentiable smooth L1 loss, PyTorch's F.smooth_l1_loss: with d = input - target,
// l = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is the L1 loss |d|).
// One fused kernel forward (loss and reduction); the backward recomputes d from the saved inputs.
#pragma once

#include "core/tensor.h"
#include "ops/loss.h"

namespace kdcu {
namespace ops {

// Same-shape floating input and target; beta finite and >= 0. Reductions: Mean (over all elements,
// the default), Sum or None (the input's shape); BatchMean is a ValueError. Both get gradients
// (d/beta inside, sign(d) outside; at d = 0 with beta = 0 the subgradient 0).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, double beta = 1.0,
                      Reduction reduction = Reduction::Mean);

}  // namespace ops
}  // namespace kdcu
