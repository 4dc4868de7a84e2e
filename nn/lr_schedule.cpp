// Learning-rate schedules: PyTorch's closed forms (the chainable .step() forms agree with them to
// rounding), validated arguments, and the composition of schedules by step offsets.
#include "nn/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "nn/optim.h"

namespace kdcu {
namespace nn {
namespace {

constexpr double kPi = 3.14159265358979323846;

void check_step(std::int64_t step, const char* who) {
  require<ValueError>(step >= 0, who, ": invalid step ", step, " (expected >= 0)");
}

void check_lr(double lr, const char* who, const char* what) {
  require<ValueError>(std::isfinite(lr) && lr >= 0.0, who, ": invalid ", what, " ", lr, " (expected >= 0)");
}

// end + (start - end) (1 + cos(pi pct)) / 2, PyTorch's _annealing_cos in its order of operations.
double annealing_cos(double start, double end, double pct) {
  const double cos_out = std::cos(kPi * pct) + 1.0;
  return end + (start - end) / 2.0 * cos_out;
}

template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  os.precision(10);
  (os << ... << args);
  return os.str();
}

}  // namespace

ConstantLR::ConstantLR(double lr) : lr_(lr) {
  check_lr(lr, "ConstantLR", "lr");
}
double ConstantLR::lr_at(std::int64_t step) const {
  check_step(step, "ConstantLR");
  return lr_;
}
std::string ConstantLR::describe() const {
  return str("ConstantLR(lr=", lr_, ")");
}

StepLR::StepLR(double base_lr, std::int64_t step_size, double gamma)
    : base_lr_(base_lr), gamma_(gamma), step_size_(step_size) {
  check_lr(base_lr, "StepLR", "base_lr");
  require<ValueError>(step_size > 0, "StepLR: invalid step_size ", step_size, " (expected > 0)");
  require<ValueError>(std::isfinite(gamma) && gamma > 0.0, "StepLR: invalid gamma ", gamma, " (expected > 0)");
}
double StepLR::lr_at(std::int64_t step) const {
  check_step(step, "StepLR");
  return base_lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}
std::string StepLR::describe() const {
  return str("StepLR(base_lr=", base_lr_, ", step_size=", step_size_, ", gamma=", gamma_, ")");
}

MultiStepLR::MultiStepLR(double base_lr, std::vector<std::int64_t> milestones, double gamma)
    : base_lr_(base_lr), gamma_(gamma), milestones_(std::move(milestones)) {
  check_lr(base_lr, "MultiStepLR", "base_lr");
  require<ValueError>(std::isfinite(gamma) && gamma > 0.0, "MultiStepLR: invalid gamma ", gamma, " (expected > 0)");
  for (std::int64_t m : milestones_) {
    require<ValueError>(m >= 0, "MultiStepLR: invalid milestone ", m, " (expected >= 0)");
  }
  std::sort(milestones_.begin(), milestones_.end());
}
double MultiStepLR::lr_at(std::int64_t step) const {
  check_step(step, "MultiStepLR");
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_lr_ * std::pow(gamma_, static_cast<double>(passed));
}
std::string MultiStepLR::describe() const {
  std::string ms;
  for (std::int64_t m : milestones_) ms += (ms.empty() ? "" : ", ") + std::to_string(m);
  return str("MultiStepLR(base_lr=", base_lr_, ", milestones=[", ms, "], gamma=", gamma_, ")");
}

CosineAnnealingLR::CosineAnnealingLR(double base_lr, std::int64_t total_steps, double min_lr)
    : base_lr_(base_lr), min_lr_(min_lr), total_steps_(total_steps) {
  check_lr(base_lr, "CosineAnnealingLR", "base_lr");
  check_lr(min_lr, "CosineAnnealingLR", "min_lr");
  require<ValueError>(total_steps > 0, "CosineAnnealingLR: invalid total_steps ", total_steps, " (expected > 0)");
}
double CosineAnnealingLR::lr_at(std::int64_t step) const {
  check_step(step, "CosineAnnealingLR");
  if (step >= total_steps_) return min_lr_;
  const double t = static_cast<double>(step) / static_cast<double>(total_steps_);
  return min_lr_ + (base_lr_ - min_lr_) * (1.0 + std::cos(kPi * t)) / 2.0;
}
std::string CosineAnnealingLR::describe() const {
  return str("CosineAnnealingLR(base_lr=", base_lr_, ", total_steps=", total_steps_, ", min_lr=", min_lr_, ")");
}

OneCycleLR::OneCycleLR(double max_lr, std::int64_t total_steps, double pct_start, double div_factor,
                       double final_div_factor)
    : max_lr_(max_lr),
      pct_start_(pct_start),
      div_factor_(div_factor),
      final_div_factor_(final_div_factor),
      total_steps_(total_steps) {
  check_lr(max_lr, "OneCycleLR", "max_lr");
  require<ValueError>(total_steps > 0, "OneCycleLR: invalid total_steps ", total_steps, " (expected > 0)");
  require<ValueError>(pct_start >= 0.0 && pct_start <= 1.0, "OneCycleLR: invalid pct_start ", pct_start,
                      " (expected in [0, 1])");
  require<ValueError>(std::isfinite(div_factor) && div_factor > 0.0, "OneCycleLR: invalid div_factor ", div_factor,
                      " (expected > 0)");
  require<ValueError>(std::isfinite(final_div_factor) && final_div_factor > 0.0,
                      "OneCycleLR: invalid final_div_factor ", final_div_factor, " (expected > 0)");
}
double OneCycleLR::lr_at(std::int64_t step) const {
  check_step(step, "OneCycleLR");
  const double initial = max_lr_ / div_factor_;
  const double final_lr = initial / final_div_factor_;
  const double k = static_cast<double>(step);
  // Phase ends as PyTorch computes them (the first may fall between steps).
  const double end1 = pct_start_ * static_cast<double>(total_steps_) - 1.0;
  const double end2 = static_cast<double>(total_steps_) - 1.0;
  const auto pct = [](double at, double begin, double end) {
    return end - begin <= 0.0 ? 1.0 : std::min(1.0, (at - begin) / (end - begin));
  };
  if (k <= end1) return annealing_cos(initial, max_lr_, pct(k, 0.0, end1));
  return annealing_cos(max_lr_, final_lr, pct(k, end1, end2));
}
std::string OneCycleLR::describe() const {
  return str("OneCycleLR(max_lr=", max_lr_, ", total_steps=", total_steps_, ", pct_start=", pct_start_,
             ", div_factor=", div_factor_, ", final_div_factor=", final_div_factor_, ")");
}

LinearWarmupLR::LinearWarmupLR(LrSchedulePtr inner, std::int64_t warmup_steps, double start_factor)
    : inner_(std::move(inner)), warmup_steps_(warmup_steps), start_factor_(start_factor) {
  require<ValueError>(inner_ != nullptr, "LinearWarmupLR: the inner schedule is null");
  require<ValueError>(warmup_steps >= 0, "LinearWarmupLR: invalid warmup_steps ", warmup_steps, " (expected >= 0)");
  require<ValueError>(start_factor >= 0.0 && start_factor <= 1.0, "LinearWarmupLR: invalid start_factor ", start_factor,
                      " (expected in [0, 1])");
}
double LinearWarmupLR::lr_at(std::int64_t step) const {
  check_step(step, "LinearWarmupLR");
  if (step >= warmup_steps_) return inner_->lr_at(step - warmup_steps_);
  const double done = static_cast<double>(step) / static_cast<double>(warmup_steps_);
  return inner_->lr_at(0) * (start_factor_ + (1.0 - start_factor_) * done);
}
std::string LinearWarmupLR::describe() const {
  return str("LinearWarmupLR(warmup_steps=", warmup_steps_, ", start_factor=", start_factor_, ", then ",
             inner_->describe(), ")");
}

SequentialLR::SequentialLR(std::vector<LrSchedulePtr> schedules, std::vector<std::int64_t> milestones)
    : schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  require<ValueError>(!schedules_.empty() && schedules_.size() == milestones_.size() + 1,
                      "SequentialLR: ", schedules_.size(), " schedules and ", milestones_.size(),
                      " milestones (expected one more schedule than milestones)");
  for (size_t i = 0; i < schedules_.size(); ++i) {
    require<ValueError>(schedules_[i] != nullptr, "SequentialLR: schedule ", i, " is null");
  }
  for (size_t i = 0; i < milestones_.size(); ++i) {
    const std::int64_t previous = i == 0 ? 0 : milestones_[i - 1];
    require<ValueError>(milestones_[i] > previous, "SequentialLR: invalid milestone ", milestones_[i], " (expected > ",
                        previous, ": milestones must be positive and increasing)");
  }
}
double SequentialLR::lr_at(std::int64_t step) const {
  check_step(step, "SequentialLR");
  const size_t i =
      static_cast<size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin());
  return schedules_[i]->lr_at(i == 0 ? step : step - milestones_[i - 1]);
}
std::string SequentialLR::describe() const {
  std::string out = "SequentialLR(";
  for (size_t i = 0; i < schedules_.size(); ++i) {
    out += schedules_[i]->describe();
    if (i < milestones_.size()) out += str(" until ", milestones_[i], ", ");
  }
  return out + ")";
}

void apply_schedule(Optimizer& optimizer, const LrSchedule& schedule, std::int64_t step) {
  optimizer.set_lr(schedule.lr_at(step));
}

void apply_schedule(Optimizer& optimizer, const LrSchedule& schedule) {
  apply_schedule(optimizer, schedule, optimizer.steps());
}

}  // namespace nn
}  // namespace kdcu
