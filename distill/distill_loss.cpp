// The loss composition: parses the term specs, resolves feature names against the models, owns
// the hint regressors and sums the weighted terms of one batch.
#include "distill/distill_loss.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "distill/feature_losses.h"
#include "distill/relation_losses.h"
#include "ops/elementwise.h"
#include "ops/loss.h"

namespace kdcu {
namespace distill {
namespace {

constexpr FeatureLossKind kKinds[] = {FeatureLossKind::Hint,        FeatureLossKind::Attention,
                                      FeatureLossKind::RkdDistance, FeatureLossKind::RkdAngle,
                                      FeatureLossKind::Pkt,         FeatureLossKind::Sp};

bool is_spatial_kind(FeatureLossKind k) {
  return k == FeatureLossKind::Hint || k == FeatureLossKind::Attention;
}

bool finite_non_negative(double w) {
  return std::isfinite(w) && w >= 0.0;
}

// The shortest "%g" text that reads back as the same double ("100", "0.1", "2.5e-05").
std::string number(double x) {
  std::string best;
  for (int p = 1; p <= 17; ++p) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x && (best.empty() || std::strlen(buf) < best.size())) best = buf;
  }
  return best;
}

// For log lines: at most 6 significant digits, so 1 - 0.9 shows as "0.1", not "0.09999999999999998".
std::string display(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

const Shape* find_shape(const std::vector<std::pair<std::string, Shape>>& shapes, const std::string& name) {
  for (const auto& [n, s] : shapes)
    if (n == name) return &s;
  return nullptr;
}

std::string names_of(const std::vector<std::pair<std::string, Shape>>& shapes) {
  std::string out;
  for (const auto& [n, s] : shapes) out += (out.empty() ? "" : ", ") + n + " " + shape_str(s);
  return out;
}

// The default feature of a kind: the last 4-D one for spatial terms, else the last one.
std::string default_feature(const std::vector<std::pair<std::string, Shape>>& shapes, FeatureLossKind kind,
                            const char* who) {
  require<ValueError>(!shapes.empty(), "feature loss ", feature_loss_name(kind), ": the ", who,
                      " model exposes no features");
  if (!is_spatial_kind(kind)) return shapes.back().first;
  for (auto it = shapes.rbegin(); it != shapes.rend(); ++it)
    if (it->second.size() == 4) return it->first;
  throw ValueError(cat("feature loss ", feature_loss_name(kind), ": the ", who,
                       " model has no 4-D feature [N, C, H, W]; it has ", names_of(shapes)));
}

const Tensor& feature_of(const ModelOutputs& out, const std::string& name, const char* who) {
  for (const auto& [n, t] : out.features)
    if (n == name) return t;
  throw ValueError(cat("DistillLoss: the ", who, " outputs lack the feature '", name,
                       "' (run forward_features with the features the loss asks for)"));
}

}  // namespace

const char* feature_loss_name(FeatureLossKind kind) {
  switch (kind) {
    case FeatureLossKind::Hint:
      return "hint";
    case FeatureLossKind::Attention:
      return "at";
    case FeatureLossKind::RkdDistance:
      return "rkd_distance";
    case FeatureLossKind::RkdAngle:
      return "rkd_angle";
    case FeatureLossKind::Pkt:
      return "pkt";
    case FeatureLossKind::Sp:
      return "sp";
  }
  return "?";
}

FeatureLossKind parse_feature_loss_kind(const std::string& name) {
  for (FeatureLossKind k : kKinds)
    if (name == feature_loss_name(k)) return k;
  throw ValueError(cat("unknown feature loss '", name, "' (expected hint, at, rkd_distance, rkd_angle, pkt or sp)"));
}

FeatureLossSpec FeatureLossSpec::parse(const std::string& text) {
  const char* form = " (expected KIND[@STUDENT_FEATURE[=TEACHER_FEATURE]][:WEIGHT], e.g. at@conv2=layer3:100)";
  FeatureLossSpec spec;
  std::string rest = text;
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    const std::string w = rest.substr(colon + 1);
    size_t used = 0;
    double value = 0.0;
    try {
      value = std::stod(w, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require<ValueError>(!w.empty() && used == w.size() && finite_non_negative(value), "feature loss '", text,
                        "': the weight '", w, "' is not a finite number >= 0", form);
    spec.weight = value;
    rest = rest.substr(0, colon);
  }
  const size_t at = rest.find('@');
  spec.kind = parse_feature_loss_kind(rest.substr(0, at));
  if (at != std::string::npos) {
    const std::string pair = rest.substr(at + 1);
    const size_t eq = pair.find('=');
    spec.student_feature = pair.substr(0, eq);
    spec.teacher_feature = eq == std::string::npos ? spec.student_feature : pair.substr(eq + 1);
    require<ValueError>(!spec.student_feature.empty() && !spec.teacher_feature.empty(), "feature loss '", text,
                        "': empty feature name", form);
  }
  return spec;
}

std::string FeatureLossSpec::str() const {
  std::string s = feature_loss_name(kind);
  if (!student_feature.empty()) s += "@" + student_feature + "=" + teacher_feature;
  return s + ":" + number(weight);
}

bool LossConfig::uses_teacher() const {
  return kd_weight > 0.0 || mse_weight > 0.0 || !features.empty();
}

void LossConfig::validate(std::size_t teachers) const {
  require<ValueError>(
      finite_non_negative(kd_weight) && finite_non_negative(ce_weight) && finite_non_negative(mse_weight),
      "loss weights must be finite and >= 0; found kd ", kd_weight, ", ce ", ce_weight, ", mse ", mse_weight);
  require<ValueError>(label_smoothing >= 0.0 && label_smoothing <= 1.0, "label smoothing must be in [0, 1], found ",
                      label_smoothing);
  require<ValueError>(std::isfinite(confidence_gamma) && confidence_gamma >= 0.0,
                      "confidence gamma must be finite and >= 0, found ", confidence_gamma);
  require<ValueError>(kd_weight > 0.0 || ce_weight > 0.0 || mse_weight > 0.0 || !features.empty(),
                      "the loss has no term: every weight is 0");
  require<ValueError>(!uses_teacher() || teachers > 0, "the loss (", describe(),
                      ") needs a teacher, and none was given");
  require<ValueError>(teacher_weights.empty() || teacher_weights.size() == teachers,
                      "teacher weights: ", teacher_weights.size(), " given for ", teachers, " teachers");
  require<ValueError>(teachers <= 1 || confidence_gamma == 0.0, "confidence-weighted KD reads one teacher; with ",
                      teachers, " teachers use the ensemble (--ensemble) without --confidence-gamma");
  require<ValueError>(teachers <= 1 || mse_weight == 0.0, "logit MSE reads one teacher; ", teachers, " were given");
  for (const FeatureLossSpec& f : features) {
    require<ValueError>(f.teacher < teachers, "feature loss ", f.str(), " reads teacher ", f.teacher, " of ", teachers);
  }
  // The schedules check their own values.
  (void)temperature.at(0.0);
}

std::string LossConfig::describe() const {
  std::ostringstream os;
  const char* plus = "";
  if (kd_weight > 0.0) {
    os << display(kd_weight) << "*kd(T=" << display(temperature.t0);
    if (temperature.shape != ScheduleShape::Constant && temperature.t1 != temperature.t0)
      os << "->" << display(temperature.t1) << " " << schedule_shape_name(temperature.shape);
    if (confidence_gamma > 0.0) os << ", confidence gamma " << display(confidence_gamma);
    if (annealing.enabled) os << ", annealed " << schedule_shape_name(annealing.shape);
    os << ")";
    plus = " + ";
  }
  if (ce_weight > 0.0) {
    os << plus << display(ce_weight) << "*ce";
    if (label_smoothing > 0.0) os << "(smoothing " << display(label_smoothing) << ")";
    plus = " + ";
  }
  if (mse_weight > 0.0) {
    os << plus << display(mse_weight) << "*mse(logits)";
    plus = " + ";
  }
  for (const FeatureLossSpec& f : features) {
    os << plus << f.str();
    plus = " + ";
  }
  return os.str();
}

// One feature term, resolved: which features it pairs, and its regressor for a hint.
struct DistillLoss::FeatureTerm {
  FeatureLossSpec spec;
  std::shared_ptr<HintRegressor> regressor;  // hint only
};

std::vector<std::pair<std::string, Shape>> probe_feature_shapes(nn::Model& model) {
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  const nn::ModelConfig& c = model.config();
  nn::NamedTensors features;
  DType dtype = DType::F32;
  for (const auto& [n, p] : model.named_parameters()) {
    dtype = p.dtype();
    break;
  }
  model.forward_features(zeros({2, c.in_channels, c.image_size, c.image_size}, dtype, model.device()), &features);
  model.train(was_training);
  std::vector<std::pair<std::string, Shape>> shapes;
  for (const auto& [n, t] : features) shapes.emplace_back(n, t.shape());
  return shapes;
}

DistillLoss::DistillLoss(LossConfig config, nn::Model& student, const std::vector<nn::Model*>& teachers, Generator& gen)
    : config_(std::move(config)) {
  config_.validate(teachers.size());
  if (config_.kd_weight > 0.0) names_.push_back("kd");
  if (config_.ce_weight > 0.0) names_.push_back("ce");
  if (config_.mse_weight > 0.0) names_.push_back("mse");
  if (config_.features.empty()) return;
  const auto s_shapes = probe_feature_shapes(student);
  std::vector<std::vector<std::pair<std::string, Shape>>> t_shapes;
  for (nn::Model* t : teachers) t_shapes.push_back(probe_feature_shapes(*t));
  for (FeatureLossSpec spec : config_.features) {
    const auto& ts = t_shapes[spec.teacher];
    if (spec.student_feature.empty()) {
      spec.student_feature = default_feature(s_shapes, spec.kind, "student");
      spec.teacher_feature = default_feature(ts, spec.kind, "teacher");
    }
    const Shape* s = find_shape(s_shapes, spec.student_feature);
    const Shape* t = find_shape(ts, spec.teacher_feature);
    require<ValueError>(s != nullptr, "feature loss ", spec.str(), ": the student has no feature '",
                        spec.student_feature, "'; it has ", names_of(s_shapes));
    require<ValueError>(t != nullptr, "feature loss ", spec.str(), ": the teacher has no feature '",
                        spec.teacher_feature, "'; it has ", names_of(ts));
    if (is_spatial_kind(spec.kind)) {
      require<ShapeError>(s->size() == 4 && t->size() == 4 && (*s)[2] == (*t)[2] && (*s)[3] == (*t)[3], "feature loss ",
                          spec.str(), ": needs 4-D features of the same height and width; found ", "student ",
                          shape_str(*s), ", teacher ", shape_str(*t));
    }
    auto term = std::make_unique<FeatureTerm>();
    term->spec = spec;
    if (spec.kind == FeatureLossKind::Hint) {
      nn::LayerOptions lo;
      lo.gen = &gen;
      for (const auto& [n, p] : student.named_parameters()) {
        lo.dtype = p.dtype();  // the regressor computes in the student's precision
        break;
      }
      term->regressor = std::make_shared<HintRegressor>((*s)[1], (*t)[1], lo);
      term->regressor->to(student.device());
      term->regressor->train(student.is_training());
    }
    names_.push_back(spec.str());
    terms_.push_back(std::move(term));
  }
}

DistillLoss::~DistillLoss() = default;

std::vector<FeatureLossSpec> DistillLoss::resolved_features() const {
  std::vector<FeatureLossSpec> out;
  for (const auto& t : terms_) out.push_back(t->spec);
  return out;
}

nn::NamedTensors DistillLoss::named_parameters() const {
  nn::NamedTensors out;
  for (size_t i = 0; i < terms_.size(); ++i) {
    if (!terms_[i]->regressor) continue;
    for (const auto& [n, p] : terms_[i]->regressor->named_parameters())
      out.emplace_back("hint" + std::to_string(i) + "." + n, p);
  }
  return out;
}

nn::NamedTensors DistillLoss::state_dict() const {
  nn::NamedTensors out;
  for (size_t i = 0; i < terms_.size(); ++i) {
    if (!terms_[i]->regressor) continue;
    for (const auto& [n, p] : terms_[i]->regressor->state_dict())
      out.emplace_back("hint" + std::to_string(i) + "." + n, p);
  }
  return out;
}

void DistillLoss::load_state_dict(const nn::NamedTensors& state) {
  for (size_t i = 0; i < terms_.size(); ++i) {
    if (!terms_[i]->regressor) continue;
    const std::string prefix = "hint" + std::to_string(i) + ".";
    nn::NamedTensors mine;
    for (const auto& [n, t] : state)
      if (n.compare(0, prefix.size(), prefix) == 0) mine.emplace_back(n.substr(prefix.size()), t);
    terms_[i]->regressor->load_state_dict(mine);
  }
}

void DistillLoss::train(bool on) {
  for (auto& t : terms_)
    if (t->regressor) t->regressor->train(on);
}

void DistillLoss::to(const Device& device) {
  for (auto& t : terms_)
    if (t->regressor) t->regressor->to(device);
}

DistillLoss::Result DistillLoss::compute(const ModelOutputs& student, const std::vector<ModelOutputs>& teachers,
                                         const Tensor& labels, double progress) {
  Result r;
  r.temperature = config_.temperature.at(progress);
  r.kd_weight = config_.annealing.soft_weight(config_.kd_weight, progress);
  require<ValueError>(!config_.uses_teacher() || !teachers.empty(), "DistillLoss: the loss needs teacher outputs");
  std::vector<std::pair<double, Tensor>> weighted;
  const auto add = [&](const std::string& name, double w, const Tensor& value) {
    r.terms.emplace_back(name, value.detach());
    weighted.emplace_back(w, value);
  };
  // Hinton KD plus plain CE from one teacher: one fused kernel call for both terms and their
  // gradient, w (alpha KD + (1 - alpha) CE) with w = kd + ce weight (ops::kd_hard_loss_parts).
  const bool fused = config_.kd_weight > 0.0 && config_.ce_weight > 0.0 && teachers.size() == 1 &&
                     config_.confidence_gamma == 0.0 && config_.label_smoothing == 0.0 &&
                     !teachers[0].logits.requires_grad();
  if (fused) {
    const double w = r.kd_weight + config_.ce_weight;
    const ops::KdHardParts p =
        ops::kd_hard_loss_parts(student.logits, teachers[0].logits, labels, r.temperature, r.kd_weight / w);
    r.terms.emplace_back("kd", p.kd);
    r.terms.emplace_back("ce", p.ce);
    weighted.emplace_back(w, p.total);
  }
  if (config_.kd_weight > 0.0 && !fused) {
    Tensor kd;
    if (teachers.size() > 1) {
      std::vector<Tensor> t_logits;
      for (const ModelOutputs& t : teachers) t_logits.push_back(t.logits);
      kd = multi_teacher_kd(student.logits, t_logits, config_.teacher_weights, r.temperature, config_.ensemble);
    } else if (config_.confidence_gamma > 0.0) {
      kd = confidence_weighted_kd(student.logits, teachers[0].logits, r.temperature, config_.confidence_gamma);
    } else {
      kd = kd_loss(student.logits, teachers[0].logits, r.temperature);
    }
    add("kd", r.kd_weight, kd);
  }
  if (config_.ce_weight > 0.0 && !fused)
    add("ce", config_.ce_weight, ops::cross_entropy(student.logits, labels, config_.label_smoothing));
  if (config_.mse_weight > 0.0) add("mse", config_.mse_weight, logit_mse(student.logits, teachers[0].logits));
  for (size_t i = 0; i < terms_.size(); ++i) {
    const FeatureTerm& term = *terms_[i];
    const FeatureLossSpec& spec = term.spec;
    const Tensor& s = feature_of(student, spec.student_feature, "student");
    const Tensor& t = feature_of(teachers[spec.teacher], spec.teacher_feature, "teacher");
    Tensor value;
    switch (spec.kind) {
      case FeatureLossKind::Hint:
        value = hint_loss(*term.regressor, s, t);
        break;
      case FeatureLossKind::Attention:
        value = attention_loss(s, t);
        break;
      case FeatureLossKind::RkdDistance:
        value = rkd_distance_loss(s.flatten(1), t.flatten(1));
        break;
      case FeatureLossKind::RkdAngle:
        value = rkd_angle_loss(s.flatten(1), t.flatten(1));
        break;
      case FeatureLossKind::Pkt:
        value = pkt_loss(s.flatten(1), t.flatten(1));
        break;
      case FeatureLossKind::Sp:
        value = sp_loss(s.flatten(1), t.flatten(1));
        break;
    }
    add(names_[names_.size() - terms_.size() + i], spec.weight, value);
  }
  for (const auto& [w, v] : weighted) {
    const Tensor term = w == 1.0 ? v : ops::mul(v, w);
    r.total = r.total.defined() ? ops::add(r.total, term) : term;
  }
  return r;
}

}  // namespace distill
}  // namespace kdcu
