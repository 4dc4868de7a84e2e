// distill/trainer.h (fit), the loop: plain training learns a tiny synthetic task and logs one
// finite record per epoch with progress; bad configs and arguments are named; the output directory
// gets best/last weights, the checkpoint and the metrics files. Resume and NaN stops are in
// test_distill_trainer_resume.cpp, teachers and the soft-label cache in
// test_distill_trainer_teachers.cpp.
#include "tests/cpu/trainer_test_util.h"

namespace kdcu {
namespace {
using namespace trainer_test;

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
    EXPECT_GE(e.train_accuracy, 0.0);
    EXPECT_LE(e.train_accuracy, 1.0);
    EXPECT_GT(e.images_per_second, 0.0);
  }
  EXPECT_LT(r.history.back().train_loss, 0.5 * r.history.front().train_loss)
      << r.history.front().train_loss << " -> " << r.history.back().train_loss;
  EXPECT_GE(r.final_eval.accuracy, 0.8) << "chance is 0.25";
  EXPECT_GE(r.history.back().train_accuracy, 0.8) << "the training set is learned too";
  EXPECT_GT(r.history.back().train_accuracy, r.history.front().train_accuracy);
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
  cfg.out_dir = tmp.file("run");  // created by fit
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
              "epoch,lr,temperature,kd_weight,train_loss,train_ce,train_accuracy,eval_loss,eval_accuracy,train_seconds,"
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

}  // namespace
}  // namespace kdcu
