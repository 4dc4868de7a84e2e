// `kdcu eval`: a trained model on a data set's test split — accuracy, per-class accuracy,
// confusion matrix, latency per image at batch 1 and 256, parameters and FLOPs.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "apps/commands.h"
#include "apps/options.h"
#include "apps/run_info.h"
#include "apps/stage.h"
#include "core/error.h"
#include "distill/evaluate.h"
#include "nn/summary.h"

namespace kdcu {
namespace app {
namespace {

struct EvalOptions {
  CommonOptions common;
  DataOptions data;
  std::string model, weights;
  std::int64_t width_mult = 1;
  std::int64_t batch_size = 500;
  bool no_latency = false;
};

void print_confusion(const distill::EvalResult& r, const std::vector<std::string>& names) {
  const size_t k = r.confusion.size();
  std::fprintf(stderr, "confusion matrix (rows: true class, columns: predicted)\n%14s", "");
  for (size_t c = 0; c < k; ++c) std::fprintf(stderr, " %5zu", c);
  std::fprintf(stderr, "\n");
  for (size_t t = 0; t < k; ++t) {
    const std::string name = t < names.size() ? names[t] : std::to_string(t);
    std::fprintf(stderr, "%2zu %-11.11s", t, name.c_str());
    for (size_t c = 0; c < k; ++c) std::fprintf(stderr, " %5lld", static_cast<long long>(r.confusion[t][c]));
    std::fprintf(stderr, "   %s\n", distill::percent(r.per_class_accuracy[t]).c_str());
  }
}

int run_eval(EvalOptions& o) {
  apply_threads(o.common.threads);
  std::string note;
  const Device dev = resolve_device(o.common.device, &note);
  if (!note.empty()) std::cerr << "[eval] " << note << "\n";
  const LoadedData data = load_data(o.data, o.common.seed);
  std::cerr << "[eval] " << data.describe() << "; normalised with the training set's mean/std\n";
  nn::ModelPtr model = load_model(o.weights, o.model, model_config_for(data.named.train, o.width_mult));
  model->to(dev);
  const distill::EvalResult r = distill::evaluate(*model, data.named.test, data.norm, dev, o.batch_size);
  const ModelFacts facts = model_facts(*model, dev, !o.no_latency);
  std::fprintf(stderr,
               "[eval] %s (%s): test accuracy %s (%lld / %lld), mean CE %.4f, %lld parameters, %s FLOPs/image\n",
               model->name().c_str(), o.weights.c_str(), distill::percent(r.accuracy).c_str(),
               static_cast<long long>(r.correct), static_cast<long long>(r.samples), r.loss,
               static_cast<long long>(facts.params), nn::si_units(facts.flops).c_str());
  if (!o.no_latency) {
    std::fprintf(stderr, "[eval] latency on %s: %.3f ms per image at batch 1, %.4f ms per image at batch 256\n",
                 device_description(dev).c_str(), facts.latency_b1.ms_per_image, facts.latency_b256.ms_per_image);
  }
  print_confusion(r, data.named.class_names);
  if (o.common.json) {
    nlohmann::json j = to_json(facts);
    j["command"] = "eval";
    j["weights"] = o.weights;
    j["dataset"] = data.named.name;
    j["test_accuracy"] = r.accuracy;
    j["test_loss"] = r.loss;
    j["samples"] = r.samples;
    j["correct"] = r.correct;
    nlohmann::json per_class = nlohmann::json::array();
    for (double a : r.per_class_accuracy) per_class.push_back(std::isnan(a) ? nlohmann::json() : nlohmann::json(a));
    j["per_class_accuracy"] = per_class;
    j["class_names"] = data.named.class_names;
    j["confusion"] = r.confusion;
    j["device"] = dev.str();
    j["eval_seconds"] = r.seconds;
    std::cout << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

Runner add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Evaluate trained weights: accuracy, per-class accuracy, confusion, latency");
  cmd->add_option("--weights", o->weights, "Weights or checkpoint (.safetensors, saved by kdcu or by PyTorch)")
      ->required();
  cmd->add_option("--model", o->model, "Model name (default: from the file's metadata)");
  cmd->add_option("--width-mult", o->width_mult, "Width multiplier of a ResNet")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Evaluation batch size")->capture_default_str();
  cmd->add_flag("--no-latency", o->no_latency, "Skip the latency measurement");
  add_data_options(cmd, o->data);
  add_common_options(cmd, o->common, "");
  return [o] { return run_eval(*o); };
}

}  // namespace app
}  // namespace kdcu
