// Logit distillation losses composed of kdcu ops: kd_kl_div does the softmax, KL and batchmean in
// one fused kernel; the ensemble and confidence weights are built from softmax, max and scalar ops.
#include "distill/logit_losses.h"

#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/error.h"
#include "distill/loss_util.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/softmax.h"

namespace kdcu {
namespace distill {
namespace {

// Averaged probabilities are clamped to at least this before the log: the smallest normal f32, so
// the clamp is representable (and negligible next to a row sum of 1) in f32 and f64 alike.
constexpr double kMinProbability = std::numeric_limits<float>::min();

// The teachers' common [B, C] shape, after checking each against the first; ShapeError naming `op`.
void check_teachers(const std::vector<Tensor>& t_logits, const char* op) {
  require<ShapeError>(!t_logits.empty(), op, ": expected at least one teacher's logits, found none");
  for (size_t k = 0; k < t_logits.size(); ++k) {
    const Tensor& t = t_logits[k];
    check_defined(t, op, "teacher logits");
    check_floating(t, op);
    require<ShapeError>(t.dim() == 2, op, ": expected teacher ", k, " logits of shape [B, C], found ",
                        shape_str(t.shape()));
    if (k == 0) continue;
    require<ShapeError>(t.shape() == t_logits[0].shape(), op, ": expected teacher ", k, " logits of teacher 0's shape ",
                        shape_str(t_logits[0].shape()), ", found ", shape_str(t.shape()));
    check_same_dtype(t_logits[0], t, op);
    check_same_device(t_logits[0], t, op);
  }
}

// The weights to use for K teachers: as given, or 1 each when empty; checked for count and sign.
std::vector<double> checked_weights(const std::vector<double>& weights, size_t K, const char* op) {
  if (weights.empty()) return std::vector<double>(K, 1.0);
  require<ValueError>(weights.size() == K, op, ": expected one weight per teacher (", K, "), found ", weights.size(),
                      " weights");
  double total = 0.0;
  for (size_t k = 0; k < K; ++k) {
    require<ValueError>(std::isfinite(weights[k]) && weights[k] >= 0.0, op, ": expected finite weights >= 0, found ",
                        weights[k], " for teacher ", k);
    total += weights[k];
  }
  require<ValueError>(total > 0.0, op, ": expected weights with a positive sum, found all ", K, " weights 0");
  return weights;
}

}  // namespace

Tensor kd_loss(const Tensor& s_logits, const Tensor& t_logits, double T) {
  detail::check_logits_pair(s_logits, t_logits, "kd_loss");
  ops::check_temperature(T, "kd_loss");
  return ops::kd_kl_div(s_logits, t_logits, T, ops::Reduction::BatchMean);
}

Tensor logit_mse(const Tensor& s_logits, const Tensor& t_logits) {
  detail::check_logits_pair(s_logits, t_logits, "logit_mse");
  return ops::mse_loss(s_logits, t_logits, ops::Reduction::Mean);
}

const char* ensemble_mode_name(EnsembleMode mode) {
  return mode == EnsembleMode::Average ? "average" : "sum";
}

EnsembleMode parse_ensemble_mode(const std::string& name) {
  for (EnsembleMode m : {EnsembleMode::Average, EnsembleMode::Sum})
    if (name == ensemble_mode_name(m)) return m;
  throw ValueError(cat("unknown ensemble mode '", name, "' (expected one of 'average', 'sum')"));
}

Tensor ensemble_soft_targets(const std::vector<Tensor>& t_logits, const std::vector<double>& weights, double T) {
  const char* op = "ensemble_soft_targets";
  check_teachers(t_logits, op);
  ops::check_temperature(T, op);
  std::vector<double> w = checked_weights(weights, t_logits.size(), op);
  double total = 0.0;
  for (double v : w) total += v;
  Tensor avg;
  for (size_t k = 0; k < t_logits.size(); ++k) {
    const Tensor term = ops::mul(ops::softmax(t_logits[k], 1, T), w[k] / total);
    avg = avg.defined() ? ops::add(avg, term) : term;
  }
  return avg;
}

Tensor multi_teacher_kd(const Tensor& s_logits, const std::vector<Tensor>& t_logits, const std::vector<double>& weights,
                        double T, EnsembleMode mode) {
  const char* op = "multi_teacher_kd";
  check_teachers(t_logits, op);
  detail::check_logits_pair(s_logits, t_logits[0], op);
  ops::check_temperature(T, op);
  if (mode == EnsembleMode::Average) {
    const Tensor p = ensemble_soft_targets(t_logits, weights, T);
    // kd_kl_div applies softmax(t / T) to its teacher: with t = T log p that is p itself.
    const Tensor logits = ops::mul(ops::log(detail::clamp_min(p, kMinProbability)), T);
    return ops::kd_kl_div(s_logits, logits, T, ops::Reduction::BatchMean);
  }
  const std::vector<double> w = checked_weights(weights, t_logits.size(), op);
  Tensor total;
  for (size_t k = 0; k < t_logits.size(); ++k) {
    const Tensor term = ops::mul(ops::kd_kl_div(s_logits, t_logits[k], T, ops::Reduction::BatchMean), w[k]);
    total = total.defined() ? ops::add(total, term) : term;
  }
  return total;
}

Tensor confidence_weighted_kd(const Tensor& s_logits, const Tensor& t_logits, double T, double gamma) {
  const char* op = "confidence_weighted_kd";
  detail::check_logits_pair(s_logits, t_logits, op);
  ops::check_temperature(T, op);
  require<ValueError>(std::isfinite(gamma) && gamma >= 0.0, op, ": gamma must be finite and >= 0, found ", gamma);
  const std::int64_t B = s_logits.size(0);
  Tensor weight;  // [B], no gradient
  {
    autograd::NoGradGuard no_grad;
    const Tensor confidence = ops::max(ops::softmax(t_logits, 1, T), 1);
    // relu: 1 - max p is >= 0 in exact arithmetic; keep a rounding below 0 out of a fractional power.
    weight = ops::pow(ops::relu(ops::affine(confidence, -1.0, 1.0)), gamma);
  }
  const Tensor rows = ops::sum(ops::kd_kl_div(s_logits, t_logits, T, ops::Reduction::None), 1);
  return ops::mul(ops::sum(ops::mul(rows, weight)), 1.0 / static_cast<double>(B));
}

}  // namespace distill
}  // namespace kdcu
