// distill/trainer.h (fit): plain training learns a tiny synthetic task and logs one finite record
// per epoch; the output directory gets best/last weights, the checkpoint and the metrics files; a
// run interrupted after epoch 1 and resumed in fresh objects ends bitwise equal to a straight run
// (plain CE with cnn_small, dropout with mlp_teacher, a hint loss whose regressor is in the
// checkpoint); another recipe refuses to resume; a NaN loss stops with the epoch and step named and
// the last epoch's files intact; distillation reads the teacher from the soft-label cache when
// nothing varies, online otherwise, and both give the same student.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "distill/distill_loss.h"
#include "distill/evaluate.h"
#include "distill/history.h"
#include "distill/soft_label_cache.h"
#include "distill/trainer.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ops/elementwise.h"
#include "tests/support/checks.h"
#include "tests/support/synthetic.h"

namespace kdcu {
namespace {
using testing::bytes_of;
using testing::differing;

namespace fs = std::filesystem;
using distill::DistillLoss;
using distill::EpochRecord;
using distill::LossConfig;
using distill::TrainConfig;
using distill::TrainResult;
using testing::throws_with;

constexpr std::int64_t kSide = 8, kClasses = 4;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kdcu_trainer_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string sub(const std::string& name) const { return (path / name).string(); }
};

datasets::Dataset make_set(std::int64_t n, std::uint64_t seed, const std::string& name) {
  return testing::quadrant_set(n, seed, name, kSide);
}

struct Fixture {
  datasets::Dataset train = make_set(64, 1, "synthetic/train");
  datasets::Dataset eval = make_set(32, 2, "synthetic/eval");
  datasets::Normalization norm = datasets::compute_normalization(train);
};

const Fixture& data() {
  static const Fixture f;
  return f;
}

nn::ModelPtr make(const std::string& name, std::uint64_t seed) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = kSide;
  c.num_classes = kClasses;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

LossConfig plain_loss() {
  LossConfig c;
  c.kd_weight = 0.0;
  c.ce_weight = 1.0;
  return c;
}

TrainConfig small_config(std::int64_t epochs) {
  TrainConfig c;
  c.epochs = epochs;
  c.batch_size = 16;
  c.eval_batch_size = 20;  // not a divisor of 32: a partial last batch
  c.optim.optimizer = "sgd";
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  c.optim.weight_decay = 1e-4;
  c.optim.schedule = "cosine";
  c.optim.warmup_epochs = 1;
  c.seed = 17;
  c.prefetch = 2;
  return c;
}

double max_abs_diff(const nn::NamedTensors& a, const nn::NamedTensors& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<double> x = a[i].second.to_vector<double>(), y = b[i].second.to_vector<double>();
    for (size_t j = 0; j < x.size(); ++j) m = std::max(m, std::abs(x[j] - y[j]));
  }
  return m;
}

double term_of(const EpochRecord& r, const std::string& name) {
  for (const auto& [n, v] : r.train_terms)
    if (n == name) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

// The logged values (not the timings) are equal; terms compared by name.
void expect_same_history(const std::vector<EpochRecord>& a, const std::vector<EpochRecord>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_EQ(a[i].temperature, b[i].temperature);
    EXPECT_EQ(a[i].kd_weight, b[i].kd_weight);
    EXPECT_EQ(a[i].train_loss, b[i].train_loss);
    EXPECT_EQ(a[i].eval_loss, b[i].eval_loss);
    EXPECT_EQ(a[i].eval_accuracy, b[i].eval_accuracy);
    ASSERT_EQ(a[i].train_terms.size(), b[i].train_terms.size());
    for (const auto& [n, v] : a[i].train_terms) EXPECT_EQ(term_of(b[i], n), v) << n;
  }
}

// Like expect_same_history, to a relative tolerance (for runs that differ by float rounding).
void expect_close_history(const std::vector<EpochRecord>& a, const std::vector<EpochRecord>& b, double rtol) {
  ASSERT_EQ(a.size(), b.size());
  const auto near = [rtol](double x, double y) { return std::abs(x - y) <= rtol * std::max(std::abs(y), 1e-6); };
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_TRUE(near(a[i].train_loss, b[i].train_loss)) << a[i].train_loss << " vs " << b[i].train_loss;
    EXPECT_TRUE(near(a[i].eval_loss, b[i].eval_loss)) << a[i].eval_loss << " vs " << b[i].eval_loss;
    EXPECT_EQ(a[i].eval_accuracy, b[i].eval_accuracy);
    for (const auto& [n, v] : a[i].train_terms) EXPECT_TRUE(near(term_of(b[i], n), v)) << n;
  }
}

// metrics.csv as rows of column name -> text, without the timing columns.
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  const auto split = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) out.push_back(cell);
    return out;
  };
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    EXPECT_EQ(cells.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i)
      if (header[i] != "train_seconds" && header[i] != "eval_seconds" && header[i] != "images_per_second")
        row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

