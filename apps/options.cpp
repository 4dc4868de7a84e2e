// The shared command-line options and their conversion to library configs.
#include "apps/options.h"

#include <cmath>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "nn/checkpoint.h"

namespace kdcu {
namespace app {

void add_common_options(CLI::App* cmd, CommonOptions& o, const std::string& default_out) {
  o.out = default_out;
  cmd->add_option("--device", o.device, "auto (CUDA when usable, else CPU), cpu, cuda or cuda:N")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of initialisation, shuffling, augmentation, dropout and subsets")
      ->capture_default_str();
  cmd->add_option("--out", o.out, "Run directory: weights, checkpoint, metrics, resolved config")
      ->capture_default_str();
  cmd->add_flag("--json", o.json, "Print the final result as one JSON object on stdout (human output on stderr)");
  // Read before parsing by apps/config_file.h (expand_config); registered here for --help.
  static std::string config_path;
  cmd->add_option("--config", config_path,
                  "Read options from a file of 'name = value' lines (long flag names; a run's config.toml); flags "
                  "given on the command line win");
}

Device resolve_device(const std::string& spec, std::string* note) {
  if (spec == "auto") {
    if (cuda::available()) return Device::cuda(0);
    if (note) *note = "no usable GPU (CUDA unavailable: " + cuda::availability().reason + "), running on the CPU";
    return Device::cpu();
  }
  const Device d = Device::parse(spec);
  if (d.is_cuda()) cuda::require_device(d);
  return d;
}

void add_data_options(CLI::App* cmd, DataOptions& o) {
  std::string names;
  for (const std::string& n : datasets::dataset_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--dataset", o.dataset, "Data set: " + names)->capture_default_str();
  cmd->add_option("--data", o.data_dir, "Directory to read the data set from (default: its usual place)");
  cmd->add_option("--train-subset", o.train_subset, "Use only this many training samples, drawn by --seed (0 = all)")
      ->capture_default_str();
  cmd->add_option("--test-subset", o.test_subset, "Use only this many test samples, drawn by --seed (0 = all)")
      ->capture_default_str();
}

std::string LoadedData::describe() const {
  const datasets::Dataset& t = named.train;
  return cat(named.name, ": ", t.size(), " train / ", named.test.size(), " test, ", t.channels, "x", t.height, "x",
             t.width, ", ", t.num_classes, " classes (", named.dir, ")");
}

namespace {

datasets::Dataset take_subset(const datasets::Dataset& d, std::int64_t n, std::uint64_t seed, const char* flag) {
  require<ValueError>(n >= 0, flag, " must be >= 0, found ", n);
  if (n == 0 || n >= d.size()) return d;
  require<ValueError>(n >= 2, flag, " must be 0 or >= 2, found ", n);
  // The validation part of a seeded split is a reproducible random subset of n samples.
  return datasets::split_train_val(d, n, seed).val;
}

}  // namespace

LoadedData load_data(const DataOptions& o, std::uint64_t seed) {
  LoadedData out;
  out.named = datasets::load_dataset(o.dataset, o.data_dir);
  out.norm = out.named.normalization();
  out.named.train = take_subset(out.named.train, o.train_subset, seed, "--train-subset");
  out.named.test = take_subset(out.named.test, o.test_subset, seed + 1, "--test-subset");
  return out;
}

nn::ModelConfig model_config_for(const datasets::Dataset& train, std::int64_t width_mult) {
  require<ValueError>(train.height == train.width, "the data set ", train.name, " has ", train.height, "x", train.width,
                      " images; kdcu's models take square images");
  nn::ModelConfig c;
  c.in_channels = train.channels;
  c.image_size = train.height;
  c.num_classes = train.num_classes;
  c.width_mult = width_mult;
  return c;
}

void add_recipe_options(CLI::App* cmd, distill::TrainConfig& c, const std::string& prefix, const std::string& what) {
  const auto name = [&](const char* n) { return "--" + prefix + n; };
  const std::string of = what.empty() ? "" : " (" + what + ")";
  cmd->add_option(name("epochs"), c.epochs, "Training epochs" + of)->capture_default_str();
  cmd->add_option(name("batch-size"), c.batch_size, "Mini-batch size" + of)->capture_default_str();
  cmd->add_option(name("optimizer"), c.optim.optimizer, "sgd, adam or adamw" + of)->capture_default_str();
  cmd->add_option(name("lr"), c.optim.lr, "Peak learning rate" + of)->capture_default_str();
  cmd->add_option(name("momentum"), c.optim.momentum, "SGD momentum" + of)->capture_default_str();
  cmd->add_flag("!" + name("no-nesterov"), c.optim.nesterov, "Plain momentum instead of Nesterov's" + of);
  cmd->add_option(name("weight-decay"), c.optim.weight_decay,
                  "Weight decay (L2 for sgd/adam, decoupled for adamw)" + of)
      ->capture_default_str();
  cmd->add_option(name("schedule"), c.optim.schedule, "LR schedule: constant, cosine, step, multistep, onecycle" + of)
      ->capture_default_str();
  cmd->add_option(name("min-lr"), c.optim.min_lr, "Final lr of the cosine schedule" + of)->capture_default_str();
  cmd->add_option(name("milestones"), c.optim.milestones,
                  "Epochs where multistep multiplies the lr by --step-gamma" + of);
  cmd->add_option(name("step-gamma"), c.optim.step_gamma, "LR factor of step / multistep" + of)->capture_default_str();
  cmd->add_option(name("warmup-epochs"), c.optim.warmup_epochs, "Linear LR warm-up from 0.1 lr" + of)
      ->capture_default_str();
  cmd->add_option(name("clip-grad-norm"), c.optim.clip_grad_norm, "Clip the gradients' global L2 norm (0 = off)" + of)
      ->capture_default_str();
  cmd->add_option(name("crop-padding"), c.augmentation.crop_padding, "Random-crop augmentation padding (0 = off)" + of)
      ->capture_default_str();
  cmd->add_flag(name("flip"), c.augmentation.horizontal_flip, "Random horizontal flips" + of);
  cmd->add_option_function<std::string>(
         name("data-residency"), [&c](const std::string& s) { c.data_residency = distill::parse_residency(s); },
         "Training data: auto (kept on a CUDA device when there is no augmentation and it fits), host (the "
         "DataLoader) or device" +
             of)
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->default_str("auto");
  if (prefix.empty()) {
    cmd->add_option("--eval-batch-size", c.eval_batch_size, "Batch size of evaluation")->capture_default_str();
    cmd->add_flag("--resume", c.resume, "Continue from <out>/checkpoint.safetensors when it exists");
  }
}

void add_loss_options(CLI::App* cmd, LossFlags& o) {
  cmd->add_option("--alpha", o.alpha,
                  "Weight of the KD term: loss = alpha*KD + (1-alpha)*CE (alpha weights the soft term, as in "
                  "Hinton et al.; default 0.9)");
  cmd->add_option("--kd-weight", o.kd_weight, "Weight of the KD term, independent of --ce-weight (instead of --alpha)");
  cmd->add_option("--ce-weight", o.ce_weight, "Weight of the hard-label CE term (instead of --alpha)");
  cmd->add_option("--temperature,-T", o.temperature, "KD temperature T (the start value with --temperature-end)")
      ->capture_default_str();
  cmd->add_option("--temperature-end", o.temperature_end, "Final temperature: T moves from -T to this over training");
  cmd->add_option("--temperature-schedule", o.temperature_schedule, "linear or cosine (with --temperature-end)")
      ->capture_default_str();
  cmd->add_option("--anneal-teacher", o.anneal, "Teacher annealing: the KD weight decays to 0, linear or cosine");
  cmd->add_option("--mse-weight", o.mse_weight, "Weight of logit matching by MSE (0 = off)")->capture_default_str();
  cmd->add_option("--label-smoothing", o.label_smoothing, "Label smoothing of the CE term")->capture_default_str();
  cmd->add_option("--confidence-gamma", o.confidence_gamma,
                  "Confidence-weighted KD: each row's KD term times (1 - max p_teacher)^gamma (0 = off)")
      ->capture_default_str();
  cmd->add_option("--ensemble", o.ensemble,
                  "Several teachers: average (KD to the weighted mean of their softened outputs) or sum (a KD term "
                  "per teacher)")
      ->capture_default_str();
  cmd->add_option("--teacher-weights", o.teacher_weights, "Weights of the teachers (default equal)")->delimiter(',');
  cmd->add_option("--feature-loss", o.feature_losses,
                  "Feature/relation term KIND[@STUDENT_FEATURE[=TEACHER_FEATURE]][:WEIGHT], KIND one of hint, at, "
                  "rkd_distance, rkd_angle, pkt, sp (repeatable); see `kdcu summary MODEL` for feature names");
}

distill::LossConfig LossFlags::to_config(double default_alpha) const {
  distill::LossConfig c;
  const bool weights = kd_weight >= 0.0 || ce_weight >= 0.0;
  require<ValueError>(
      !(alpha >= 0.0 && weights),
      "give either --alpha or --kd-weight/--ce-weight, not both (alpha sets kd = alpha, ce = 1 - alpha)");
  if (weights) {
    c.kd_weight = kd_weight >= 0.0 ? kd_weight : 0.0;
    c.ce_weight = ce_weight >= 0.0 ? ce_weight : 0.0;
  } else {
    const double a = alpha >= 0.0 ? alpha : default_alpha;
    require<ValueError>(a >= 0.0 && a <= 1.0, "--alpha must be in [0, 1], found ", a);
    c.kd_weight = a;
    c.ce_weight = 1.0 - a;
  }
  c.temperature.t0 = temperature;
  c.temperature.t1 = temperature_end >= 0.0 ? temperature_end : temperature;
  c.temperature.shape =
      temperature_end >= 0.0 ? distill::parse_schedule_shape(temperature_schedule) : distill::ScheduleShape::Constant;
  if (!anneal.empty()) {
    c.annealing.enabled = true;
    c.annealing.shape = distill::parse_schedule_shape(anneal);
  }
  c.mse_weight = mse_weight;
  c.label_smoothing = label_smoothing;
  c.confidence_gamma = confidence_gamma;
  c.ensemble = distill::parse_ensemble_mode(ensemble);
  c.teacher_weights = teacher_weights;
  for (const std::string& f : feature_losses) c.features.push_back(distill::FeatureLossSpec::parse(f));
  return c;
}

distill::LossConfig plain_loss(double label_smoothing) {
  distill::LossConfig c;
  c.kd_weight = 0.0;
  c.ce_weight = 1.0;
  c.label_smoothing = label_smoothing;
  return c;
}

nn::ModelPtr load_model(const std::string& path, const std::string& model, const nn::ModelConfig& cfg) {
  const SafetensorsFile f = load_safetensors(path);
  std::string stored;
  for (const char* key : {"model", "extra.model"}) {
    const auto it = f.metadata.find(key);
    if (it != f.metadata.end()) stored = it->second;
  }
  const std::string name = model.empty() ? stored : model;
  require<ValueError>(!name.empty(), path,
                      " does not say which model it holds (no 'model' metadata, e.g. a file saved by PyTorch); "
                      "name it with --model (or --teacher-model)");
  require<ValueError>(stored.empty() || stored == name, path, " holds a ", stored, ", not a ", name);
  Generator gen(0);
  nn::ModelPtr m = nn::create_model(name, cfg, gen);
  nn::load_weights(path, *m);
  return m;
}

}  // namespace app
}  // namespace kdcu
