// Optimizer and LR-schedule construction from an OptimConfig.
#include "distill/recipe.h"

#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "core/error.h"

namespace kdcu {
namespace distill {
namespace {

bool finite_non_negative(double v) {
  return std::isfinite(v) && v >= 0.0;
}

std::vector<double> parse_milestones(const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = -1.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require<ValueError>(used == item.size() && used > 0 && v > 0.0 && std::isfinite(v), "--milestones '", text, "': '",
                        item, "' is not a positive number of epochs (expected e.g. 5,8)");
    out.push_back(v);
  }
  require<ValueError>(!out.empty(), "--milestones is empty: the multistep schedule needs epochs, e.g. 5,8");
  return out;
}

}  // namespace

void OptimConfig::validate() const {
  require<ValueError>(optimizer == "sgd" || optimizer == "adam" || optimizer == "adamw", "unknown optimizer '",
                      optimizer, "' (expected sgd, adam or adamw)");
  require<ValueError>(schedule == "constant" || schedule == "cosine" || schedule == "step" || schedule == "multistep" ||
                          schedule == "onecycle",
                      "unknown LR schedule '", schedule, "' (expected constant, cosine, step, multistep or onecycle)");
  require<ValueError>(std::isfinite(lr) && lr > 0.0, "the learning rate must be finite and > 0, found ", lr);
  const std::pair<const char*, double> non_negative[] = {{"momentum", momentum},
                                                         {"weight decay", weight_decay},
                                                         {"min lr", min_lr},
                                                         {"warm-up epochs", warmup_epochs},
                                                         {"clip grad norm", clip_grad_norm},
                                                         {"step epochs", step_epochs}};
  for (const auto& [what, v] : non_negative)
    require<ValueError>(finite_non_negative(v), "the ", what, " must be finite and >= 0, found ", v);
  require<ValueError>(step_gamma > 0.0 && step_gamma <= 1.0, "the step schedule's gamma must be in (0, 1], found ",
                      step_gamma);
  require<ValueError>(schedule != "onecycle" || warmup_epochs == 0.0,
                      "onecycle has its own warm-up; --warmup-epochs must be 0 with it");
  if (schedule == "multistep") parse_milestones(milestones);
}

std::string OptimConfig::describe() const {
  std::ostringstream os;
  os << optimizer << "(lr=" << lr;
  if (optimizer == "sgd") {
    os << ", momentum=" << momentum;
    if (nesterov && momentum > 0.0) os << ", nesterov";
  } else {
    os << ", betas=(" << beta1 << ", " << beta2 << ")";
  }
  os << ", wd=" << weight_decay << "), " << schedule;
  if (schedule == "cosine" && min_lr > 0.0) os << " to " << min_lr;
  if (schedule == "multistep") os << " at " << milestones;
  if (warmup_epochs > 0.0) os << ", warm-up " << warmup_epochs << " epochs";
  if (clip_grad_norm > 0.0) os << ", clip " << clip_grad_norm;
  return os.str();
}

std::unique_ptr<nn::Optimizer> make_optimizer(const OptimConfig& c, nn::NamedTensors params) {
  c.validate();
  if (c.optimizer == "sgd")
    return std::make_unique<nn::SGD>(std::move(params), c.lr, c.momentum, 0.0, c.weight_decay,
                                     c.nesterov && c.momentum > 0.0);
  if (c.optimizer == "adam")
    return std::make_unique<nn::Adam>(std::move(params), c.lr, std::make_pair(c.beta1, c.beta2), c.eps, c.weight_decay);
  return std::make_unique<nn::AdamW>(std::move(params), c.lr, std::make_pair(c.beta1, c.beta2), c.eps, c.weight_decay);
}

nn::LrSchedulePtr make_schedule(const OptimConfig& c, std::int64_t epochs, std::int64_t steps_per_epoch) {
  c.validate();
  require<ValueError>(epochs >= 1 && steps_per_epoch >= 1, "make_schedule: epochs and steps per epoch must be >= 1");
  const std::int64_t total = epochs * steps_per_epoch;
  const auto steps_of = [&](double e) { return static_cast<std::int64_t>(std::llround(e * steps_per_epoch)); };
  const std::int64_t warmup = std::min(steps_of(c.warmup_epochs), total);
  const std::int64_t rest = std::max<std::int64_t>(total - warmup, 1);
  nn::LrSchedulePtr inner;
  if (c.schedule == "constant") {
    inner = std::make_shared<nn::ConstantLR>(c.lr);
  } else if (c.schedule == "cosine") {
    inner = std::make_shared<nn::CosineAnnealingLR>(c.lr, rest, c.min_lr);
  } else if (c.schedule == "step") {
    const double every = c.step_epochs > 0.0 ? c.step_epochs : std::max(1.0, epochs / 3.0);
    inner = std::make_shared<nn::StepLR>(c.lr, std::max<std::int64_t>(steps_of(every), 1), c.step_gamma);
  } else if (c.schedule == "multistep") {
    std::vector<std::int64_t> at;
    for (double e : parse_milestones(c.milestones)) at.push_back(std::max<std::int64_t>(steps_of(e) - warmup, 1));
    inner = std::make_shared<nn::MultiStepLR>(c.lr, at, c.step_gamma);
  } else {
    return std::make_shared<nn::OneCycleLR>(c.lr, total);
  }
  if (warmup == 0) return inner;
  return std::make_shared<nn::LinearWarmupLR>(inner, warmup, 0.1);
}

}  // namespace distill
}  // namespace kdcu