struct Recorder : distill::TrainObserver {
  std::vector<std::string> messages;
  std::vector<distill::StepProgress> steps;
  std::vector<EpochRecord> epochs;
  std::function<void(const EpochRecord&)> after_epoch;
  void on_message(const std::string& line) override { messages.push_back(line); }
  void on_step(const distill::StepProgress& p) override { steps.push_back(p); }
  void on_epoch(const EpochRecord& r) override {
    epochs.push_back(r);
    if (after_epoch) after_epoch(r);
  }
  bool said(const std::string& needle) const {
    for (const std::string& m : messages)
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
};

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted by the test") {}
};

// ------------------------------------------------------------------------------ plain training

TEST(DistillTrainer, PlainTrainingLearns) {
  const Fixture& d = data();
  const auto model = make("cnn_small", 3);
  Generator gen(0);
  DistillLoss loss(plain_loss(), *model, {}, gen);
  TrainConfig cfg = small_config(6);
  cfg.optim.lr = 0.1;
  Recorder rec;
  const TrainResult r = distill::fit(*model, {}, loss, d.train, d.eval, d.norm, cfg, &rec);
  ASSERT_EQ(r.history.size(), 6u);
  for (size_t i = 0; i < r.history.size(); ++i) {
    const EpochRecord& e = r.history[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(e.epoch, static_cast<std::int64_t>(i + 1));
    for (double v : {e.lr, e.temperature, e.kd_weight, e.train_loss, e.eval_loss, e.eval_accuracy, e.train_seconds,
                     e.eval_seconds, e.images_per_second})
      EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(e.lr, 0.0);
    EXPECT_EQ(e.kd_weight, 0.0);
    ASSERT_EQ(e.train_terms.size(), 1u);
    EXPECT_EQ(e.train_terms[0].first, "ce");
    // One term with weight 1 (the term sums run in f32 tensors, the loss sum in double).
    EXPECT_NEAR(e.train_terms[0].second, e.train_loss, 1e-6 * e.train_loss);
    EXPECT_GE(e.eval_accuracy, 0.0);
    EXPECT_LE(e.eval_accuracy, 1.0);
    EXPECT_GT(e.images_per_second, 0.0);
  }
  EXPECT_LT(r.history.back().train_loss, 0.5 * r.history.front().train_loss)
      << r.history.front().train_loss << " -> " << r.history.back().train_loss;
  EXPECT_GE(r.final_eval.accuracy, 0.8) << "chance is 0.25";
  EXPECT_EQ(r.final_eval.samples, d.eval.size());
  EXPECT_EQ(r.final_eval.accuracy, r.history.back().eval_accuracy);
  EXPECT_GE(r.best_epoch, 1);
  EXPECT_EQ(r.best_accuracy, r.history[static_cast<size_t>(r.best_epoch - 1)].eval_accuracy);
  for (const EpochRecord& e : r.history) EXPECT_LE(e.eval_accuracy, r.best_accuracy);
  EXPECT_FALSE(r.used_cache);
  EXPECT_EQ(r.resumed_from_epoch, 0);
  EXPECT_TRUE(r.best_path.empty() && r.last_path.empty() && r.checkpoint_path.empty());
  // The warm-up + cosine schedule: the lr of the last epoch is below the peak.
  EXPECT_LT(r.history.back().lr, r.history[1].lr);
  // Progress: 4 steps per epoch, 1-based, the running loss finite.
  ASSERT_EQ(rec.steps.size(), 24u);
  EXPECT_EQ(rec.steps.front().step, 1);
  EXPECT_EQ(rec.steps.front().steps, 4);
  EXPECT_EQ(rec.steps.back().epoch, 6);
  EXPECT_EQ(rec.steps.back().epochs, 6);
  EXPECT_EQ(rec.steps.back().step, 4);
  for (const auto& p : rec.steps) EXPECT_TRUE(std::isfinite(p.loss));
  // The run's ETA covers the later epochs: at least this epoch's ETA, nothing left at the end.
  for (const auto& p : rec.steps) {
    EXPECT_GE(p.run_eta_seconds, p.eta_seconds);
    if (p.epoch < p.epochs) {
      EXPECT_GT(p.run_eta_seconds, 0.0);
    }
  }
  EXPECT_EQ(rec.steps.back().run_eta_seconds, 0.0);
  EXPECT_EQ(rec.steps.back().eta_seconds, 0.0);
  EXPECT_EQ(rec.epochs.size(), 6u);
  EXPECT_TRUE(model->is_training());
}

TEST(DistillTrainer, ConfigAndArgumentErrors) {
  const Fixture& d = data();
  const auto model = make("cnn_small", 3), teacher = make("cnn_small", 4);
  Generator gen(0);
  DistillLoss plain(plain_loss(), *model, {}, gen);
  const auto run = [&](TrainConfig c) {
    return [&, c] { (void)distill::fit(*model, {}, plain, d.train, d.eval, d.norm, c); };
  };
  TrainConfig c = small_config(1);
  c.epochs = 0;
  EXPECT_TRUE(throws_with<ValueError>(run(c), "epochs must be >= 1, found 0"));
  c = small_config(1);
  c.batch_size = 0;
  EXPECT_TRUE(throws_with<ValueError>(run(c), "batch size must be >= 1, found 0"));
  c = small_config(1);
  c.prefetch = -1;
  EXPECT_TRUE(throws_with<ValueError>(run(c), "prefetch must be >= 0, found -1"));
  c = small_config(1);
  c.optim.optimizer = "lbfgs";
  EXPECT_TRUE(throws_with<ValueError>(run(c), "unknown optimizer 'lbfgs'"));
  // Too few samples; a teacher-reading loss without the teacher.
  const datasets::Dataset one = datasets::subset(d.train, {0}, "one");
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { (void)distill::fit(*model, {}, plain, one, d.eval, d.norm, small_config(1)); }, "at least 2 are needed"));
  LossConfig kd;
  DistillLoss with_teacher(kd, *model, {teacher.get()}, gen);
  EXPECT_TRUE(throws_with<ValueError>(
      [&] { (void)distill::fit(*model, {}, with_teacher, d.train, d.eval, d.norm, small_config(1)); },
      "the loss reads a teacher; none given"));
}

