// Pieces the loss ops share (ops/loss.cpp, ops/kd_loss.cpp): argument checks and the scalar
// reduction of per-row losses. Internal to ops.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/loss.h"

namespace kdcu {
namespace ops {
namespace detail {

// The factor a scalar reduction applies to the sum of the loss elements; `count` is what Mean
// divides by. 1/0 = inf makes an empty mean NaN, as in PyTorch.
double reduction_scale(Reduction r, std::int64_t count, std::int64_t batch);

// scale * (sum of every element of `parts`) as a 0-d tensor (a fixed-order sum on either device).
Tensor reduce_parts(const Tensor& parts, double scale, const char* op);

// Class labels for [N, C] logits: defined, i64, shape [N], on the logits' device (errors name `op`).
void check_class_labels(const Tensor& labels, const Tensor& logits, const char* op);

// The labels of a CPU loss, every one checked to lie in [0, C): a ValueError names the first bad
// one and its row (the CUDA kernels mark such rows NaN instead; check_deferred_label_errors).
const std::int64_t* cpu_checked_labels(const Tensor& labels, std::int64_t N, std::int64_t C, const char* op);

// Student and teacher logits of a KD loss: both defined, [B, C] floating, same shape, dtype, device.
void check_logit_pair(const Tensor& s, const Tensor& t, const char* op);

// kernels/cuda's f32_only message, for the CUDA kernels that are not templates.
[[noreturn]] void cuda_f32_only(const char* op);

}  // namespace detail
}  // namespace ops
}  // namespace kdcu
