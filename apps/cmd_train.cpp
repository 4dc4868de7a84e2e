// `kdcu train`: train any registered model on any data set with cross-entropy (a teacher, or a
// baseline student), writing weights, a resumable checkpoint, metrics and the resolved config.
#include <iostream>

#include "apps/commands.h"
#include "apps/options.h"
#include "apps/run_info.h"
#include "apps/stage.h"
#include "core/error.h"

namespace kdcu {
namespace app {
namespace {

struct TrainOptions {
  CommonOptions common;
  DataOptions data;
  std::string model = "resnet20";
  std::int64_t width_mult = 1;
  double label_smoothing = 0.0;
  distill::TrainConfig train;
};

int run_train(const CLI::App& cmd, TrainOptions& o) {
  const int threads = apply_threads(o.common.threads);
  std::string note;
  o.train.device = resolve_device(o.common.device, &note);
  if (!note.empty()) std::cerr << "[train] " << note << "\n";
  const LoadedData data = load_data(o.data, o.common.seed);
  std::cerr << "[train] " << data.describe() << "; " << threads << " CPU threads\n";
  Generator gen(o.common.seed);
  nn::ModelPtr model = nn::create_model(o.model, model_config_for(data.named.train, o.width_mult), gen);
  o.train.seed = o.common.seed;
  o.train.out_dir = o.common.out;
  write_run_info(o.common.out, cmd, o.train.device, o.common.seed, {{"data", data.describe()}});
  const StageResult r = run_stage("train", model, {}, plain_loss(o.label_smoothing), o.train, data, o.common.seed);
  std::cerr << "[train] weights: " << r.train.last_path << " (best: " << r.train.best_path << ")\n";
  if (o.common.json) {
    nlohmann::json j = to_json(r);
    j["command"] = "train";
    j["out"] = o.common.out;
    j["device"] = o.train.device.str();
    j["seed"] = o.common.seed;
    std::cout << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

Runner add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "Train a registered model with cross-entropy (a teacher, or a baseline)");
  std::string names;
  for (const std::string& n : nn::model_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--model", o->model, "Model: " + names)->capture_default_str();
  cmd->add_option("--width-mult", o->width_mult, "Width multiplier of ResNets")->capture_default_str();
  cmd->add_option("--label-smoothing", o->label_smoothing, "Label smoothing of the CE loss")->capture_default_str();
  add_data_options(cmd, o->data);
  add_recipe_options(cmd, o->train);
  add_common_options(cmd, o->common, "runs/train");
  return [o, cmd] { return run_train(*cmd, *o); };
}

}  // namespace app
}  // namespace kdcu