// ------------------------------------------------------------------------------ files

TEST(DistillTrainer, WritesWeightsCheckpointAndMetrics) {
  const Fixture& d = data();
  TempDir tmp;
  const auto model = make("cnn_small", 3);
  Generator gen(0);
  DistillLoss loss(plain_loss(), *model, {}, gen);
  TrainConfig cfg = small_config(3);
  cfg.out_dir = tmp.sub("run");  // created by fit
  const TrainResult r = distill::fit(*model, {}, loss, d.train, d.eval, d.norm, cfg);
  for (const char* f :
       {"best.safetensors", "last.safetensors", "checkpoint.safetensors", "metrics.jsonl", "metrics.csv"})
    EXPECT_TRUE(fs::exists(fs::path(cfg.out_dir) / f)) << f;
  EXPECT_EQ(r.best_path, (fs::path(cfg.out_dir) / "best.safetensors").string());
  EXPECT_EQ(r.last_path, (fs::path(cfg.out_dir) / "last.safetensors").string());
  EXPECT_EQ(r.checkpoint_path, (fs::path(cfg.out_dir) / "checkpoint.safetensors").string());
  EXPECT_EQ(count_lines(cfg.out_dir + "/metrics.jsonl"), 3u);
  EXPECT_EQ(count_lines(cfg.out_dir + "/metrics.csv"), 4u);
  {
    std::ifstream in(cfg.out_dir + "/metrics.csv");
    std::string header;
    std::getline(in, header);
    EXPECT_EQ(header,
              "epoch,lr,temperature,kd_weight,train_loss,train_ce,eval_loss,eval_accuracy,train_seconds,"
              "eval_seconds,images_per_second");
  }
  {
    std::ifstream in(cfg.out_dir + "/metrics.jsonl");
    std::string line;
    std::int64_t epoch = 0;
    while (std::getline(in, line)) {
      const EpochRecord e = distill::epoch_from_json(nlohmann::json::parse(line));
      EXPECT_EQ(e.epoch, ++epoch);
      EXPECT_EQ(e.train_loss, r.history[static_cast<size_t>(epoch - 1)].train_loss);
    }
  }
  // last = the final weights; best = the best epoch's (metadata names it); no temporaries left.
  const auto last = make("cnn_small", 99), best = make("cnn_small", 98);
  const auto meta_last = nn::load_weights(r.last_path, *last);
  EXPECT_EQ(differing(last->state_dict(), model->state_dict()), "");
  EXPECT_EQ(meta_last.at("epoch"), "3");
  EXPECT_EQ(meta_last.at("model"), "cnn_small");
  const auto meta_best = nn::load_weights(r.best_path, *best);
  EXPECT_EQ(meta_best.at("epoch"), std::to_string(r.best_epoch));
  for (const auto& e : fs::directory_iterator(cfg.out_dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  // The checkpoint is at epoch 3, with 12 optimizer steps.
  const auto again = make("cnn_small", 97);
  auto opt = distill::make_optimizer(cfg.optim, again->named_parameters());
  const nn::TrainingState st = nn::load_checkpoint(r.checkpoint_path, *again, opt.get());
  EXPECT_EQ(st.epoch, 3);
  EXPECT_EQ(st.step, 12);
  EXPECT_EQ(opt->steps(), 12);
  EXPECT_NE(st.extra.at("recipe").find("student=cnn_small"), std::string::npos);
  EXPECT_EQ(distill::history_from_json(nlohmann::json::parse(st.extra.at("history"))).size(), 3u);
}

// ------------------------------------------------------------------------------ resume

struct Setup {
  std::string student_name;
  LossConfig loss;
  bool with_teacher = false;
};

// A straight run of `epochs` in A; in B the same run interrupted after epoch 1 (the observer
// throws once that epoch's files are written), then resumed in fresh objects (other init seeds).
void check_resume(const Setup& s, TrainConfig cfg) {
  const Fixture& d = data();
  TempDir tmp;
  const auto teacher = make("cnn_small", 50);
  std::vector<nn::Model*> teachers;
  if (s.with_teacher) teachers.push_back(teacher.get());

  const auto a = make(s.student_name, 3);
  Generator ga(7);
  DistillLoss la(s.loss, *a, teachers, ga);
  TrainConfig ca = cfg;
  ca.out_dir = tmp.sub("A");
  const TrainResult ra = distill::fit(*a, teachers, la, d.train, d.eval, d.norm, ca);

  TrainConfig cb = cfg;
  cb.out_dir = tmp.sub("B");
  cb.resume = true;  // nothing to resume yet: a fresh run
  {
    const auto b = make(s.student_name, 3);
    Generator gb(7);
    DistillLoss lb(s.loss, *b, teachers, gb);
    Recorder stop;
    stop.after_epoch = [](const EpochRecord& r) {
      if (r.epoch == 1) throw Interrupted();
    };
    EXPECT_THROW((void)distill::fit(*b, teachers, lb, d.train, d.eval, d.norm, cb, &stop), Interrupted);
    ASSERT_EQ(stop.epochs.size(), 1u);
  }
  EXPECT_EQ(count_lines(cb.out_dir + "/metrics.jsonl"), 1u);

  const auto b = make(s.student_name, 1234);  // another init: the checkpoint must restore it
  Generator gb(4321);                         // other regressor init too
  DistillLoss lb(s.loss, *b, teachers, gb);
  Recorder rec;
  const TrainResult rb = distill::fit(*b, teachers, lb, d.train, d.eval, d.norm, cb, &rec);
  EXPECT_EQ(rb.resumed_from_epoch, 1);
  EXPECT_TRUE(rec.said("resumed from"));
  EXPECT_EQ(rec.epochs.size(), static_cast<size_t>(cfg.epochs - 1));
  EXPECT_EQ(differing(b->state_dict(), a->state_dict()), "") << "student weights differ after the resume";
  EXPECT_EQ(differing(lb.state_dict(), la.state_dict()), "") << "loss state (regressors) differs";
  expect_same_history(rb.history, ra.history);
  EXPECT_EQ(rb.best_epoch, ra.best_epoch);
  EXPECT_EQ(rb.best_accuracy, ra.best_accuracy);
  EXPECT_EQ(rb.final_eval.correct, ra.final_eval.correct);
  EXPECT_EQ(rb.final_eval.loss, ra.final_eval.loss);
  EXPECT_EQ(count_lines(cb.out_dir + "/metrics.jsonl"), static_cast<size_t>(cfg.epochs));
  // The CSV files of both runs agree, column by column name, except for the timing columns. (Not
  // by position: after a resume the term columns come in JSON's sorted order; see
  // DistillHistory.CsvColumnOrderSurvivesJson.)
  {
    const auto rows_a = read_csv(ca.out_dir + "/metrics.csv"), rows_b = read_csv(cb.out_dir + "/metrics.csv");
    EXPECT_EQ(rows_a.size(), static_cast<size_t>(cfg.epochs));
    EXPECT_EQ(rows_b, rows_a);
  }

  // Resuming the finished run trains nothing and reports the same numbers.
  {
    const auto c = make(s.student_name, 555);
    Generator gc(1);
    DistillLoss lc(s.loss, *c, teachers, gc);
    const TrainResult rc = distill::fit(*c, teachers, lc, d.train, d.eval, d.norm, cb);
    EXPECT_EQ(rc.resumed_from_epoch, cfg.epochs);
    EXPECT_EQ(rc.history.size(), static_cast<size_t>(cfg.epochs));
    EXPECT_EQ(differing(c->state_dict(), a->state_dict()), "");
    EXPECT_EQ(rc.final_eval.samples, d.eval.size());
    EXPECT_EQ(rc.final_eval.correct, ra.final_eval.correct);
  }
  // Another recipe (here the lr) does not resume this checkpoint.
  {
    const auto c = make(s.student_name, 555);
    Generator gc(1);
    DistillLoss lc(s.loss, *c, teachers, gc);
    TrainConfig other = cb;
    other.optim.lr *= 2.0;
    EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::fit(*c, teachers, lc, d.train, d.eval, d.norm, other); },
                                        "another run"));
    other = cb;
    other.seed += 1;
    EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::fit(*c, teachers, lc, d.train, d.eval, d.norm, other); },
                                        "was made by another run"));
    // Without resume the same directory starts over.
    other.resume = false;
    other.epochs = 1;
    const TrainResult fresh = distill::fit(*c, teachers, lc, d.train, d.eval, d.norm, other);
    EXPECT_EQ(fresh.resumed_from_epoch, 0);
    EXPECT_EQ(fresh.history.size(), 1u);
  }
}

