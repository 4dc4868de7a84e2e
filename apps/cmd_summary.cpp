// `kdcu summary MODEL`: the per-layer table (output shapes, parameters, FLOPs per image) and the
// named features a feature loss can use.
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "distill/distill_loss.h"
#include "nn/summary.h"

namespace kdcu {
namespace app {
namespace {

struct SummaryOptions {
  std::string model;
  nn::ModelConfig cfg;
  bool json = false;
};

int run_summary(const SummaryOptions& o) {
  Generator gen(0);
  nn::ModelPtr m = nn::create_model(o.model, o.cfg, gen);
  const nn::SummaryTotals t = nn::summarize(*m);
  std::cerr << nn::summary(*m);
  const auto features = distill::probe_feature_shapes(*m);
  std::cerr << "features (for --feature-loss KIND@STUDENT=TEACHER):\n";
  nlohmann::json fj = nlohmann::json::object();
  for (const auto& [name, shape] : features) {
    Shape per_image(shape.begin() + 1, shape.end());
    std::cerr << "  " << name << "  " << shape_str(per_image) << " per image\n";
    fj[name] = per_image;
  }
  if (o.json) {
    std::cout << nlohmann::json{{"command", "summary"},   {"model", o.model}, {"config", o.cfg.str()},
                                {"params", t.parameters}, {"flops", t.flops}, {"features", fj}}
                     .dump()
              << "\n";
  }
  return 0;
}

}  // namespace

Runner add_summary_command(CLI::App& app) {
  auto o = std::make_shared<SummaryOptions>();
  auto* cmd = app.add_subcommand("summary", "Per-layer table of a model: output shapes, parameters, FLOPs; features");
  std::string names;
  for (const std::string& n : nn::model_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("model", o->model, "Model: " + names)->required();
  cmd->add_option("--in-channels", o->cfg.in_channels, "Input channels")->capture_default_str();
  cmd->add_option("--image-size", o->cfg.image_size, "Input height and width")->capture_default_str();
  cmd->add_option("--classes", o->cfg.num_classes, "Number of classes")->capture_default_str();
  cmd->add_option("--width-mult", o->cfg.width_mult, "Width multiplier of ResNets")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the totals as one JSON object on stdout");
  return [o] { return run_summary(*o); };
}

}  // namespace app
}  // namespace kdcu
