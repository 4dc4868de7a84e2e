// A training stage: loss + loop + measurements.
#include "apps/stage.h"

#include "apps/progress.h"
#include "apps/run_info.h"
#include "distill/history.h"
#include "nn/summary.h"

namespace kdcu {
namespace app {

ModelFacts model_facts(nn::Model& m, const Device& device, bool measure_latency) {
  ModelFacts f;
  f.model = m.name();
  const nn::SummaryTotals t = nn::summarize(m);
  f.params = t.parameters;
  f.flops = t.flops;
  if (measure_latency) {
    f.latency_b1 = distill::measure_latency(m, 1, device);
    f.latency_b256 = distill::measure_latency(m, 256, device);
  }
  return f;
}

nlohmann::json to_json(const ModelFacts& f) {
  nlohmann::json j = {{"model", f.model}, {"params", f.params}, {"flops", f.flops}};
  if (f.latency_b1.runs > 0) {
    j["latency_ms_batch1"] = f.latency_b1.ms_per_batch;
    j["latency_ms_per_image_batch256"] = f.latency_b256.ms_per_image;
  }
  return j;
}

StageResult run_stage(const std::string& name, nn::ModelPtr student, const std::vector<nn::Model*>& teachers,
                      const distill::LossConfig& loss_config, const distill::TrainConfig& cfg, const LoadedData& data,
                      std::uint64_t seed, bool measure_latency) {
  StageResult r;
  r.name = name;
  r.model = student;
  Generator gen(seed ^ 0x5eedull);  // the loss's own learned parts (hint regressors)
  distill::DistillLoss loss(loss_config, *student, teachers, gen);
  r.loss = loss_config.describe();
  r.recipe = cat(cfg.epochs, " epochs of batch ", cfg.batch_size, ", ", cfg.optim.describe(),
                 cfg.augmentation.enabled() ? cat(", crop padding ", cfg.augmentation.crop_padding,
                                                  cfg.augmentation.horizontal_flip ? ", flips" : "")
                                            : std::string(", no augmentation"));
  ProgressPrinter progress(name);
  progress.on_message(cat(student->name(), ", ", student->num_parameters(), " parameters; loss ", r.loss, "; ",
                          r.recipe, "; on ", device_description(cfg.device)));
  r.train = distill::fit(*student, teachers, loss, data.named.train, data.named.test, data.norm, cfg, &progress);
  r.facts = model_facts(*student, cfg.device, measure_latency);
  progress.on_message(cat("test accuracy ", distill::percent(r.train.final_eval.accuracy), " after ",
                          r.train.history.size(), " epochs (best ", distill::percent(r.train.best_accuracy),
                          " at epoch ", r.train.best_epoch, "), ", clock_text(r.train.train_seconds), " training"));
  return r;
}

nlohmann::json to_json(const StageResult& s) {
  nlohmann::json j = to_json(s.facts);
  const distill::TrainResult& t = s.train;
  j["test_accuracy"] = t.final_eval.accuracy;
  j["test_loss"] = t.final_eval.loss;
  j["best_epoch"] = t.best_epoch;
  j["best_test_accuracy"] = t.best_accuracy;
  j["epochs"] = t.history.size();
  j["train_seconds"] = t.train_seconds;
  j["soft_label_seconds"] = t.cache_seconds;
  j["used_soft_label_cache"] = t.used_cache;
  j["images_per_second"] = t.history.empty() ? 0.0 : t.history.back().images_per_second;
  j["loss"] = s.loss;
  j["recipe"] = s.recipe;
  j["weights"] = t.last_path;
  j["best_weights"] = t.best_path;
  j["checkpoint"] = t.checkpoint_path;
  j["history"] = nlohmann::json::parse(distill::history_to_json(t.history).dump());
  return j;
}

}  // namespace app
}  // namespace kdcu