TEST(DistillTrainer, ResumeIsBitwiseEqualPlainCnn) {
  check_resume({"cnn_small", plain_loss(), false}, small_config(3));
}

TEST(DistillTrainer, ResumeIsBitwiseEqualWithDropoutAndClipping) {
  TrainConfig cfg = small_config(3);
  cfg.optim.optimizer = "adam";
  cfg.optim.lr = 1e-3;
  cfg.optim.clip_grad_norm = 0.5;
  check_resume({"mlp_teacher", plain_loss(), false}, cfg);  // mlp_teacher has dropout 0.5
}

TEST(DistillTrainer, ResumeIsBitwiseEqualWithHintRegressor) {
  LossConfig c;
  c.kd_weight = 0.5;
  c.ce_weight = 0.5;
  c.features = {distill::FeatureLossSpec::parse("hint:0.5")};  // online teacher: features
  check_resume({"cnn_small", c, true}, small_config(3));
}

TEST(DistillTrainer, ResumeIsBitwiseEqualWithCachedTeacher) {
  LossConfig c;
  c.kd_weight = 0.6;
  c.ce_weight = 0.4;
  c.annealing = {true, distill::ScheduleShape::Linear};   // progress must continue across the resume
  check_resume({"cnn_small", c, true}, small_config(3));  // soft labels from <out>/cache
}

