// distill/trainer.h (fit) with teachers: distillation reads the teacher from the soft-label cache
// when nothing varies and online otherwise, and both give the same student (one and two
// teachers); the cached rows follow the loader's shuffle.
#include "tests/cpu/trainer_test_util.h"

namespace kdcu {
namespace {
using namespace trainer_test;

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
  c1.out_dir = tmp.file("cached");
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
  c2.out_dir = tmp.file("online");
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
    c.out_dir = tmp.file(cache ? "cached" : "online");
    results.push_back(distill::fit(*students.back(), {&t1, t2.get()}, l, d.train, d.eval, d.norm, c));
  }
  EXPECT_TRUE(results[0].used_cache);
  EXPECT_FALSE(results[1].used_cache);
  EXPECT_TRUE(fs::exists(tmp.file("cached") + "/cache/soft-labels-0-cnn_small.safetensors"));
  EXPECT_TRUE(fs::exists(tmp.file("cached") + "/cache/soft-labels-1-cnn_small.safetensors"));
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
    c.out_dir = tmp.file("aug");
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
      distill::load_or_build_soft_labels(tmp.file("c/soft.safetensors"), teacher, d.train, d.norm, Device::cpu());
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
