// Learning-rate schedules as pure functions of the optimizer step index k = 0, 1, 2, ...:
// lr_at(k) is the lr of the (k+1)-th update, which is PyTorch's lr after k calls of
// scheduler.step(). A schedule has no state, so its position in a checkpoint is just k.
// The classes carry PyTorch's LR suffix (and nn::SequentialLR is not the Module nn::Sequential).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kdcu {
namespace nn {

class Optimizer;

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // ValueError for k < 0.
  virtual double lr_at(std::int64_t step) const = 0;
  // One line, e.g. "StepLR(base_lr=0.1, step_size=30, gamma=0.1)", for logs.
  virtual std::string describe() const = 0;
};

using LrSchedulePtr = std::shared_ptr<const LrSchedule>;

// lr at every step (not PyTorch's ConstantLR, which scales by a factor for a while).
class ConstantLR : public LrSchedule {
 public:
  explicit ConstantLR(double lr);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  double lr_;
};

// StepLR: base_lr * gamma^floor(k / step_size).
class StepLR : public LrSchedule {
 public:
  StepLR(double base_lr, std::int64_t step_size, double gamma = 0.1);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  double base_lr_, gamma_;
  std::int64_t step_size_;
};

// MultiStepLR: base_lr * gamma^(number of milestones <= k). Milestones may come in any order and
// repeat (a repeated milestone applies gamma twice, as PyTorch's Counter does).
class MultiStepLR : public LrSchedule {
 public:
  MultiStepLR(double base_lr, std::vector<std::int64_t> milestones, double gamma = 0.1);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  double base_lr_, gamma_;
  std::vector<std::int64_t> milestones_;  // sorted
};

// CosineAnnealingLR's closed form: min_lr + (base_lr - min_lr) (1 + cos(pi k / total_steps)) / 2
// for k <= total_steps, then min_lr (PyTorch's cosine would climb again after total_steps).
class CosineAnnealingLR : public LrSchedule {
 public:
  CosineAnnealingLR(double base_lr, std::int64_t total_steps, double min_lr = 0.0);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  double base_lr_, min_lr_;
  std::int64_t total_steps_;
};

// OneCycleLR with three_phase = False and cosine annealing (the lr only: no momentum cycling).
// initial = max_lr / div_factor, final = initial / final_div_factor, T = total_steps;
// phase 1 for k <= pct_start T - 1: from initial up to max_lr, phase 2 until k = T - 1: down to
// final, each as end + (start - end) (1 + cos(pi pct)) / 2 with pct the fraction of the phase done.
// k >= T - 1 gives final (PyTorch raises for k > T). A phase of length <= 0 counts as done.
class OneCycleLR : public LrSchedule {
 public:
  OneCycleLR(double max_lr, std::int64_t total_steps, double pct_start = 0.3, double div_factor = 25.0,
             double final_div_factor = 1e4);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  double max_lr_, pct_start_, div_factor_, final_div_factor_;
  std::int64_t total_steps_;
};

// Warmup, then `inner` from its own step 0 (shifted): for k < warmup_steps the lr goes linearly
// from start_factor * inner(0) to inner(0), i.e. inner(0) (start_factor + (1 - start_factor)
// k / warmup_steps); from k = warmup_steps on it is inner(k - warmup_steps). The same as PyTorch's
// SequentialLR([LinearLR(start_factor, total_iters=warmup_steps), inner], [warmup_steps]).
// start_factor in [0, 1], warmup_steps >= 0 (0: just inner).
class LinearWarmupLR : public LrSchedule {
 public:
  LinearWarmupLR(LrSchedulePtr inner, std::int64_t warmup_steps, double start_factor);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  LrSchedulePtr inner_;
  std::int64_t warmup_steps_;
  double start_factor_;
};

// SequentialLR: schedules[0] for k < milestones[0], then schedules[i] from its own step 0 at
// k = milestones[i-1], i.e. schedules[i](k - milestones[i-1]). Needs one more schedule than
// milestones, milestones > 0 and increasing.
class SequentialLR : public LrSchedule {
 public:
  SequentialLR(std::vector<LrSchedulePtr> schedules, std::vector<std::int64_t> milestones);
  double lr_at(std::int64_t step) const override;
  std::string describe() const override;

 private:
  std::vector<LrSchedulePtr> schedules_;
  std::vector<std::int64_t> milestones_;
};

// Sets the optimizer's lr to schedule.lr_at(step); without `step`, at optimizer.steps() (the
// index of the update about to run), so a resumed optimizer picks the schedule up where it was.
void apply_schedule(Optimizer& optimizer, const LrSchedule& schedule, std::int64_t step);
void apply_schedule(Optimizer& optimizer, const LrSchedule& schedule);

}  // namespace nn
}  // namespace kdcu