// ------------------------------------------------------------------------------ NaN stop

TEST(DistillTrainer, NonFiniteLossStopsInTheFirstEpoch) {
  const Fixture& d = data();
  TempDir tmp;
  const auto model = make("cnn_small", 3);
  Generator gen(0);
  DistillLoss loss(plain_loss(), *model, {}, gen);
  TrainConfig cfg = small_config(2);
  cfg.optim.schedule = "constant";
  cfg.optim.warmup_epochs = 0;
  cfg.optim.lr = 1e30;
  cfg.out_dir = tmp.sub("run");
  std::string what;
  try {
    (void)distill::fit(*model, {}, loss, d.train, d.eval, d.norm, cfg);
  } catch (const ValueError& e) {
    what = e.what();
  }
  ASSERT_FALSE(what.empty()) << "no ValueError";
  EXPECT_NE(what.find("training stopped"), std::string::npos) << what;
  EXPECT_NE(what.find("at epoch 1, step "), std::string::npos) << what;
  EXPECT_NE(what.find("/4"), std::string::npos) << what;
  EXPECT_NE(what.find("ce = "), std::string::npos) << what;
  EXPECT_NE(what.find("no epoch has completed, so nothing was saved"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(cfg.out_dir + "/checkpoint.safetensors"));
  EXPECT_FALSE(fs::exists(cfg.out_dir + "/last.safetensors"));
}

TEST(DistillTrainer, NonFiniteLossInEpochTwoKeepsEpochOneAndResumes) {
  const Fixture& d = data();
  TempDir tmp;
  TrainConfig cfg = small_config(3);
  cfg.out_dir = tmp.sub("run");
  cfg.resume = true;
  // The observer poisons the student after epoch 1 (its files are written by then).
  const auto model = make("cnn_small", 3);
  {
    Generator gen(0);
    DistillLoss loss(plain_loss(), *model, {}, gen);
    Recorder rec;
    rec.after_epoch = [&](const EpochRecord& r) {
      if (r.epoch != 1) return;
      autograd::NoGradGuard ng;
      fill_(model->named_parameters().back().second, std::nan(""));  // fc2.bias: the logits
    };
    std::string what;
    try {
      (void)distill::fit(*model, {}, loss, d.train, d.eval, d.norm, cfg, &rec);
    } catch (const ValueError& e) {
      what = e.what();
    }
    EXPECT_EQ(what.rfind("training stopped: the loss is ", 0), 0u) << what;
    EXPECT_NE(what.find("nan at epoch 2, step 1/4 (terms: ce = "), std::string::npos) << what;  // nan or -nan
    EXPECT_NE(what.find("the files of epoch 1 in " + cfg.out_dir + " are kept"), std::string::npos) << what;
    EXPECT_EQ(rec.epochs.size(), 1u);
    EXPECT_TRUE(throws_with<ValueError>(
        [&] {
          const auto again = make("cnn_small", 3);
          Generator g(0);
          DistillLoss l(plain_loss(), *again, {}, g);
          Recorder r2;
          r2.after_epoch = [&](const EpochRecord& r) {
            if (r.epoch == 1) fill_(again->named_parameters().back().second, std::nan(""));
          };
          TrainConfig c2 = cfg;
          c2.out_dir = tmp.sub("other");
          (void)distill::fit(*again, {}, l, d.train, d.eval, d.norm, c2, &r2);
        },
        "the files of epoch 1 in"));
  }
  // Epoch 1's files are intact and finite.
  EXPECT_EQ(count_lines(cfg.out_dir + "/metrics.jsonl"), 1u);
  const auto last = make("cnn_small", 9);
  EXPECT_EQ(nn::load_weights(cfg.out_dir + "/last.safetensors", *last).at("epoch"), "1");
  for (const auto& [n, t] : last->state_dict())
    for (double v : t.to_vector<double>()) ASSERT_TRUE(std::isfinite(v)) << n;
  // Resuming from it gives exactly the uninterrupted run.
  const auto fresh = make("cnn_small", 77);
  Generator g1(0);
  DistillLoss l1(plain_loss(), *fresh, {}, g1);
  const TrainResult resumed = distill::fit(*fresh, {}, l1, d.train, d.eval, d.norm, cfg);
  EXPECT_EQ(resumed.resumed_from_epoch, 1);
  const auto straight = make("cnn_small", 3);
  Generator g2(0);
  DistillLoss l2(plain_loss(), *straight, {}, g2);
  TrainConfig c2 = cfg;
  c2.out_dir = tmp.sub("straight");
  const TrainResult ref = distill::fit(*straight, {}, l2, d.train, d.eval, d.norm, c2);
  EXPECT_EQ(differing(fresh->state_dict(), straight->state_dict()), "");
  expect_same_history(resumed.history, ref.history);
}

// NaN weights before a ReLU vanish in the forward (the CPU ReLU maps NaN to 0), so the loss stays
// finite and fit trains on, saving NaN weights. It should stop as for a NaN loss.
TEST(DistillTrainer, NanWeightsBeforeReluStopTraining) {
  const Fixture& d = data();
  TempDir tmp;
  const auto model = make("cnn_small", 3);
  Generator gen(0);
  DistillLoss loss(plain_loss(), *model, {}, gen);
  TrainConfig cfg = small_config(2);
  cfg.out_dir = tmp.sub("run");
  Recorder rec;
  rec.after_epoch = [&](const EpochRecord& r) {
    if (r.epoch == 1) fill_(model->named_parameters().front().second, std::nan(""));  // conv1.weight
  };
  bool stopped = false;
  try {
    (void)distill::fit(*model, {}, loss, d.train, d.eval, d.norm, cfg, &rec);
  } catch (const ValueError& e) {
    stopped = std::string(e.what()).find("training stopped") != std::string::npos;
  }
  EXPECT_TRUE(std::isnan(ops::relu(from_vector<float>({std::nanf("")})).item<double>()));  // as PyTorch
  EXPECT_TRUE(stopped);
}

// ------------------------------------------------------------------------------ distillation

// A teacher trained briefly on the task (shared by the tests below).
nn::Model& trained_teacher() {
  static const nn::ModelPtr t = [] {
    const Fixture& d = data();
    auto m = make("cnn_small", 60);
    Generator gen(0);
    DistillLoss loss(plain_loss(), *m, {}, gen);
    TrainConfig cfg = small_config(4);
    cfg.optim.lr = 0.1;
    (void)distill::fit(*m, {}, loss, d.train, d.eval, d.norm, cfg);
    return m;
  }();
  return *t;
}

LossConfig kd_loss_config() {
  LossConfig c;
  c.kd_weight = 0.7;
  c.ce_weight = 0.3;
  c.temperature = {3.0, 3.0, distill::ScheduleShape::Constant};
  return c;
}

TEST(DistillTrainer, DistillationUsesCacheAndMatchesOnlineTeacher) {
  const Fixture& d = data();
  TempDir tmp;
  nn::Model& teacher = trained_teacher();
  const nn::NamedTensors teacher_before = teacher.state_dict();
  std::string teacher_bytes;
  for (const auto& [n, t] : teacher_before) teacher_bytes += bytes_of(t);

  // Cache on, no augmentation.
  const auto cached = make("cnn_small", 5);
  Generator g1(0);
  DistillLoss l1(kd_loss_config(), *cached, {&teacher}, g1);
  TrainConfig c1 = small_config(3);
  c1.out_dir = tmp.sub("cached");
  Recorder rec1;
  const TrainResult r1 = distill::fit(*cached, {&teacher}, l1, d.train, d.eval, d.norm, c1, &rec1);
  EXPECT_TRUE(r1.used_cache);
  EXPECT_GE(r1.cache_seconds, 0.0);
  EXPECT_GE(r1.train_seconds, r1.cache_seconds);
  const std::string file = c1.out_dir + "/cache/soft-labels-0-cnn_small.safetensors";
  EXPECT_TRUE(fs::exists(file)) << file;
  EXPECT_TRUE(rec1.said("built in")) << (rec1.messages.empty() ? "" : rec1.messages[0]);
  EXPECT_TRUE(rec1.said("no cache file"));
  ASSERT_EQ(r1.history.size(), 3u);
  for (const EpochRecord& e : r1.history) {
    EXPECT_EQ(e.train_terms.size(), 2u);
    EXPECT_TRUE(std::isfinite(term_of(e, "kd")));
    EXPECT_TRUE(std::isfinite(term_of(e, "ce")));
    EXPECT_EQ(e.temperature, 3.0);
    EXPECT_EQ(e.kd_weight, 0.7);
    EXPECT_NEAR(e.train_loss, 0.7 * term_of(e, "kd") + 0.3 * term_of(e, "ce"), 1e-5 * e.train_loss);
  }
  // The file holds the teacher's logits of every sample, in order.
  const distill::SoftLabels s = distill::load_or_build_soft_labels(file, teacher, d.train, d.norm, Device::cpu());
  EXPECT_FALSE(s.built);
  EXPECT_TRUE(testing::all_close(s.logits, distill::predict_logits(teacher, d.train, d.norm, Device::cpu())));

  // Cache off: the teacher runs online, same seed.
  const auto online = make("cnn_small", 5);
  Generator g2(0);
  DistillLoss l2(kd_loss_config(), *online, {&teacher}, g2);
  TrainConfig c2 = small_config(3);
  c2.soft_label_cache = false;
  c2.out_dir = tmp.sub("online");
  Recorder rec2;
  const TrainResult r2 = distill::fit(*online, {&teacher}, l2, d.train, d.eval, d.norm, c2, &rec2);
  EXPECT_FALSE(r2.used_cache);
  EXPECT_TRUE(rec2.said("teachers run online every step (cache off)"));
  EXPECT_FALSE(fs::exists(c2.out_dir + "/cache"));
  const std::string diff = differing(cached->state_dict(), online->state_dict());
  const double worst = max_abs_diff(cached->state_dict(), online->state_dict());
  std::printf("[ cache vs online ] student weights %s (max |diff| %.3g)\n", diff.empty() ? "bitwise equal" : "differ",
              worst);
  EXPECT_LE(worst, 1e-5) << "differing:" << diff;
  // Not bitwise: the cache runs the teacher in batches of 500, the online teacher in batches of 16,
  // and the logits differ in the last bits; the runs agree to float rounding.
  expect_close_history(r1.history, r2.history, 1e-4);

  // Training the student left the teacher alone (eval mode, no grad).
  std::string after;
  for (const auto& [n, t] : teacher.state_dict()) after += bytes_of(t);
  EXPECT_EQ(after, teacher_bytes);
  for (const auto& [n, p] : teacher.named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;

  // A second run in the same directory reads the cache.
  const auto again = make("cnn_small", 5);
  Generator g3(0);
  DistillLoss l3(kd_loss_config(), *again, {&teacher}, g3);
  TrainConfig c3 = c1;
  c3.epochs = 1;
  Recorder rec3;
  const TrainResult r3 = distill::fit(*again, {&teacher}, l3, d.train, d.eval, d.norm, c3, &rec3);
  EXPECT_TRUE(r3.used_cache);
  EXPECT_TRUE(rec3.said("read from"));
}

TEST(DistillTrainer, TwoTeachersCacheMatchesOnline) {
  const Fixture& d = data();
  TempDir tmp;
  nn::Model& t1 = trained_teacher();
  const auto t2 = make("cnn_small", 61);
  LossConfig lc = kd_loss_config();
  lc.teacher_weights = {3.0, 1.0};
  std::vector<TrainResult> results;
  std::vector<nn::ModelPtr> students;
  for (bool cache : {true, false}) {
    students.push_back(make("cnn_small", 5));
    Generator g(0);
    DistillLoss l(lc, *students.back(), {&t1, t2.get()}, g);
    TrainConfig c = small_config(2);
    c.soft_label_cache = cache;
    c.out_dir = tmp.sub(cache ? "cached" : "online");
    results.push_back(distill::fit(*students.back(), {&t1, t2.get()}, l, d.train, d.eval, d.norm, c));
  }
  EXPECT_TRUE(results[0].used_cache);
  EXPECT_FALSE(results[1].used_cache);
  EXPECT_TRUE(fs::exists(tmp.sub("cached") + "/cache/soft-labels-0-cnn_small.safetensors"));
  EXPECT_TRUE(fs::exists(tmp.sub("cached") + "/cache/soft-labels-1-cnn_small.safetensors"));
  EXPECT_LE(max_abs_diff(students[0]->state_dict(), students[1]->state_dict()), 1e-5);
  expect_close_history(results[0].history, results[1].history, 1e-4);
}

TEST(DistillTrainer, CacheIsNotUsedWhenTeacherOutputsVary) {
  const Fixture& d = data();
  TempDir tmp;
  nn::Model& teacher = trained_teacher();
  // Augmentation.
  {
    const auto s = make("cnn_small", 5);
    Generator g(0);
    DistillLoss l(kd_loss_config(), *s, {&teacher}, g);
    TrainConfig c = small_config(1);
    c.augmentation.crop_padding = 1;
    c.augmentation.horizontal_flip = true;
    c.out_dir = tmp.sub("aug");
    Recorder rec;
    const TrainResult r = distill::fit(*s, {&teacher}, l, d.train, d.eval, d.norm, c, &rec);
    EXPECT_FALSE(r.used_cache);
    EXPECT_TRUE(rec.said("(augmentation)"));
    EXPECT_FALSE(fs::exists(c.out_dir + "/cache"));
    EXPECT_TRUE(std::isfinite(r.history[0].train_loss));
  }
  // A feature term.
  {
    const auto s = make("cnn_small", 5);
    Generator g(0);
    LossConfig lc = kd_loss_config();
    lc.features = {distill::FeatureLossSpec::parse("at:10")};
    DistillLoss l(lc, *s, {&teacher}, g);
    TrainConfig c = small_config(1);
    Recorder rec;
    const TrainResult r = distill::fit(*s, {&teacher}, l, d.train, d.eval, d.norm, c, &rec);
    EXPECT_FALSE(r.used_cache);
    EXPECT_TRUE(rec.said("(feature terms)"));
    EXPECT_EQ(r.history[0].train_terms.size(), 3u);
  }
  // Teacher BN in train mode (cnn_small has none, so the mode changes nothing but the cache).
  {
    const auto s = make("cnn_small", 5);
    Generator g(0);
    DistillLoss l(kd_loss_config(), *s, {&teacher}, g);
    TrainConfig c = small_config(1);
    c.teacher_bn_train = true;
    Recorder rec;
    const TrainResult r = distill::fit(*s, {&teacher}, l, d.train, d.eval, d.norm, c, &rec);
    EXPECT_FALSE(r.used_cache);
    EXPECT_TRUE(rec.said("(teacher BN in train mode)"));
  }
  // No out_dir: the cache is built in memory.
  {
    const auto s = make("cnn_small", 5);
    Generator g(0);
    DistillLoss l(kd_loss_config(), *s, {&teacher}, g);
    const TrainResult r = distill::fit(*s, {&teacher}, l, d.train, d.eval, d.norm, small_config(1));
    EXPECT_TRUE(r.used_cache);
  }
}

TEST(DistillTrainer, CachedRowsFollowTheShuffle) {
  const Fixture& d = data();
  TempDir tmp;
  nn::Model& teacher = trained_teacher();
  const distill::SoftLabels s =
      distill::load_or_build_soft_labels(tmp.sub("c/soft.safetensors"), teacher, d.train, d.norm, Device::cpu());
  ASSERT_EQ(s.logits.shape(), (Shape{d.train.size(), kClasses}));
  const Tensor all = distill::predict_logits(teacher, d.train, d.norm, Device::cpu());
  // A shuffled loader as fit builds it, with the same lookup.
  datasets::LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = true;
  o.seed = 17;
  o.normalization = d.norm;
  o.prefetch = 0;
  const Tensor table = s.logits;
  o.transform = [table](datasets::Batch& b) { b.extras.push_back(distill::gather_rows(table, b.indices)); };
  std::shared_ptr<const datasets::Dataset> view(&d.train, [](const datasets::Dataset*) {});
  datasets::DataLoader loader(view, o);
  loader.start_epoch(1);
  datasets::Batch b;
  bool shuffled = false;
  teacher.eval();
  while (loader.next(b)) {
    const std::vector<std::int64_t> idx = b.indices.to_vector<std::int64_t>();
    for (size_t i = 0; i < idx.size(); ++i) {
      shuffled |= idx[i] != static_cast<std::int64_t>(b.number * 16 + static_cast<std::int64_t>(i));
      EXPECT_EQ(b.extras[0].slice(i, i + 1).to_vector<float>(), all.slice(idx[i], idx[i] + 1).to_vector<float>())
          << "row " << i << " = sample " << idx[i];
    }
    // And equal (to f32 rounding) to the teacher run on the batch's images, as online.
    autograd::NoGradGuard ng;
    EXPECT_TRUE(testing::all_close(b.extras[0], teacher(b.images), testing::tolerance_for(DType::F32, 10.0)));
  }
  EXPECT_TRUE(shuffled);
}

}  // namespace
}  // namespace kdcu
