// One training stage of the command line (a teacher, a baseline or a distilled student): build
// the loss, run the training loop with a progress printer, and gather the numbers a report needs
// (accuracy, parameters, FLOPs, latency, time).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/options.h"
#include "distill/evaluate.h"
#include "distill/trainer.h"
#include "nn/model.h"

namespace kdcu {
namespace app {

// What a model costs: parameters, FLOPs per image (nn::summary's count), latency at batch 1 and 256.
struct ModelFacts {
  std::string model;
  std::int64_t params = 0;
  double flops = 0.0;
  distill::Latency latency_b1, latency_b256;
};
ModelFacts model_facts(nn::Model& m, const Device& device, bool measure_latency = true);
nlohmann::json to_json(const ModelFacts& f);

struct StageResult {
  std::string name;  // "teacher", "baseline", "kd", or the command's name
  nn::ModelPtr model;
  distill::TrainResult train;
  ModelFacts facts;
  std::string loss;    // the loss's describe()
  std::string recipe;  // epochs, batch, optimizer, schedule, augmentation
};

// Trains `student` (already built from the seed) with `loss` against `teachers` on the loaded
// data, printing progress to stderr, and measures it. `measure_latency` off keeps quick runs quick.
StageResult run_stage(const std::string& name, nn::ModelPtr student, const std::vector<nn::Model*>& teachers,
                      const distill::LossConfig& loss, const distill::TrainConfig& cfg, const LoadedData& data,
                      std::uint64_t seed, bool measure_latency = true);

// test_accuracy (final epoch), best epoch and accuracy, params, flops, latency, train_seconds,
// images/s, paths, and the per-epoch history.
nlohmann::json to_json(const StageResult& s);

}  // namespace app
}  // namespace kdcu
