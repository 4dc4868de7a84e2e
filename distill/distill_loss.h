// The training objective of a student, as a weighted sum of named terms:
//   total = kd_weight · KD + ce_weight · CE(labels) + mse_weight · MSE(logits) + Σ_f weight_f · feature_f
// KD is T² · KL(softmax(t/T) ‖ softmax(s/T)) with batchmean (ops::kd_kl_div); with several teachers
// it is the ensemble form (distill/logit_losses.h), with confidence_gamma > 0 the
// confidence-weighted form. --alpha a is kd_weight = a, ce_weight = 1 − a: alpha weights the KD
// term (Hinton et al. 2015). Plain training is kd_weight = 0, ce_weight = 1, no teacher.
// The common case, KD from one teacher plus CE without smoothing, is computed as one fused term
// (ops::kd_hard_loss_parts: one kernel call for both values and the student's gradient).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "distill/logit_losses.h"
#include "distill/schedules.h"
#include "nn/model.h"

namespace kdcu {
namespace distill {

class HintRegressor;

enum class FeatureLossKind { Hint, Attention, RkdDistance, RkdAngle, Pkt, Sp };
const char* feature_loss_name(FeatureLossKind kind);  // "hint", "at", "rkd_distance", "rkd_angle", "pkt", "sp"
FeatureLossKind parse_feature_loss_kind(const std::string& name);  // ValueError listing the names

// One feature (or relation) term. Features are names from Model::feature_names(); empty means the
// default: the last 4-D feature (hint, at) or the last feature, the pre-logit embedding (rkd_*,
// pkt, sp), of the model.
struct FeatureLossSpec {
  FeatureLossKind kind = FeatureLossKind::Hint;
  std::string student_feature, teacher_feature;
  double weight = 1.0;
  std::size_t teacher = 0;  // whose features, when there are several teachers

  // "KIND[@STUDENT[=TEACHER]][:WEIGHT]", e.g. "hint", "at@conv2=layer3:100", "rkd_distance:25".
  // ValueError naming the text and the expected form.
  static FeatureLossSpec parse(const std::string& text);
  std::string str() const;  // the same form, fully spelled out
};

struct LossConfig {
  double kd_weight = 0.9, ce_weight = 0.1, mse_weight = 0.0;
  double label_smoothing = 0.0;  // of the CE term
  TemperatureSchedule temperature{4.0, 4.0, ScheduleShape::Constant};
  TeacherAnnealing annealing{false, ScheduleShape::Linear};
  double confidence_gamma = 0.0;  // > 0: each row's KD term weighted by (1 − max p_t)^gamma
  EnsembleMode ensemble = EnsembleMode::Average;
  std::vector<double> teacher_weights;  // empty: equal
  std::vector<FeatureLossSpec> features;

  // Whether any term reads a teacher (KD, MSE on logits, feature terms).
  bool uses_teacher() const;
  // ValueError for negative or non-finite weights, no term at all, a teacher term without a
  // teacher, teacher weights whose count is not `teachers`, a feature term's teacher index, and
  // the one-teacher terms (MSE on logits, confidence weighting) with several teachers.
  void validate(std::size_t teachers) const;
  std::string describe() const;  // one line for logs: "0.9*kd(T=4) + 0.1*ce"
};

// What a model produced for one batch: logits and, when a feature term needs them, its features.
struct ModelOutputs {
  Tensor logits;
  nn::NamedTensors features;
};

class DistillLoss {
 public:
  // Probes the feature shapes with one forward of zeros (no-grad, eval, modes restored) and builds
  // the learned parts (a HintRegressor per hint term, from the student's channels to the
  // teacher's, initialised from `gen`). Checks every feature name and that paired features fit
  // (ShapeError / ValueError naming the term, the feature and the names that exist).
  DistillLoss(LossConfig config, nn::Model& student, const std::vector<nn::Model*>& teachers, Generator& gen);
  ~DistillLoss();
  DistillLoss(const DistillLoss&) = delete;
  DistillLoss& operator=(const DistillLoss&) = delete;

  const LossConfig& config() const { return config_; }
  // The term names in the order compute() reports them: "kd", "ce", "mse", then each feature
  // term's str().
  const std::vector<std::string>& term_names() const { return names_; }
  bool needs_teacher_features() const { return !config_.features.empty(); }
  // The feature terms with their default feature names filled in, in config order.
  std::vector<FeatureLossSpec> resolved_features() const;

  // Parameters trained with the student (the hint regressors), named "hint<i>.<name>".
  nn::NamedTensors named_parameters() const;
  // Their state (parameters and BN buffers), for checkpoints: "hint<i>.<name>".
  nn::NamedTensors state_dict() const;
  void load_state_dict(const nn::NamedTensors& state);
  void train(bool on);
  void to(const Device& device);

  struct Result {
    Tensor total;                                       // scalar, in the graph
    std::vector<std::pair<std::string, Tensor>> terms;  // each term's unweighted value, detached
    double temperature = 1.0, kd_weight = 0.0;          // as scheduled for this step
  };
  // `progress` in [0, 1]: how far training is (drives the temperature and annealing schedules).
  Result compute(const ModelOutputs& student, const std::vector<ModelOutputs>& teachers, const Tensor& labels,
                 double progress);

 private:
  struct FeatureTerm;
  LossConfig config_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<FeatureTerm>> terms_;
};

// The shapes (batch dim included, batch 2) of a model's named features, in feature_names() order.
std::vector<std::pair<std::string, Shape>> probe_feature_shapes(nn::Model& model);

}  // namespace distill
}  // namespace kdcu
