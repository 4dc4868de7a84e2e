// Distillation losses on logits [B, C]: Hinton KD, logit MSE, multi-teacher KD (averaged soft targets
// or a sum of per-teacher KD terms) and confidence-weighted KD. All are composed of kdcu ops, so they
// are differentiable in the student (and in the teacher for kd_loss / logit_mse when it requires grad).
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace kdcu {
namespace distill {

// Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network":
// T^2 KL(softmax(t/T) || softmax(s/T)), summed over classes and averaged over rows (batchmean), via
// ops::kd_kl_div. The teacher gets a gradient when it requires one. ShapeError unless s and t are
// [B, C] of the same shape; ValueError unless T is finite and > 0.
Tensor kd_loss(const Tensor& s_logits, const Tensor& t_logits, double T);

// Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?": mean over all B*C entries of (s - t)^2
// (ops::mse_loss). ShapeError unless both are [B, C] of the same shape.
Tensor logit_mse(const Tensor& s_logits, const Tensor& t_logits);

// How multi_teacher_kd combines K teachers.
enum class EnsembleMode {
  Average,  // one KD term against the weighted average of the teachers' softened distributions
  Sum,      // a weighted sum of K separate KD terms
};
const char* ensemble_mode_name(EnsembleMode mode);          // "average", "sum"
EnsembleMode parse_ensemble_mode(const std::string& name);  // the inverse; ValueError naming the accepted names

// p_avg = sum_k w_k softmax(t_k / T) with the weights normalized to sum 1 (empty = equal weights),
// a [B, C] distribution per row. Differentiable in the teachers (they are normally given without grad).
// ShapeError for no teachers or teachers of different shapes (or not [B, C]); ValueError for a weight
// count that differs from the teacher count, a negative or non-finite weight, or weights summing to 0.
Tensor ensemble_soft_targets(const std::vector<Tensor>& t_logits, const std::vector<double>& weights, double T);

// Multi-teacher KD (e.g. You et al. 2017, "Learning from Multiple Teacher Networks"):
// Average: T^2 KL(p_avg || softmax(s/T)) batchmean with p_avg = ensemble_soft_targets(t, weights, T),
//   computed by ops::kd_kl_div with teacher logits T log(max(p_avg, tiny)): softmax(log p / 1) = p, since
//   each row of p sums to 1. The clamp keeps a class whose averaged probability underflowed to 0 at a
//   finite logit (log 0 = -inf would make the teacher side infinite and its gradient NaN).
// Sum: sum_k w_k kd_loss(s, t_k, T) with the weights as given (empty = 1 each, not normalized, so K
//   equal teachers weigh K times one KD term).
// Errors as ensemble_soft_targets, and ShapeError when the student's shape differs from the teachers'.
Tensor multi_teacher_kd(const Tensor& s_logits, const std::vector<Tensor>& t_logits, const std::vector<double>& weights,
                        double T, EnsembleMode mode = EnsembleMode::Average);

// Confidence-weighted KD, a focal-loss-style weighting (Lin et al. 2017, "Focal Loss for Dense Object
// Detection") of Hinton's KD by the teacher's confidence: (1/B) sum_b w_b kd_b with
// kd_b = T^2 KL(p_t,b || p_s,b) (ops::kd_kl_div, Reduction::None, summed over classes) and
// w_b = (1 - max_c softmax(t_b / T))^gamma, computed without gradient: rows where the teacher is unsure
// count more. gamma = 0 is kd_loss. ValueError unless gamma is finite and >= 0; shapes as kd_loss.
Tensor confidence_weighted_kd(const Tensor& s_logits, const Tensor& t_logits, double T, double gamma);

}  // namespace distill
}  // namespace kdcu
