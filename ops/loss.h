// Differentiable losses, as PyTorch defines them: cross-entropy on logits with integer labels and
// label smoothing, mean squared error, and the distillation loss T^2 KL(softmax(t/T) || softmax(s/T)),
// alone or fused with the hard-label cross-entropy (kd_hard_loss).
// Each is one fused kernel per row. Cross-entropy's and MSE's backward recomputes from the saved
// logits (no probabilities kept). A scalar KD loss whose teacher needs no gradient computes the loss
// and the student's gradient in one kernel call (one launch on CUDA), and its backward only scales
// that gradient, or hands it over as it is when the upstream gradient is known to be 1.
#pragma once

#include <string>

#include "core/tensor.h"

namespace kdcu {
namespace ops {

// How a loss's elements become the result: None keeps them, Mean averages all of them, Sum adds
// them, BatchMean adds them and divides by the batch size (KL divergence only, as in PyTorch).
enum class Reduction { None, Mean, Sum, BatchMean };
const char* reduction_name(Reduction r);             // "none", "mean", "sum", "batchmean"
Reduction parse_reduction(const std::string& name);  // the inverse; ValueError naming the accepted names

// logits [N, C] floating, labels [N] i64 in [0, C). loss_i = (1-e)(-log p[i, y_i]) + e mean_c(-log p[i, c])
// with e = label_smoothing in [0, 1]. Reductions: Mean (over N), Sum, None ([N]); BatchMean is a ValueError.
// A label outside [0, C) is a ValueError at the call on the CPU. On CUDA the check is deferred, so
// the call never waits for the device: that row's loss and gradient are NaN (so a reduced loss is
// NaN) and check_deferred_label_errors raises the CPU's error later. The trainer and evaluate call
// it when a loss comes back non-finite; other CUDA callers that read a NaN loss should too.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0,
                     Reduction reduction = Reduction::Mean);

// The deferred half of cross_entropy's label check on CUDA: throws ValueError "cross_entropy: label
// L in row R is out of range for C classes (expected 0 <= label < C)" for the first call on `device`
// that saw a bad label since the last check (its smallest bad row), and clears the record. It waits
// for the device's stream, so it belongs on an error path. A no-op on the CPU and without CUDA.
void check_deferred_label_errors(const Device& device);

// (input - target)^2 for same-shape tensors; Mean (over all elements), Sum or None. Both get gradients.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// The KD loss between [B, C] student and teacher logits: e_{b,c} = T^2 p_t (log p_t - log p_s) with
// p = softmax(logits / T), from log-softmax (finite for logits of +-1e4). BatchMean (sum / B, the
// default), Sum, Mean (sum / (B*C)) or None ([B, C]). The teacher gets a gradient only if it requires one.
// A scalar reduction with a teacher that needs no gradient takes the fused path (see the top).
Tensor kd_kl_div(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
                 Reduction reduction = Reduction::BatchMean);

// The hard-label distillation loss, fused per row (one pass computes both terms):
//   alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE(s, labels)
// for [B, C] student logits s and teacher logits t, labels [B] i64, CE at temperature 1 without
// smoothing. Per row b, loss_b = alpha sum_c e_{b,c} (kd_kl_div's terms) + (1 - alpha) ce_b. Reductions:
// BatchMean (sum over rows / B, the default: alpha kd_kl_div(batchmean) + (1 - alpha) cross_entropy(mean)),
// Sum, None ([B] per-row losses); Mean is a ValueError (the two terms' means differ). temperature finite
// and > 0, alpha in [0, 1]. Only the student gets a gradient: a teacher that requires grad (grad mode on)
// is an AutogradError, not silently dropped; pass teacher_logits.detach(), or use kd_kl_div +
// cross_entropy for a teacher gradient. Labels are checked as in cross_entropy: a ValueError naming the
// label and row at the call on the CPU; on CUDA (f32 only) a bad label's row loss and gradient are NaN
// and check_deferred_label_errors raises it later (its message says "cross_entropy").
Tensor kd_hard_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                    double temperature, double alpha, Reduction reduction = Reduction::BatchMean);

// kd_hard_loss with BatchMean, plus its two parts for logging: kd = T^2 KL batchmean (kd_kl_div's
// value) and ce = the mean cross-entropy (cross_entropy's value), both detached, so that
// total = alpha kd + (1 - alpha) ce. Same errors as kd_hard_loss; one kernel call on either device.
struct KdHardParts {
  Tensor total, kd, ce;
};
KdHardParts kd_hard_loss_parts(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                               double temperature, double alpha);

}  // namespace ops
}  // namespace kdcu
