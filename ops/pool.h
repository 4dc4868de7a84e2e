// Differentiable 2-D pooling over [N, C, H, W] (floor mode, as PyTorch's defaults): max pooling
// saves the argmax index of every output for backward (no copy of x), average pooling saves
// nothing but the geometry, global average pooling is PyTorch's adaptive_avg_pool2d(x, 1).
#pragma once

#include "core/tensor.h"
#include "ops/conv.h"  // Pair

namespace kdcu {
namespace ops {

// stride {0, 0} means stride = kernel. Padding counts as -inf and must be at most half the kernel
// (PyTorch's rule); the kernel must fit the padded input. Throws ShapeError for a wrong rank or an
// oversized kernel, ValueError for kernel < 1, negative stride or padding, padding > kernel / 2.
Tensor max_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0});

// The same geometry rules; with count_include_pad the divisor is kh * kw (padding counts as 0),
// without it the number of in-image pixels in the window.
Tensor avg_pool2d(const Tensor& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool count_include_pad = true);

// [N, C, H, W] -> [N, C, 1, 1], the mean of each plane (H * W >= 1).
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace ops
}  // namespace kdcu
