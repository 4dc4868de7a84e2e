// `kdcu pipeline`: the main job. For each seed: train the teacher, train the student from scratch
// (the baseline) and distill the same student, from the same initialisation, with the same
// recipe; evaluate all three; write report.md + curves.svg and print the table.
#include <chrono>
#include <iostream>
#include <map>

#include "apps/build_info.h"
#include "apps/commands.h"
#include "apps/options.h"
#include "apps/progress.h"
#include "apps/report.h"
#include "apps/run_info.h"
#include "apps/stage.h"
#include "core/error.h"
#include "datasets/file_io.h"

namespace kdcu {
namespace app {
namespace {

struct PipelineOptions {
  CommonOptions common;
  DataOptions data;
  std::string teacher = "resnet20", student = "cnn_small";
  std::int64_t teacher_width_mult = 1;
  std::string preset = "default";
  int seeds = 1;
  bool no_latency = false;
  distill::TrainConfig teacher_train, student_train;
  LossFlags loss;
};

// Option values of each preset, applied to the options the user did not set (on the command line
// or in a config file). "default" fits a 2-core CPU in about 20 minutes; "full" is GPU-sized.
const std::map<std::string, std::map<std::string, std::string>>& presets() {
  // Measured on the 2-core CPU (2026-12-02): resnet20 trains at ~400 images/s, cnn_small at ~7000.
  // The students' warm-up and gradient clipping matter: T^2-scaled KD gradients are about T times
  // the CE ones while the student is still near uniform, and without both, KD at lr 0.05 (no BN in
  // cnn_small) could kill the student's ReLUs in the first steps (a 10% student). Both students
  // get the same recipe, so the comparison stays fair.
  static const std::map<std::string, std::map<std::string, std::string>> p = {
      {"quick",
       {{"--train-subset", "5000"},
        {"--test-subset", "2000"},
        {"--teacher-epochs", "1"},
        {"--teacher-lr", "0.05"},
        {"--epochs", "1"},
        {"--lr", "0.05"},
        {"--warmup-epochs", "0.5"},
        {"--clip-grad-norm", "5"}}},
      {"default",
       {{"--train-subset", "0"},
        {"--teacher-epochs", "4"},
        {"--teacher-lr", "0.1"},
        {"--epochs", "5"},
        {"--lr", "0.05"},
        {"--warmup-epochs", "1"},
        {"--clip-grad-norm", "5"}}},
      {"full",
       {{"--train-subset", "0"},
        {"--teacher-epochs", "30"},
        {"--teacher-lr", "0.1"},
        {"--teacher-warmup-epochs", "1"},
        {"--teacher-crop-padding", "2"},
        {"--teacher-flip", "true"},
        {"--epochs", "30"},
        {"--lr", "0.05"},
        {"--warmup-epochs", "1"},
        {"--clip-grad-norm", "5"}}},
  };
  return p;
}

void apply_preset(CLI::App& cmd, const std::string& name) {
  const auto it = presets().find(name);
  std::string names;
  for (const auto& [n, v] : presets()) names += (names.empty() ? "" : ", ") + n;
  require<ValueError>(it != presets().end(), "unknown --preset '", name, "' (expected ", names, ")");
  for (const auto& [flag, value] : it->second) {
    CLI::Option* opt = cmd.get_option(flag);
    if (opt->count() > 0) continue;  // the user's own value wins
    opt->run_callback_for_default();
    opt->default_val(value);
  }
}

RunSeries& series(ReportInput& in, const std::string& name) {
  return name == "teacher" ? in.teacher : name == "baseline" ? in.baseline : in.kd;
}

nlohmann::json series_json(const RunSeries& r) {
  nlohmann::json j = to_json(r.per_seed.front());
  j.erase("history");
  j["test_accuracy"] = r.mean_accuracy();
  j["test_accuracy_std"] = r.std_accuracy();
  j["train_seconds"] = r.mean_train_seconds();
  nlohmann::json per = nlohmann::json::array();
  for (const StageResult& s : r.per_seed)
    per.push_back({{"test_accuracy", s.train.final_eval.accuracy},
                   {"train_seconds", s.train.train_seconds},
                   {"weights", s.train.last_path}});
  j["per_seed"] = per;
  return j;
}

int run_pipeline(CLI::App& cmd, PipelineOptions& o) {
  apply_preset(cmd, o.preset);
  require<ValueError>(o.seeds >= 1 && o.seeds <= 100, "--seeds must be in [1, 100], found ", o.seeds);
  const int threads = apply_threads(o.common.threads);
  std::string note;
  const Device dev = resolve_device(o.common.device, &note);
  if (!note.empty()) std::cerr << "[pipeline] " << note << "\n";
  const distill::LossConfig kd_loss = o.loss.to_config();
  kd_loss.validate(1);
  o.teacher_train.optim.validate();
  o.student_train.optim.validate();
  ReportInput report;
  report.date = utc_now();
  report.commit = build_commit();
  report.device = device_description(dev);
  report.preset = o.preset;
  report.teacher.name = "teacher";
  report.baseline.name = "baseline";
  report.kd.name = "kd";
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < o.seeds; ++k) {
    const std::uint64_t seed = o.common.seed + static_cast<std::uint64_t>(k);
    report.seeds.push_back(seed);
    const std::string dir = o.seeds > 1 ? datasets::join_path(o.common.out, cat("seed", seed)) : o.common.out;
    const LoadedData data = load_data(o.data, seed);
    report.data = data.describe();
    std::cerr << "[pipeline] seed " << seed << " (" << k + 1 << "/" << o.seeds << "): " << data.describe() << "; "
              << device_description(dev) << (dev.is_cpu() ? std::string() : cat(", ", threads, " CPU threads")) << "\n";
    write_run_info(dir, cmd, dev, seed, {{"data", data.describe()}, {"preset", o.preset}});
    // Each run's directory records the pipeline's resolved options and which run it is.
    const auto configure = [&](distill::TrainConfig c, const char* run, const std::string& model,
                               const distill::LossConfig& loss) {
      c.device = dev;
      c.seed = seed;
      c.out_dir = datasets::join_path(dir, run);
      write_run_info(c.out_dir, cmd, dev, seed,
                     {{"data", data.describe()},
                      {"preset", o.preset},
                      {"run", run},
                      {"model", model},
                      {"loss", loss.describe()},
                      {"recipe", c.optim.describe()},
                      {"epochs", c.epochs}});
      return c;
    };
    Generator tgen(seed);
    nn::ModelPtr teacher = nn::create_model(o.teacher, model_config_for(data.named.train, o.teacher_width_mult), tgen);
    StageResult t =
        run_stage("teacher", teacher, {}, plain_loss(), configure(o.teacher_train, "teacher", o.teacher, plain_loss()),
                  data, seed, !o.no_latency);
    // Both students start from the same weights: one generator seed, two draws of the same model.
    const nn::ModelConfig scfg = model_config_for(data.named.train);
    Generator bgen(seed + 1000), kgen(seed + 1000);
    StageResult b =
        run_stage("baseline", nn::create_model(o.student, scfg, bgen), {}, plain_loss(),
                  configure(o.student_train, "baseline", o.student, plain_loss()), data, seed, !o.no_latency);
    StageResult d = run_stage("kd", nn::create_model(o.student, scfg, kgen), {teacher.get()}, kd_loss,
                              configure(o.student_train, "kd", o.student, kd_loss), data, seed, !o.no_latency);
    std::cerr << "[pipeline] seed " << seed << ": teacher " << distill::percent(t.train.final_eval.accuracy)
              << ", baseline " << distill::percent(b.train.final_eval.accuracy) << ", kd "
              << distill::percent(d.train.final_eval.accuracy) << "\n";
    for (StageResult* s : {&t, &b, &d}) series(report, s->name).per_seed.push_back(std::move(*s));
  }
  const std::string text = write_report(o.common.out, report);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "\n"
            << text << "\n[pipeline] report: " << datasets::join_path(o.common.out, "report.md")
            << ", curves: " << datasets::join_path(o.common.out, "curves.svg") << " (" << clock_text(seconds)
            << " in all)\n";
  nlohmann::json j = {{"command", "pipeline"},
                      {"teacher", series_json(report.teacher)},
                      {"baseline", series_json(report.baseline)},
                      {"kd", series_json(report.kd)},
                      {"kd_gain_points", (report.kd.mean_accuracy() - report.baseline.mean_accuracy()) * 100.0},
                      {"seeds", report.seeds},
                      {"preset", o.preset},
                      {"device", dev.str()},
                      {"report", datasets::join_path(o.common.out, "report.md")},
                      {"plot", datasets::join_path(o.common.out, "curves.svg")},
                      {"seconds", seconds}};
  const std::string summary = j.dump(2) + "\n";
  datasets::write_file_atomic(datasets::join_path(o.common.out, "summary.json"), summary.data(), summary.size());
  if (o.common.json) std::cout << j.dump() << "\n";
  return 0;
}

}  // namespace

Runner add_pipeline_command(CLI::App& app) {
  auto o = std::make_shared<PipelineOptions>();
  auto* cmd = app.add_subcommand(
      "pipeline",
      "The main job: train a teacher, a baseline student and a distilled student (same recipe and seed), evaluate "
      "all three, write report.md and curves.svg. KD loss = alpha*KD + (1-alpha)*CE: alpha weights the soft term");
  cmd->add_option("--teacher", o->teacher, "Teacher model")->capture_default_str();
  cmd->add_option("--teacher-width-mult", o->teacher_width_mult, "Width multiplier of a ResNet teacher")
      ->capture_default_str();
  cmd->add_option("--student", o->student, "Student model")->capture_default_str();
  cmd->add_option("--preset", o->preset,
                  "quick (5000 images, 1 epoch each: a smoke test), default (about 20 minutes on a 2-core CPU), "
                  "full (GPU-sized); flags you give override it")
      ->capture_default_str();
  cmd->add_option("--seeds", o->seeds, "Repeat with seeds --seed, --seed+1, ...; the report gives mean and spread")
      ->capture_default_str();
  cmd->add_flag("--no-latency", o->no_latency, "Skip the latency measurements");
  add_data_options(cmd, o->data);
  add_recipe_options(cmd, o->teacher_train, "teacher-", "teacher");
  add_recipe_options(cmd, o->student_train, "", "both students");
  add_loss_options(cmd, o->loss);
  add_common_options(cmd, o->common, "runs/pipeline");
  return [o, cmd] { return run_pipeline(*cmd, *o); };
}

}  // namespace app
}  // namespace kdcu
