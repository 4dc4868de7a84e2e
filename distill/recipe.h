// The optimisation recipe of a training run by name: which optimizer with which
// hyper-parameters, which LR schedule over the run's steps, with optional linear warm-up and
// gradient clipping. One struct, so the command line, config files and checkpoints agree.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/lr_schedule.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace kdcu {
namespace distill {

struct OptimConfig {
  std::string optimizer = "sgd";  // sgd, adam, adamw
  double lr = 0.05;
  double momentum = 0.9;  // sgd
  bool nesterov = true;   // sgd (needs momentum > 0)
  double weight_decay = 5e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
  std::string schedule = "cosine";                // constant, cosine, step, multistep, onecycle
  double step_gamma = 0.1;                        // step / multistep: the factor
  double step_epochs = 0.0;                       // step: epochs between decays (0: a third of the run)
  std::string milestones;                         // multistep: comma-separated epochs, e.g. "5,8"
  double min_lr = 0.0;                            // cosine: the final lr
  double warmup_epochs = 0.0;                     // linear warm-up from 0.1 lr (not with onecycle, which has its own)
  double clip_grad_norm = 0.0;                    // > 0: clip the global L2 norm of the gradients to this

  // ValueError for an unknown name or a value outside its domain, naming it.
  void validate() const;
  std::string describe() const;  // "sgd(lr=0.05, momentum=0.9, nesterov, wd=0.0005), cosine"
};

std::unique_ptr<nn::Optimizer> make_optimizer(const OptimConfig& c, nn::NamedTensors params);

// The schedule over a run of `epochs` epochs of `steps_per_epoch` optimizer steps each.
nn::LrSchedulePtr make_schedule(const OptimConfig& c, std::int64_t epochs, std::int64_t steps_per_epoch);

}  // namespace distill
}  // namespace kdcu
