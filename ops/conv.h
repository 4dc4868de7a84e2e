// Differentiable 2-D convolution (PyTorch's conv2d with groups = 1 and zero padding), im2col +
// GEMM on the CPU. Saves x (for the weight gradient) and the weight (for the input gradient),
// each only when the other side wants a gradient. Also home of Pair, the (h, w) argument type
// of every 2-D op (conv and pooling).
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace kdcu {
namespace ops {

using Pair = std::array<std::int64_t, 2>;  // (h, w)

// x [N, Cin, H, W], weight [Cout, Cin, kh, kw] (OIHW), bias [Cout] or undefined -> [N, Cout, oh, ow]
// with oh = floor((H + 2 padding_h - dilation_h (kh - 1) - 1) / stride_h) + 1 (and the same for w).
// Throws ShapeError for wrong ranks, a channel or bias mismatch, or a dilated kernel larger than
// the padded input; ValueError for stride or dilation < 1 or negative padding.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1});

// PyTorch's output extent of a convolution or pooling window along one dim, for valid arguments
// (the extent of the dilated kernel at most input + 2 padding).
inline std::int64_t conv_output_size(std::int64_t input, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                                     std::int64_t dilation = 1) {
  return (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

}  // namespace ops
}  // namespace kdcu
