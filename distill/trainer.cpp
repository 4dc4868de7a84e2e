// The training loop. One optimizer step: schedule the lr, forward the student (with the features
// the loss reads), get the teachers' outputs (cache rows or an online no-grad forward), compute
// the loss, backward, clip, step. Each step's total loss goes into a small buffer on the model's
// device, which the host reads (one wait for the device) every kLossReadEvery steps on CUDA, every
// step on the CPU (where a read costs nothing), and at the end of the epoch: that read feeds the
// NaN stop and the progress line. On CUDA the CPU can so run ahead of the GPU, and a NaN loss runs
// at most kLossReadEvery - 1 more steps before the stop, which names the first NaN step. The
// per-term sums stay on the device until the epoch ends.
#include "distill/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "datasets/file_io.h"
#include "datasets/loader.h"
#include "distill/history.h"
#include "distill/resident_data.h"
#include "distill/soft_label_cache.h"
#include "nn/checkpoint.h"
#include "nn/clip.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace kdcu {
namespace distill {
namespace {

// Steps between two host reads of the loss on a CUDA device.
constexpr std::int64_t kLossReadEvery = 16;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Teacher BatchNorm layers in train mode, everything else (dropout) in eval mode.
void set_teacher_mode(nn::Model& teacher, bool bn_train) {
  teacher.eval();
  if (!bn_train) return;
  for (const auto& [name, m] : teacher.named_modules())
    if (m->type_name().rfind("BatchNorm", 0) == 0) m->train(true);
}

// Runs `model` on x, returning logits and (when `names` is not empty) those features.
ModelOutputs run_model(nn::Model& model, const Tensor& x, const std::vector<std::string>& names) {
  ModelOutputs out;
  if (names.empty()) {
    out.logits = model(x);
    return out;
  }
  nn::NamedTensors all;
  out.logits = model.forward_features(x, &all);
  for (auto& [n, t] : all)
    for (const std::string& want : names)
      if (n == want) {
        out.features.emplace_back(n, t);
        break;
      }
  return out;
}

std::string recipe_text(const nn::Model& student, const DistillLoss& loss, const TrainConfig& c, std::size_t teachers) {
  return cat("student=", student.name(), "(", student.config().str(), ") teachers=", teachers,
             " loss=", loss.config().describe(), " epochs=", c.epochs, " batch=", c.batch_size,
             " optim=", c.optim.describe(), " seed=", c.seed, " crop=", c.augmentation.crop_padding,
             " flip=", c.augmentation.horizontal_flip ? 1 : 0, " teacher_bn_train=", c.teacher_bn_train ? 1 : 0);
}

// The non-finite term of a step whose total was not finite, for the error message.
// How many of the (prediction, label) pairs agree: one copy to the host per step's pair.
double count_correct(const std::vector<std::pair<Tensor, Tensor>>& predictions) {
  std::int64_t correct = 0;
  for (const auto& [pred, labels] : predictions) {
    const std::vector<std::int64_t> p = pred.to_vector<std::int64_t>(), y = labels.to_vector<std::int64_t>();
    for (size_t i = 0; i < p.size(); ++i) correct += p[i] == y[i];
  }
  return static_cast<double>(correct);
}

std::string describe_terms(const DistillLoss::Result& r) {
  std::string s;
  for (const auto& [n, t] : r.terms) s += cat(s.empty() ? "" : ", ", n, " = ", t.item<double>());
  return s;
}

}  // namespace

void TrainConfig::validate() const {
  require<ValueError>(epochs >= 1, "epochs must be >= 1, found ", epochs);
  require<ValueError>(batch_size >= 1, "batch size must be >= 1, found ", batch_size);
  require<ValueError>(eval_batch_size >= 1, "evaluation batch size must be >= 1, found ", eval_batch_size);
  require<ValueError>(prefetch >= 0, "prefetch must be >= 0, found ", prefetch);
  optim.validate();
}

TrainResult fit(nn::Model& student, const std::vector<nn::Model*>& teachers, DistillLoss& loss,
                const datasets::Dataset& train, const datasets::Dataset& eval, const datasets::Normalization& norm,
                const TrainConfig& cfg, TrainObserver* observer) {
  cfg.validate();
  TrainObserver quiet;
  TrainObserver& obs = observer ? *observer : quiet;
  require<ValueError>(train.size() >= 2, "fit: the training set ", train.name, " has ", train.size(),
                      " samples; at least 2 are needed");
  require<ValueError>(!loss.config().uses_teacher() || !teachers.empty(), "fit: the loss reads a teacher; none given");
  const Device dev = cfg.device;
  student.to(dev);
  loss.to(dev);
  for (nn::Model* t : teachers) {
    t->to(dev);
    set_teacher_mode(*t, cfg.teacher_bn_train);
  }
  // A bad label that an earlier CUDA loss call saw and nobody checked would be blamed on this run's
  // first NaN; say so now, and start with a clear record (one wait for the device per run).
  try {
    ops::check_deferred_label_errors(dev);
  } catch (const ValueError& e) {
    throw ValueError(cat("fit: before this run, a CUDA loss call on ", dev.str(),
                         " saw a bad label that was never checked (ops::check_deferred_label_errors): ", e.what()));
  }
  // Dropout draws from a generator of the run's seed, saved in the checkpoint.
  auto rng = std::make_shared<Generator>(cfg.seed);
  if (student.generator()) student.set_generator(rng);

  TrainResult result;
  const bool write = !cfg.out_dir.empty();
  if (write) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.out_dir, ec);
    require<IoError>(!ec, "cannot create the output directory ", cfg.out_dir, ": ", ec.message());
    result.best_path = datasets::join_path(cfg.out_dir, "best.safetensors");
    result.last_path = datasets::join_path(cfg.out_dir, "last.safetensors");
    result.checkpoint_path = datasets::join_path(cfg.out_dir, "checkpoint.safetensors");
  }

  // Soft labels: only when the teachers' logits are a fixed function of the sample.
  const bool cacheable = cfg.soft_label_cache && !teachers.empty() && loss.config().uses_teacher() &&
                         !loss.needs_teacher_features() && !cfg.augmentation.enabled() && !cfg.teacher_bn_train;
  std::vector<Tensor> soft;
  if (cacheable) {
    const auto t0 = Clock::now();
    const std::string dir = !cfg.cache_dir.empty() ? cfg.cache_dir
                            : write                ? datasets::join_path(cfg.out_dir, "cache")
                                                   : "";
    for (std::size_t k = 0; k < teachers.size(); ++k) {
      if (dir.empty()) {
        soft.push_back(predict_logits(*teachers[k], train, norm, dev, cfg.eval_batch_size));
        continue;
      }
      const std::string path = datasets::join_path(
          dir,
          cat("soft-labels-", k, "-", teachers[k]->name().empty() ? "model" : teachers[k]->name(), ".safetensors"));
      SoftLabels s = load_or_build_soft_labels(path, *teachers[k], train, norm, dev, cfg.eval_batch_size);
      obs.on_message(
          s.built ? cat("soft labels of teacher ", k + 1, ": built in ", s.seconds, " s (", s.why, ") -> ", s.path)
                  : cat("soft labels of teacher ", k + 1, ": read from ", s.path));
      soft.push_back(s.logits);
    }
    result.cache_seconds = seconds_since(t0);
    result.used_cache = true;
  } else if (!teachers.empty() && loss.config().uses_teacher()) {
    obs.on_message(cat("teachers run online every step (",
                       loss.needs_teacher_features() ? "feature terms"
                       : cfg.augmentation.enabled()  ? "augmentation"
                       : cfg.teacher_bn_train        ? "teacher BN in train mode"
                                                     : "cache off",
                       ")"));
  }

  datasets::LoaderOptions lo;
  lo.batch_size = cfg.batch_size;
  lo.shuffle = true;
  lo.drop_last = train.size() % cfg.batch_size == 1;  // BatchNorm cannot train on a batch of one
  lo.seed = cfg.seed;
  lo.normalization = norm;
  lo.augmentation = cfg.augmentation;
  lo.prefetch = cfg.prefetch;
  lo.device = dev;
  // Host loader or the whole set resident on the device (resident_data.h); either way the
  // soft-label rows of each batch arrive in Batch::extras, looked up by the samples' indices.
  std::shared_ptr<const datasets::Dataset> train_view(&train, [](const datasets::Dataset*) {});
  TrainBatches loader(train_view, lo, cfg.data_residency, soft);
  if (loader.resident() || cfg.data_residency != DataResidency::Auto || dev.is_cuda())
    obs.on_message(cat("training data: ", loader.resident() ? "resident on " + dev.str() : std::string("host loader"),
                       " (", loader.decision().why, ")"));
  const std::int64_t steps_per_epoch = loader.batches_per_epoch();
  const std::int64_t total_steps = steps_per_epoch * cfg.epochs;

  nn::NamedTensors params = student.named_parameters();
  for (auto& p : loss.named_parameters()) params.push_back(p);
  auto optimizer = make_optimizer(cfg.optim, params);
  const nn::LrSchedulePtr schedule = make_schedule(cfg.optim, cfg.epochs, steps_per_epoch);
  const std::string recipe = recipe_text(student, loss, cfg, teachers.size());

  std::int64_t first_epoch = 0;
  if (cfg.resume && write && std::filesystem::exists(result.checkpoint_path)) {
    nn::TrainingState st = nn::load_checkpoint(result.checkpoint_path, student, optimizer.get());
    const auto it = st.extra.find("recipe");
    require<ValueError>(it != st.extra.end() && it->second == recipe, "resume: ", result.checkpoint_path,
                        " was made by another run; its recipe is {",
                        it == st.extra.end() ? std::string("none") : it->second, "}, this run's is {", recipe,
                        "}. Use another --out directory or drop --resume");
    loss.load_state_dict(st.extra_tensors);
    rng->set_state(st.rng.seed(), st.rng.offset());
    result.history = history_from_json(nlohmann::ordered_json::parse(st.extra.at("history")));
    first_epoch = st.epoch;
    result.resumed_from_epoch = st.epoch;
    obs.on_message(cat("resumed from ", result.checkpoint_path, " after epoch ", st.epoch));
  }
  for (const EpochRecord& r : result.history) {
    result.train_seconds += r.train_seconds;
    if (r.eval_accuracy > result.best_accuracy || result.best_epoch == 0) {
      result.best_accuracy = r.eval_accuracy;
      result.best_epoch = r.epoch;
    }
  }

  // The features each model must return for the loss's terms (none: logits only).
  std::vector<std::string> s_features;
  std::vector<std::vector<std::string>> t_features(teachers.size());
  for (const FeatureLossSpec& f : loss.resolved_features()) {
    s_features.push_back(f.student_feature);
    t_features[f.teacher].push_back(f.teacher_feature);
  }

  for (std::int64_t epoch = first_epoch; epoch < cfg.epochs; ++epoch) {
    student.train();
    loss.train(true);
    loader.start_epoch(epoch);
    const auto t0 = Clock::now();
    std::vector<Tensor> term_sums;
    std::vector<std::pair<Tensor, Tensor>> predictions;  // (argmax of the student's logits, labels) per step
    double loss_sum = 0.0;
    std::int64_t seen = 0, step = 0, seen_read = 0;
    DistillLoss::Result last;
    // Totals of the steps not read yet (CUDA only): slot k holds step first_unread + k; their batch
    // sizes beside them.
    const std::int64_t read_every = dev.is_cuda() ? kLossReadEvery : 1;
    Tensor unread;
    std::vector<std::int64_t> unread_sizes;
    std::int64_t first_unread = 1;
    // Reads the unread totals (one copy), adds them to the epoch's sum in step order (so the sum has
    // the same bits whatever the cadence) and stops the run at the first one that is not finite.
    const auto read_losses = [&] {
      if (unread_sizes.empty()) return;
      // Every step (the CPU): the value itself, no buffer; else the buffer's filled slots in one copy.
      const std::vector<double> values =
          read_every == 1
              ? std::vector<double>{last.total.item<double>()}
              : unread.slice(0, static_cast<std::int64_t>(unread_sizes.size())).to(Device::cpu()).to(DType::F64).to_vector<double>();
      for (std::size_t k = 0; k < values.size(); ++k) {
        const double value = values[k];
        const std::int64_t at = first_unread + static_cast<std::int64_t>(k);
        if (!std::isfinite(value)) {
          // On CUDA a bad label shows up here as a NaN row; the device's record of it is the clearer error.
          ops::check_deferred_label_errors(last.total.device());
          std::string where =
              result.history.empty() ? std::string("no epoch has completed, so nothing was saved")
              : write ? cat("the files of epoch ", result.history.back().epoch, " in ", cfg.out_dir, " are kept")
                      : "nothing is written without an output directory";
          throw ValueError(cat("training stopped: the loss is ", value, " at epoch ", epoch + 1, ", step ", at, "/",
                               steps_per_epoch, " (terms", at == step ? "" : cat(" at step ", step), ": ",
                               describe_terms(last), "; lr ", optimizer->lr(),
                               "). Lower the learning rate or enable --clip-grad-norm; ", where));
        }
        loss_sum += value * static_cast<double>(unread_sizes[k]);
        seen_read += unread_sizes[k];
      }
      first_unread += static_cast<std::int64_t>(values.size());
      unread_sizes.clear();
    };
    datasets::Batch b;
    while (loader.next(b)) {
      const std::int64_t global = epoch * steps_per_epoch + step;
      nn::apply_schedule(*optimizer, *schedule, global);
      const double progress = static_cast<double>(global) / static_cast<double>(total_steps);
      const ModelOutputs s_out = run_model(student, as_model_input(student, b.images), s_features);
      std::vector<ModelOutputs> t_out(teachers.size());
      if (loss.config().uses_teacher()) {
        autograd::NoGradGuard no_grad;
        for (std::size_t k = 0; k < teachers.size(); ++k) {
          if (!soft.empty()) {
            t_out[k].logits =
                b.extras[k].dtype() == s_out.logits.dtype() ? b.extras[k] : b.extras[k].to(s_out.logits.dtype());
          } else {
            t_out[k] = run_model(*teachers[k], as_model_input(*teachers[k], b.images), t_features[k]);
          }
        }
      }
      last = loss.compute(s_out, t_out, b.labels, progress);
      // Kept on the device and counted at the end of the epoch: no extra wait per step.
      predictions.emplace_back(ops::argmax(s_out.logits.detach(), 1), b.labels);
      ++step;
      if (read_every > 1) {
        if (!unread.defined()) unread = zeros({read_every}, last.total.dtype(), last.total.device());
        copy_into(unread.slice(static_cast<std::int64_t>(unread_sizes.size()),
                               static_cast<std::int64_t>(unread_sizes.size()) + 1),
                  last.total.detach().reshape({1}));
      }
      unread_sizes.push_back(b.images.size(0));
      if (static_cast<std::int64_t>(unread_sizes.size()) == read_every || step == steps_per_epoch) read_losses();
      last.total.backward();
      if (cfg.optim.clip_grad_norm > 0.0) nn::clip_grad_norm(params, cfg.optim.clip_grad_norm);
      optimizer->step();
      optimizer->zero_grad();
      const std::int64_t n = b.images.size(0);
      seen += n;
      if (term_sums.empty()) term_sums.resize(last.terms.size());
      for (std::size_t i = 0; i < last.terms.size(); ++i) {
        const Tensor weighted = ops::mul(last.terms[i].second, static_cast<double>(n));
        term_sums[i] = term_sums[i].defined() ? ops::add(term_sums[i], weighted) : weighted;
      }
      StepProgress p;
      p.epoch = epoch + 1;
      p.epochs = cfg.epochs;
      p.step = step;
      p.steps = steps_per_epoch;
      p.loss = seen_read > 0 ? loss_sum / static_cast<double>(seen_read) : std::nan("");
      p.elapsed_seconds = seconds_since(t0);
      p.images_per_second = static_cast<double>(seen) / std::max(p.elapsed_seconds, 1e-9);
      const double per_step = p.elapsed_seconds / static_cast<double>(step);
      p.eta_seconds = per_step * static_cast<double>(steps_per_epoch - step);
      p.run_eta_seconds = p.eta_seconds + per_step * static_cast<double>(steps_per_epoch * (cfg.epochs - epoch - 1));
      obs.on_step(p);
    }
    read_losses();  // a loader that gave fewer batches than it announced
    EpochRecord r;
    r.epoch = epoch + 1;
    r.train_seconds = seconds_since(t0);
    r.lr = optimizer->lr();
    r.temperature = last.temperature;
    r.kd_weight = last.kd_weight;
    r.train_loss = loss_sum / static_cast<double>(seen);
    r.train_accuracy = count_correct(predictions) / static_cast<double>(seen);
    predictions.clear();
    for (std::size_t i = 0; i < term_sums.size(); ++i)
      r.train_terms.emplace_back(last.terms[i].first, term_sums[i].item<double>() / static_cast<double>(seen));
    r.images_per_second = static_cast<double>(seen) / std::max(r.train_seconds, 1e-9);
    result.final_eval = evaluate(student, eval, norm, dev, cfg.eval_batch_size);
    r.eval_loss = result.final_eval.loss;
    r.eval_accuracy = result.final_eval.accuracy;
    r.eval_seconds = result.final_eval.seconds;
    result.history.push_back(r);
    result.train_seconds += r.train_seconds;
    const bool best = result.best_epoch == 0 || r.eval_accuracy > result.best_accuracy;
    if (best) {
      result.best_accuracy = r.eval_accuracy;
      result.best_epoch = r.epoch;
    }
    if (write) {
      const std::map<std::string, std::string> meta{{"epoch", std::to_string(r.epoch)},
                                                    {"eval_accuracy", std::to_string(r.eval_accuracy)},
                                                    {"model", student.name()},
                                                    {"config", student.config().str()}};
      nn::save_weights(result.last_path, student, meta);
      if (best) nn::save_weights(result.best_path, student, meta);
      nn::TrainingState st;
      st.epoch = r.epoch;
      st.step = optimizer->steps();
      st.rng = *rng;
      st.extra = {{"recipe", recipe}, {"model", student.name()}, {"history", history_to_json(result.history).dump()}};
      st.extra_tensors = loss.state_dict();
      nn::save_checkpoint(result.checkpoint_path, student, optimizer.get(), st);
      write_metrics(cfg.out_dir, result.history);
    }
    obs.on_epoch(r);
  }
  if (result.history.size() == static_cast<std::size_t>(result.resumed_from_epoch)) {
    // Resumed a finished run: nothing trained now, but the final numbers are still wanted.
    result.final_eval = evaluate(student, eval, norm, dev, cfg.eval_batch_size);
  }
  result.train_seconds += result.cache_seconds;
  return result;
}

}  // namespace distill
}  // namespace kdcu
