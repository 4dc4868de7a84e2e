// Weights and training checkpoints on disk, as safetensors.
//   weights file:    the model's state_dict under PyTorch's names (loads into the reference
//                    PyTorch models as is); metadata free-form.
//   checkpoint file: "model.<name>", "optimizer.<name>" and "extra.<name>" tensors, and metadata with the
//                    epoch, the global step (the LR schedule's position), the RNG state and the
//                    caller's extra keys, so a resumed run continues exactly where it stopped.
// Both are written atomically (core/safetensors.h): a crash never leaves a broken file and never
// destroys the previous one.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/rng.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace kdcu {
namespace nn {

void save_weights(const std::string& path, const Module& model,
                  const std::map<std::string, std::string>& metadata = {});
// Loads a weights file, or the model part of a training checkpoint. Strict: names and shapes must
// match exactly (ValueError listing the differences); returns the file's metadata.
std::map<std::string, std::string> load_weights(const std::string& path, Module& model);

struct TrainingState {
  std::int64_t epoch = 0;                    // epochs completed
  std::int64_t step = 0;                     // optimizer steps taken (the schedule position)
  Generator rng;                             // the run's generator: shuffling, augmentation, dropout
  std::map<std::string, std::string> extra;  // the caller's own keys (config, best accuracy, ...)
  NamedTensors extra_tensors;                // the caller's own tensors (e.g. a distillation loss's regressors)
};

// `optimizer` may be null (then none is saved or expected).
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingState& state);
// Restores model weights, optimizer state and returns the training state. Everything is checked
// before anything is changed: a file that does not match (not a checkpoint, other parameter
// names or shapes, another optimizer kind) is an error naming the difference, and the model and
// optimizer stay as they were.
TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer);

}  // namespace nn
}  // namespace kdcu
