// Differentiable row gather along dim 0: index_rows(x, indices) = x[indices] (torch.index_select
// with dim 0). The backward is the index-add of the gradient into zeros of x's shape (a repeated
// index sums, in the order of `indices`, on both devices). Used by the device-resident training
// data (distill/resident_data.h) to cut batches out of a data set kept on the GPU.
#pragma once

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// x [N, ...] (f32, f64 or i64, at least 1-D), indices i64 1-D [B] on x's device -> [B, ...] with
// row k = x row indices[k]. DTypeError / DeviceError / ShapeError for the wrong kind of argument;
// on the CPU a ValueError names an index outside [0, N). On CUDA the indices are not read back
// (that would be a host round trip): a row whose index is out of range comes out as zeros.
// Gradients flow to x when it is floating and requires grad; none to the indices.
Tensor index_rows(const Tensor& x, const Tensor& indices);

}  // namespace ops
}  // namespace kdcu
