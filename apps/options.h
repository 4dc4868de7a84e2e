// Command-line options shared by the training commands (train, distill, pipeline, eval): the
// common flags, the data set, the training recipe and the loss, each registered on a CLI11
// subcommand and turned into the library's config structs.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/registry.h"
#include "distill/distill_loss.h"
#include "distill/trainer.h"
#include "nn/model.h"

namespace kdcu {
namespace app {

struct CommonOptions {
  std::string device = "auto";  // auto, cpu, cuda, cuda:N
  int threads = 0;              // 0 = OpenMP's default (all cores)
  std::uint64_t seed = 0;
  std::string out;  // the run directory
  bool json = false;
};
// --device, --threads, --seed, --out (default `default_out`), --json, --config.
void add_common_options(CLI::App* cmd, CommonOptions& o, const std::string& default_out);

// auto: the first CUDA device when one is usable, else the CPU (`note` says why); cpu; cuda[:N],
// which fails with "CUDA unavailable: <reason>" when there is none.
Device resolve_device(const std::string& spec, std::string* note = nullptr);

struct DataOptions {
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::int64_t train_subset = 0;  // > 0: that many training samples, drawn by the seed
  std::int64_t test_subset = 0;   // > 0: that many test samples, drawn by the seed
};
void add_data_options(CLI::App* cmd, DataOptions& o);

struct LoadedData {
  datasets::NamedDataset named;  // train/test as loaded (or subsets of them)
  datasets::Normalization norm;  // of the full training set
  std::string describe() const;  // "fashion-mnist: 60000 train / 10000 test, 1x28x28, 10 classes"
};
LoadedData load_data(const DataOptions& o, std::uint64_t seed);

// The model config that fits a data set's images and classes.
nn::ModelConfig model_config_for(const datasets::Dataset& train, std::int64_t width_mult = 1);

// --epochs, --batch-size, --optimizer, --lr, --momentum, --no-nesterov, --weight-decay, --schedule,
// --min-lr, --milestones, --step-gamma, --warmup-epochs, --clip-grad-norm, --crop-padding, --flip,
// --eval-batch-size, --resume. `prefix` is put before each name ("teacher-" for the pipeline's
// teacher recipe); `what` goes into the help texts.
void add_recipe_options(CLI::App* cmd, distill::TrainConfig& c, const std::string& prefix = "",
                        const std::string& what = "");

struct LossFlags {
  double alpha = -1.0;                        // < 0: not given
  double kd_weight = -1.0, ce_weight = -1.0;  // < 0: not given
  double temperature = 4.0;
  double temperature_end = -1.0;  // < 0: = temperature
  std::string temperature_schedule = "linear";
  std::string anneal;  // "", linear, cosine
  double mse_weight = 0.0;
  double label_smoothing = 0.0;
  double confidence_gamma = 0.0;
  std::string ensemble = "average";
  std::vector<double> teacher_weights;
  std::vector<std::string> feature_losses;

  // The loss of a distilled student; ValueError for conflicting or invalid flags.
  distill::LossConfig to_config(double default_alpha = 0.9) const;
};
// --alpha, --kd-weight, --ce-weight, --temperature, --temperature-end, --temperature-schedule,
// --anneal-teacher, --mse-weight, --label-smoothing, --confidence-gamma, --ensemble,
// --teacher-weights, --feature-loss.
void add_loss_options(CLI::App* cmd, LossFlags& o);

// The loss of plain training (cross-entropy only).
distill::LossConfig plain_loss(double label_smoothing = 0.0);

// A model of registry name `model` (or, when empty, the name stored in the file's metadata) with
// `cfg`, loaded strictly from a weights file or training checkpoint. ValueError when neither gives
// a name, or when the file's name differs from `model`.
nn::ModelPtr load_model(const std::string& path, const std::string& model, const nn::ModelConfig& cfg);

}  // namespace app
}  // namespace kdcu
