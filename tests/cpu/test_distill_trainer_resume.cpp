// distill/trainer.h (fit), resume and NaN stops: a run interrupted after epoch 1 and resumed in
// fresh objects ends bitwise equal to a straight run (plain CE with cnn_small, dropout with
// mlp_teacher, a hint loss whose regressor is in the checkpoint, a cached teacher with annealing);
// another recipe refuses to resume; a NaN loss stops with the epoch and step named and the last
// epoch's files intact, and the run resumes from them.
#include "tests/cpu/trainer_test_util.h"

namespace kdcu {
namespace {
using namespace trainer_test;

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
  ca.out_dir = tmp.file("A");
  const TrainResult ra = distill::fit(*a, teachers, la, d.train, d.eval, d.norm, ca);

  TrainConfig cb = cfg;
  cb.out_dir = tmp.file("B");
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
  cfg.out_dir = tmp.file("run");
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
  cfg.out_dir = tmp.file("run");
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
          c2.out_dir = tmp.file("other");
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
  c2.out_dir = tmp.file("straight");
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
  cfg.out_dir = tmp.file("run");
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

}  // namespace
}  // namespace kdcu
