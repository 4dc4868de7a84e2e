// kdcu's training loop, for a plain model (teacher, baseline) and for a distilled student alike:
// the loss (distill_loss.h) decides whether teachers are read. Per epoch: train, evaluate, log
// every loss term, keep the best and the last weights and a resumable checkpoint. Teachers run in
// eval mode under no-grad (or from the soft-label cache); the student in train mode.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "distill/distill_loss.h"
#include "distill/evaluate.h"
#include "distill/recipe.h"
#include "distill/resident_data.h"
#include "nn/model.h"

namespace kdcu {
namespace distill {

struct TrainConfig {
  std::int64_t epochs = 10;
  std::int64_t batch_size = 128;
  OptimConfig optim;
  std::uint64_t seed = 0;  // shuffling, augmentation and dropout (the model's init is the caller's)
  datasets::Augmentation augmentation;
  // Teachers' BatchNorm layers in train mode (batch statistics; their running statistics then
  // update too, as in PyTorch). Off: the whole teacher is in eval mode.
  bool teacher_bn_train = false;
  // Read the teachers' logits from the soft-label cache when nothing makes them vary between
  // epochs: no augmentation, no feature term, teacher BN in eval mode.
  bool soft_label_cache = true;
  std::string cache_dir;  // "" = <out_dir>/cache; with no out_dir the cache stays in memory
  std::string out_dir;    // "" = write nothing
  Device device = Device::cpu();
  std::int64_t eval_batch_size = 500;
  int prefetch = 4;  // batches the loader builds ahead
  // Host DataLoader, or the whole training set kept on the device with batches gathered there
  // (resident_data.h). Auto: resident on CUDA when there is no augmentation and the set fits.
  DataResidency data_residency = DataResidency::Auto;
  bool resume = false;  // continue from <out_dir>/checkpoint.safetensors when it exists

  void validate() const;  // ValueError naming the bad value
};

// One epoch's numbers, as logged (metrics.jsonl / metrics.csv).
struct EpochRecord {
  std::int64_t epoch = 0;  // 1-based
  double lr = 0.0;         // of the epoch's last step
  double temperature = 0.0, kd_weight = 0.0;
  double train_loss = 0.0;                                  // mean over the epoch's samples
  std::vector<std::pair<std::string, double>> train_terms;  // each term, unweighted, mean over samples
  // Fraction of the epoch's training samples the student classified right in its training-mode
  // forward (dropout on, weights changing through the epoch); NaN in records from before it was logged.
  double train_accuracy = 0.0;
  double eval_loss = 0.0, eval_accuracy = 0.0;
  double train_seconds = 0.0, eval_seconds = 0.0;
  double images_per_second = 0.0;  // training images / train_seconds
};

// Where training is, for progress bars.
struct StepProgress {
  std::int64_t epoch = 0, epochs = 0;  // 1-based epoch
  std::int64_t step = 0, steps = 0;    // 1-based step in the epoch, steps per epoch
  double loss = 0.0;                   // running mean over the steps read so far (NaN before the first read)
  double images_per_second = 0.0;
  double elapsed_seconds = 0.0, eta_seconds = 0.0;  // of the epoch
  double run_eta_seconds = 0.0;  // training left in the run at this epoch's pace (evaluation not counted)
};

// Receives what the loop does; the library itself prints nothing. Every method may be left as is.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_message(const std::string& /*line*/) {}
  virtual void on_step(const StepProgress& /*p*/) {}
  virtual void on_epoch(const EpochRecord& /*r*/) {}
};

struct TrainResult {
  std::vector<EpochRecord> history;  // every epoch, including those before a resume
  EvalResult final_eval;             // the last epoch's model on the evaluation set
  std::int64_t best_epoch = 0;
  double best_accuracy = 0.0;
  double train_seconds = 0.0;  // training epochs (without evaluation) + building the soft labels
  double cache_seconds = 0.0;  // of which: running the teachers for the soft-label cache
  bool used_cache = false;
  std::int64_t resumed_from_epoch = 0;                // 0 = a fresh run
  std::string best_path, last_path, checkpoint_path;  // empty without out_dir
};

// Trains `student` on `train` and evaluates it on `eval` after every epoch, both normalised with
// `norm`. `teachers` may be empty when the loss reads none. Throws ValueError when a loss is NaN
// or infinite (naming the epoch, the step and the term; the files of the last completed epoch
// stay), and for a resume whose checkpoint was made by another recipe.
TrainResult fit(nn::Model& student, const std::vector<nn::Model*>& teachers, DistillLoss& loss,
                const datasets::Dataset& train, const datasets::Dataset& eval, const datasets::Normalization& norm,
                const TrainConfig& config, TrainObserver* observer = nullptr);

}  // namespace distill
}  // namespace kdcu
