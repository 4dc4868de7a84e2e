// `kdcu distill`: train a student from one or more teacher checkpoints with any of the
// distillation losses (KD, MSE on logits, feature and relation terms), soft labels cached when
// the teachers' outputs cannot change between epochs.
#include <iostream>

#include "apps/commands.h"
#include "apps/options.h"
#include "apps/run_info.h"
#include "apps/stage.h"
#include "core/error.h"

namespace kdcu {
namespace app {
namespace {

struct DistillOptions {
  CommonOptions common;
  DataOptions data;
  std::string student = "cnn_small";
  std::int64_t width_mult = 1;
  std::vector<std::string> teachers, teacher_models;
  std::int64_t teacher_width_mult = 1;
  LossFlags loss;
  bool no_cache = false;
  distill::TrainConfig train;
};

int run_distill(const CLI::App& cmd, DistillOptions& o) {
  const int threads = apply_threads(o.common.threads);
  require<ValueError>(!o.teachers.empty(), "distill needs at least one --teacher FILE.safetensors");
  require<ValueError>(o.teacher_models.size() <= 1 || o.teacher_models.size() == o.teachers.size(),
                      "--teacher-model: ", o.teacher_models.size(), " given for ", o.teachers.size(),
                      " teachers (give one for all, or one each)");
  const distill::LossConfig loss = o.loss.to_config();  // bad loss flags fail before anything is loaded
  loss.validate(o.teachers.size());
  o.train.optim.validate();
  std::string note;
  o.train.device = resolve_device(o.common.device, &note);
  if (!note.empty()) std::cerr << "[distill] " << note << "\n";
  const LoadedData data = load_data(o.data, o.common.seed);
  std::cerr << "[distill] " << data.describe() << "; " << threads << " CPU threads\n";
  std::vector<nn::ModelPtr> owned;
  std::vector<nn::Model*> teachers;
  const nn::ModelConfig tcfg = model_config_for(data.named.train, o.teacher_width_mult);
  for (size_t i = 0; i < o.teachers.size(); ++i) {
    const std::string name = o.teacher_models.empty()       ? ""
                             : o.teacher_models.size() == 1 ? o.teacher_models[0]
                                                            : o.teacher_models[i];
    owned.push_back(load_model(o.teachers[i], name, tcfg));
    teachers.push_back(owned.back().get());
    std::cerr << "[distill] teacher " << i + 1 << ": " << owned.back()->name() << " from " << o.teachers[i] << "\n";
  }
  Generator gen(o.common.seed);
  nn::ModelPtr student = nn::create_model(o.student, model_config_for(data.named.train, o.width_mult), gen);
  o.train.seed = o.common.seed;
  o.train.out_dir = o.common.out;
  o.train.soft_label_cache = !o.no_cache;
  write_run_info(o.common.out, cmd, o.train.device, o.common.seed,
                 {{"data", data.describe()}, {"teachers", o.teachers}, {"loss", loss.describe()}});
  const StageResult r = run_stage("distill", student, teachers, loss, o.train, data, o.common.seed);
  std::cerr << "[distill] weights: " << r.train.last_path << " (best: " << r.train.best_path << ")\n";
  if (o.common.json) {
    nlohmann::json j = to_json(r);
    j["command"] = "distill";
    j["teachers"] = o.teachers;
    j["out"] = o.common.out;
    j["device"] = o.train.device.str();
    j["seed"] = o.common.seed;
    std::cout << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

Runner add_distill_command(CLI::App& app) {
  auto o = std::make_shared<DistillOptions>();
  auto* cmd = app.add_subcommand(
      "distill",
      "Train a student from teacher checkpoints. loss = alpha*KD + (1-alpha)*CE (+ optional terms); alpha weights "
      "the soft (KD) term");
  cmd->add_option("--student", o->student, "Student model (any registered name)")->capture_default_str();
  cmd->add_option("--width-mult", o->width_mult, "Width multiplier of a ResNet student")->capture_default_str();
  cmd->add_option("--teacher", o->teachers, "Teacher weights or checkpoint (.safetensors; repeatable)")->required();
  cmd->add_option("--teacher-model", o->teacher_models,
                  "Teacher model name (default: from the file; needed for files saved by PyTorch)");
  cmd->add_option("--teacher-width-mult", o->teacher_width_mult, "Width multiplier of ResNet teachers")
      ->capture_default_str();
  cmd->add_flag("--teacher-bn-train", o->train.teacher_bn_train,
                "Teachers' BatchNorm in train mode (batch statistics) instead of eval mode");
  cmd->add_flag("--no-cache", o->no_cache, "Run the teachers every step even where their logits could be cached");
  cmd->add_option("--cache-dir", o->train.cache_dir, "Where soft labels are cached (default <out>/cache)");
  add_loss_options(cmd, o->loss);
  add_data_options(cmd, o->data);
  add_recipe_options(cmd, o->train);
  add_common_options(cmd, o->common, "runs/distill");
  return [o, cmd] { return run_distill(*cmd, *o); };
}

}  // namespace app
}  // namespace kdcu
