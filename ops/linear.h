// Differentiable matrix products: matmul (2-D, or batched 3-D with equal batch sizes; no
// broadcasting) and linear (y = x W^T + b, PyTorch's weight layout [out, in]), both one GEMM
// forward. matmul saves a and b for backward, linear saves x and W (the bias needs nothing).
#pragma once

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// [M, K] x [K, N] -> [M, N], or [B, M, K] x [B, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);

// x [N, in], weight [out, in], bias [out] or an undefined Tensor() -> [N, out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace ops
}  // namespace kdcu
