// distill/distill_loss.h: the loss composition. Feature-term specs parse and print back; the
// config's validation names what is wrong; DistillLoss::compute's total is exactly the weighted
// sum of the separate losses (kd_loss, cross_entropy, logit_mse, the ensemble and
// confidence-weighted forms) with the scheduled temperature and annealed KD weight; feature terms
// resolve their default features, own trained hint regressors and check names and shapes; an f64
// gradient check of the total w.r.t. the student logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "distill/distill_loss.h"
#include "distill/logit_losses.h"
#include "nn/model.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using distill::DistillLoss;
using distill::FeatureLossKind;
using distill::FeatureLossSpec;
using distill::LossConfig;
using distill::ModelOutputs;
using testing::throws_with;

constexpr std::int64_t kClasses = 10;

nn::ModelPtr make(const std::string& name, std::uint64_t seed, DType dtype = DType::F32, std::int64_t image = 8) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = image;
  c.num_classes = kClasses;
  c.dtype = dtype;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

::testing::AssertionResult close64(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

Tensor labels_for(std::int64_t b) {
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < b; ++i) y.push_back((i * 3 + 1) % kClasses);
  return from_vector<std::int64_t>(y);
}

ModelOutputs logits_only(const Tensor& t) {
  ModelOutputs o;
  o.logits = t;
  return o;
}

std::vector<std::string> term_names(const DistillLoss::Result& r) {
  std::vector<std::string> out;
  for (const auto& [n, t] : r.terms) out.push_back(n);
  return out;
}

double term(const DistillLoss::Result& r, const std::string& name) {
  for (const auto& [n, t] : r.terms)
    if (n == name) return t.item<double>();
  ADD_FAILURE() << "no term " << name;
  return std::numeric_limits<double>::quiet_NaN();
}

// ------------------------------------------------------------------------------ FeatureLossSpec

TEST(DistillComposition, FeatureSpecParsesAndPrintsBack) {
  const FeatureLossSpec hint = FeatureLossSpec::parse("hint");
  EXPECT_EQ(hint.kind, FeatureLossKind::Hint);
  EXPECT_EQ(hint.student_feature, "");
  EXPECT_EQ(hint.teacher_feature, "");
  EXPECT_EQ(hint.weight, 1.0);
  EXPECT_EQ(hint.teacher, 0u);
  EXPECT_EQ(hint.str(), "hint:1");

  const FeatureLossSpec at = FeatureLossSpec::parse("at@conv2=layer3:100");
  EXPECT_EQ(at.kind, FeatureLossKind::Attention);
  EXPECT_EQ(at.student_feature, "conv2");
  EXPECT_EQ(at.teacher_feature, "layer3");
  EXPECT_EQ(at.weight, 100.0);
  EXPECT_EQ(at.str().rfind("at@conv2=layer3:", 0), 0u) << at.str();  // the weight's text: NumbersPrintPlain

  const FeatureLossSpec rkd = FeatureLossSpec::parse("rkd_distance:25");
  EXPECT_EQ(rkd.kind, FeatureLossKind::RkdDistance);
  EXPECT_EQ(rkd.weight, 25.0);
  EXPECT_EQ(rkd.str(), "rkd_distance:25");

  // One feature name stands for both sides.
  const FeatureLossSpec same = FeatureLossSpec::parse("sp@hidden");
  EXPECT_EQ(same.kind, FeatureLossKind::Sp);
  EXPECT_EQ(same.student_feature, "hidden");
  EXPECT_EQ(same.teacher_feature, "hidden");
  EXPECT_EQ(same.str(), "sp@hidden=hidden:1");

  // str() reads back as the same spec, the weight exactly.
  for (const char* text : {"hint", "at@conv2=layer3:100", "rkd_distance:25", "rkd_angle@a=b:0.1", "pkt:1e-3",
                           "sp@hidden:0.3333333333333333", "at:0"}) {
    SCOPED_TRACE(text);
    const FeatureLossSpec a = FeatureLossSpec::parse(text);
    const FeatureLossSpec b = FeatureLossSpec::parse(a.str());
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.student_feature, a.student_feature);
    EXPECT_EQ(b.teacher_feature, a.teacher_feature);
    EXPECT_EQ(b.weight, a.weight);
    EXPECT_EQ(b.str(), a.str());
  }
  for (FeatureLossKind k : {FeatureLossKind::Hint, FeatureLossKind::Attention, FeatureLossKind::RkdDistance,
                            FeatureLossKind::RkdAngle, FeatureLossKind::Pkt, FeatureLossKind::Sp})
    EXPECT_EQ(distill::parse_feature_loss_kind(distill::feature_loss_name(k)), k);
}

TEST(DistillComposition, FeatureSpecRejectsBadText) {
  const auto parse = [](const std::string& s) { return [s] { (void)FeatureLossSpec::parse(s); }; };
  EXPECT_TRUE(throws_with<ValueError>(parse("foo"), "unknown feature loss 'foo'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("foo"), "hint, at, rkd_distance, rkd_angle, pkt or sp"));
  EXPECT_TRUE(throws_with<ValueError>(parse("Hint"), "unknown feature loss 'Hint'"));
  EXPECT_TRUE(throws_with<ValueError>(parse(""), "unknown feature loss ''"));
  EXPECT_TRUE(throws_with<ValueError>(parse("foo@conv2:3"), "unknown feature loss 'foo'"));
  // Weights: not a number, trailing junk, negative, non-finite, empty.
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:abc"), "the weight 'abc' is not a finite number >= 0"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:abc"), "feature loss 'hint:abc'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:abc"), "KIND[@STUDENT_FEATURE[=TEACHER_FEATURE]][:WEIGHT]"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:2x"), "the weight '2x'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:-1"), "the weight '-1'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:nan"), "the weight 'nan'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:inf"), "the weight 'inf'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:1e400"), "the weight '1e400'"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint:"), "the weight ''"));
  // Empty feature names.
  EXPECT_TRUE(throws_with<ValueError>(parse("hint@"), "empty feature name"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint@=layer3"), "empty feature name"));
  EXPECT_TRUE(throws_with<ValueError>(parse("hint@conv2="), "empty feature name"));
  EXPECT_TRUE(throws_with<ValueError>(parse("at@:5"), "empty feature name"));
}

// The weight (and the describe() numbers) print as plain decimals: "at@conv2=layer3:100" as the
// header documents, and as term names / metrics.csv columns are read by people.
TEST(DistillComposition, NumbersPrintPlain) {
  const std::string at = FeatureLossSpec::parse("at@conv2=layer3:100").str();
  LossConfig c;
  c.temperature = {20.0, 20.0, distill::ScheduleShape::Constant};
  const std::string d = c.describe();
  EXPECT_EQ(at, "at@conv2=layer3:100");
  EXPECT_EQ(FeatureLossSpec::parse("rkd_distance:25").str(), "rkd_distance:25");
  EXPECT_EQ(FeatureLossSpec::parse("hint:1000").str(), "hint:1000");
  EXPECT_EQ(d, "0.9*kd(T=20) + 0.1*ce");
  // --alpha 0.9 sets ce to 1 - 0.9 = 0.09999999999999998: the log line still reads 0.1.
  LossConfig from_alpha;
  from_alpha.kd_weight = 0.9;
  from_alpha.ce_weight = 1.0 - 0.9;
  EXPECT_EQ(from_alpha.describe(), "0.9*kd(T=4) + 0.1*ce");
}

// ------------------------------------------------------------------------------ LossConfig

TEST(DistillComposition, ConfigValidationNamesTheProblem) {
  const auto validate = [](LossConfig c, std::size_t teachers) { return [c, teachers] { c.validate(teachers); }; };
  LossConfig ok;
  EXPECT_NO_THROW(ok.validate(1));
  LossConfig mse_two = ok;
  mse_two.mse_weight = 1.0;
  EXPECT_TRUE(throws_with<ValueError>(validate(mse_two, 2), "logit MSE reads one teacher"));
  LossConfig gamma_two = ok;
  gamma_two.confidence_gamma = 2.0;
  EXPECT_TRUE(throws_with<ValueError>(validate(gamma_two, 2), "confidence-weighted KD reads one teacher"));
  EXPECT_NO_THROW(ok.validate(3));

  LossConfig neg;
  neg.kd_weight = -0.5;
  EXPECT_TRUE(throws_with<ValueError>(validate(neg, 1), "loss weights must be finite and >= 0; found kd -0.5"));
  LossConfig nan_ce;
  nan_ce.ce_weight = std::nan("");
  EXPECT_TRUE(throws_with<ValueError>(validate(nan_ce, 1), "ce nan"));
  LossConfig inf_mse;
  inf_mse.mse_weight = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(throws_with<ValueError>(validate(inf_mse, 1), "mse inf"));

  LossConfig none;
  none.kd_weight = none.ce_weight = none.mse_weight = 0.0;
  EXPECT_TRUE(throws_with<ValueError>(validate(none, 1), "the loss has no term"));

  // KD, MSE or a feature term without a teacher.
  EXPECT_TRUE(throws_with<ValueError>(validate(ok, 0), "needs a teacher, and none was given"));
  EXPECT_TRUE(throws_with<ValueError>(validate(ok, 0), "0.9*kd(T=4) + 0.1*ce"));
  LossConfig mse_only;
  mse_only.kd_weight = mse_only.ce_weight = 0.0;
  mse_only.mse_weight = 1.0;
  EXPECT_TRUE(throws_with<ValueError>(validate(mse_only, 0), "needs a teacher"));
  LossConfig feat_only;
  feat_only.kd_weight = 0.0;
  feat_only.features.push_back(FeatureLossSpec::parse("at"));
  EXPECT_TRUE(throws_with<ValueError>(validate(feat_only, 0), "needs a teacher"));
  // Plain training needs none.
  LossConfig plain;
  plain.kd_weight = 0.0;
  plain.ce_weight = 1.0;
  EXPECT_FALSE(plain.uses_teacher());
  EXPECT_NO_THROW(plain.validate(0));
  EXPECT_TRUE(ok.uses_teacher());
  EXPECT_TRUE(mse_only.uses_teacher());
  EXPECT_TRUE(feat_only.uses_teacher());

  LossConfig tw;
  tw.teacher_weights = {1.0, 2.0};
  EXPECT_NO_THROW(tw.validate(2));
  EXPECT_TRUE(throws_with<ValueError>(validate(tw, 1), "teacher weights: 2 given for 1 teachers"));
  EXPECT_TRUE(throws_with<ValueError>(validate(tw, 3), "teacher weights: 2 given for 3 teachers"));

  LossConfig which;
  FeatureLossSpec second = FeatureLossSpec::parse("at");
  second.teacher = 1;
  which.features.push_back(second);
  EXPECT_NO_THROW(which.validate(2));
  EXPECT_TRUE(throws_with<ValueError>(validate(which, 1), "feature loss at:1 reads teacher 1 of 1"));

  LossConfig smooth;
  smooth.label_smoothing = 1.5;
  EXPECT_TRUE(throws_with<ValueError>(validate(smooth, 1), "label smoothing must be in [0, 1], found 1.5"));
  LossConfig gamma;
  gamma.confidence_gamma = -1.0;
  EXPECT_TRUE(throws_with<ValueError>(validate(gamma, 1), "confidence gamma must be finite and >= 0, found -1"));
  LossConfig temp;
  temp.temperature = {0.0, 4.0, distill::ScheduleShape::Constant};
  EXPECT_THROW(temp.validate(1), ValueError);
}

TEST(DistillComposition, DescribeIsOneLine) {
  LossConfig c;
  EXPECT_EQ(c.describe(), "0.9*kd(T=4) + 0.1*ce");
  LossConfig plain;
  plain.kd_weight = 0.0;
  plain.ce_weight = 1.0;
  EXPECT_EQ(plain.describe(), "1*ce");
  LossConfig all;
  all.kd_weight = 0.5;
  all.ce_weight = 0.25;
  all.mse_weight = 2.0;
  all.label_smoothing = 0.1;
  all.temperature = {8.0, 2.0, distill::ScheduleShape::Cosine};
  all.annealing = {true, distill::ScheduleShape::Linear};
  all.confidence_gamma = 2.0;
  all.features = {FeatureLossSpec::parse("at@conv2=layer3:5"), FeatureLossSpec::parse("rkd_distance:0.25")};
  EXPECT_EQ(all.describe(),
            "0.5*kd(T=8->2 cosine, confidence gamma 2, annealed linear) + 0.25*ce(smoothing 0.1) + 2*mse(logits)"
            " + at@conv2=layer3:5 + rkd_distance:0.25");
  EXPECT_EQ(all.describe().find('\n'), std::string::npos);
}

// ------------------------------------------------------------------------------ compute: logit terms

TEST(DistillComposition, TotalIsWeightedSumOfKdAndCe) {
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  const Tensor s = testing::random({6, kClasses}, 11, false, -3.0, 3.0);
  const Tensor t = testing::random({6, kClasses}, 12, false, -3.0, 3.0);
  const Tensor y = labels_for(6);
  for (const auto& [a, b] : std::vector<std::pair<double, double>>{{0.9, 0.1}, {0.3, 2.0}, {1.0, 0.0}, {0.0, 1.0}}) {
    SCOPED_TRACE(std::to_string(a) + ", " + std::to_string(b));
    LossConfig c;
    c.kd_weight = a;
    c.ce_weight = b;
    c.temperature = {3.0, 3.0, distill::ScheduleShape::Constant};
    Generator gen(0);
    std::vector<nn::Model*> teachers;
    if (a > 0.0) teachers.push_back(teacher.get());
    DistillLoss loss(c, *student, teachers, gen);
    const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(t)}, y, 0.5);
    const double kd = distill::kd_loss(s, t, 3.0).item<double>();
    const double ce = ops::cross_entropy(s, y).item<double>();
    EXPECT_TRUE(close64(r.total.item<double>(), a * kd + b * ce));
    std::vector<std::string> want;
    if (a > 0.0) want.push_back("kd");
    if (b > 0.0) want.push_back("ce");
    EXPECT_EQ(term_names(r), want);
    EXPECT_EQ(loss.term_names(), want);
    if (a > 0.0) {
      EXPECT_TRUE(close64(term(r, "kd"), kd));
    }
    if (b > 0.0) {
      EXPECT_TRUE(close64(term(r, "ce"), ce));
    }
    EXPECT_EQ(r.temperature, 3.0);
    EXPECT_EQ(r.kd_weight, a);
    EXPECT_EQ(r.total.dim(), 0);
    EXPECT_EQ(r.total.dtype(), DType::F64);
    for (const auto& [n, v] : r.terms) EXPECT_FALSE(v.requires_grad()) << n;
    // d(student): KD + CE from one teacher is one fused term; it must match the separate losses.
    Tensor sf = s.detach().clone(), sc = s.detach().clone();
    sf.requires_grad_();
    sc.requires_grad_();
    loss.compute(logits_only(sf), {logits_only(t)}, y, 0.5).total.backward();
    Tensor composed = ops::mul(ops::cross_entropy(sc, y), b);
    if (a > 0.0) composed = ops::add(composed, ops::mul(distill::kd_loss(sc, t, 3.0), a));
    composed.backward();
    EXPECT_TRUE(testing::all_close(sf.grad(), sc.grad())) << "d(student)";
  }
}

TEST(DistillComposition, TotalInF32MatchesWithinTolerance) {
  const auto student = make("cnn_small", 1), teacher = make("cnn_small", 2);
  const Tensor s = testing::random({8, kClasses}, 21, false, -4.0, 4.0).to(DType::F32);
  const Tensor t = testing::random({8, kClasses}, 22, false, -4.0, 4.0).to(DType::F32);
  const Tensor y = labels_for(8);
  LossConfig c;  // 0.9 kd + 0.1 ce, T = 4
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(t)}, y, 0.0);
  const Tensor expected = ops::add(ops::mul(distill::kd_loss(s, t, 4.0), 0.9), ops::mul(ops::cross_entropy(s, y), 0.1));
  EXPECT_TRUE(testing::all_close(r.total, expected, testing::tolerance_for(DType::F32)));
  EXPECT_EQ(r.total.dtype(), DType::F32);
}

TEST(DistillComposition, LabelSmoothingAndMseTerms) {
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  const Tensor s = testing::random({5, kClasses}, 31, false, -2.0, 2.0);
  const Tensor t = testing::random({5, kClasses}, 32, false, -2.0, 2.0);
  const Tensor y = labels_for(5);
  LossConfig c;
  c.kd_weight = 0.5;
  c.ce_weight = 0.25;
  c.mse_weight = 0.75;
  c.label_smoothing = 0.2;
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(t)}, y, 0.0);
  const double kd = distill::kd_loss(s, t, 4.0).item<double>();
  const double ce = ops::cross_entropy(s, y, 0.2).item<double>();
  const double mse = distill::logit_mse(s, t).item<double>();
  EXPECT_EQ(term_names(r), (std::vector<std::string>{"kd", "ce", "mse"}));
  EXPECT_TRUE(close64(term(r, "ce"), ce));
  EXPECT_TRUE(close64(term(r, "mse"), mse));
  EXPECT_TRUE(close64(r.total.item<double>(), 0.5 * kd + 0.25 * ce + 0.75 * mse));
  EXPECT_NE(ce, ops::cross_entropy(s, y).item<double>());  // the smoothing is applied

  // Without teacher outputs a teacher-reading loss refuses to compute.
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)loss.compute(logits_only(s), {}, y, 0.0); },
                                      "the loss needs teacher outputs"));
}

TEST(DistillComposition, AnnealingAndTemperatureFollowProgress) {
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  const Tensor s = testing::random({4, kClasses}, 41, false, -3.0, 3.0);
  const Tensor t = testing::random({4, kClasses}, 42, false, -3.0, 3.0);
  const Tensor y = labels_for(4);
  LossConfig c;
  c.kd_weight = 0.8;
  c.ce_weight = 0.2;
  c.temperature = {4.0, 1.0, distill::ScheduleShape::Linear};
  c.annealing = {true, distill::ScheduleShape::Linear};
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const double ce = ops::cross_entropy(s, y).item<double>();
  double previous_weight = 1e9;
  for (double p : {0.0, 0.25, 0.5, 1.0}) {
    SCOPED_TRACE(p);
    const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(t)}, y, p);
    const double T = 4.0 + (1.0 - 4.0) * p, w = 0.8 * (1.0 - p);
    EXPECT_TRUE(close64(r.temperature, T));
    EXPECT_TRUE(close64(r.kd_weight, w));
    EXPECT_LT(r.kd_weight, previous_weight);
    previous_weight = r.kd_weight;
    const double kd = distill::kd_loss(s, t, T).item<double>();
    EXPECT_TRUE(close64(term(r, "kd"), kd));  // unweighted, at the scheduled temperature
    EXPECT_TRUE(close64(r.total.item<double>(), w * kd + 0.2 * ce));
  }
  // Without annealing the weight stays; a cosine temperature is flat at the ends.
  LossConfig flat = c;
  flat.annealing.enabled = false;
  flat.temperature = {4.0, 2.0, distill::ScheduleShape::Cosine};
  Generator gen2(0);
  DistillLoss loss2(flat, *student, {teacher.get()}, gen2);
  const DistillLoss::Result r = loss2.compute(logits_only(s), {logits_only(t)}, y, 0.5);
  EXPECT_EQ(r.kd_weight, 0.8);
  EXPECT_TRUE(close64(r.temperature, 3.0));
  EXPECT_TRUE(close64(loss2.compute(logits_only(s), {logits_only(t)}, y, 1.0).temperature, 2.0));
}

TEST(DistillComposition, MultiTeacherUsesEnsembleForm) {
  const auto student = make("cnn_small", 1, DType::F64);
  const auto t1 = make("cnn_small", 2, DType::F64), t2 = make("cnn_small", 3, DType::F64);
  const Tensor s = testing::random({4, kClasses}, 51, false, -3.0, 3.0);
  const Tensor a = testing::random({4, kClasses}, 52, false, -3.0, 3.0);
  const Tensor b = testing::random({4, kClasses}, 53, false, -3.0, 3.0);
  const Tensor y = labels_for(4);
  for (distill::EnsembleMode mode : {distill::EnsembleMode::Average, distill::EnsembleMode::Sum}) {
    SCOPED_TRACE(distill::ensemble_mode_name(mode));
    LossConfig c;
    c.kd_weight = 0.7;
    c.ce_weight = 0.3;
    c.ensemble = mode;
    c.teacher_weights = {1.0, 3.0};
    Generator gen(0);
    DistillLoss loss(c, *student, {t1.get(), t2.get()}, gen);
    const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(a), logits_only(b)}, y, 0.0);
    const double kd = distill::multi_teacher_kd(s, {a, b}, {1.0, 3.0}, 4.0, mode).item<double>();
    EXPECT_TRUE(close64(term(r, "kd"), kd));
    EXPECT_TRUE(close64(r.total.item<double>(), 0.7 * kd + 0.3 * ops::cross_entropy(s, y).item<double>()));
    // Not the first teacher's plain KD.
    EXPECT_GT(std::abs(kd - distill::kd_loss(s, a, 4.0).item<double>()), 1e-6);
  }
}

TEST(DistillComposition, ConfidenceGammaUsesWeightedKd) {
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  const Tensor s = testing::random({6, kClasses}, 61, false, -3.0, 3.0);
  const Tensor t = testing::random({6, kClasses}, 62, false, -5.0, 5.0);
  const Tensor y = labels_for(6);
  LossConfig c;
  c.kd_weight = 1.0;
  c.ce_weight = 0.0;
  c.confidence_gamma = 2.0;
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const DistillLoss::Result r = loss.compute(logits_only(s), {logits_only(t)}, y, 0.0);
  const double weighted = distill::confidence_weighted_kd(s, t, 4.0, 2.0).item<double>();
  EXPECT_TRUE(close64(r.total.item<double>(), weighted));
  EXPECT_TRUE(close64(term(r, "kd"), weighted));
  EXPECT_LT(weighted, distill::kd_loss(s, t, 4.0).item<double>());  // weights (1 - max p)^2 < 1
}

// ------------------------------------------------------------------------------ feature terms

// cnn_small at 8x8: conv1 [2,16,4,4], conv2 [2,32,2,2], hidden [2,128];
// resnet20 at 8x8: stem/layer1 [2,16,8,8], layer2 [2,32,4,4], layer3 [2,64,2,2], pool [2,64].
TEST(DistillComposition, DefaultFeaturesAreResolved) {
  const auto student = make("cnn_small", 1), teacher = make("resnet20", 2);
  const auto s_shapes = distill::probe_feature_shapes(*student);
  ASSERT_EQ(s_shapes.size(), 3u);
  EXPECT_EQ(s_shapes[1].first, "conv2");
  EXPECT_EQ(s_shapes[1].second, (Shape{2, 32, 2, 2}));
  const auto t_shapes = distill::probe_feature_shapes(*teacher);
  EXPECT_EQ(t_shapes.back().first, "pool");
  EXPECT_TRUE(student->is_training());  // the probe restores the mode

  LossConfig c;
  for (const char* f : {"hint", "at:5", "rkd_distance", "rkd_angle", "pkt", "sp", "at@conv1=layer2:3"})
    c.features.push_back(FeatureLossSpec::parse(f));
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  EXPECT_TRUE(loss.needs_teacher_features());
  const std::vector<FeatureLossSpec> r = loss.resolved_features();
  ASSERT_EQ(r.size(), 7u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"conv2", "layer3"}, {"conv2", "layer3"}, {"hidden", "pool"}, {"hidden", "pool"},
      {"hidden", "pool"},  {"hidden", "pool"},  {"conv1", "layer2"}};
  for (size_t i = 0; i < r.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r[i].student_feature, want[i].first);
    EXPECT_EQ(r[i].teacher_feature, want[i].second);
    EXPECT_EQ(r[i].kind, c.features[i].kind);
    EXPECT_EQ(r[i].weight, c.features[i].weight);
  }
  EXPECT_EQ(loss.term_names(),
            (std::vector<std::string>{"kd", "ce", "hint@conv2=layer3:1", "at@conv2=layer3:5",
                                      "rkd_distance@hidden=pool:1", "rkd_angle@hidden=pool:1", "pkt@hidden=pool:1",
                                      "sp@hidden=pool:1", "at@conv1=layer2:3"}));
  // Only the hint term has learned parameters.
  for (const auto& [n, p] : loss.named_parameters()) EXPECT_EQ(n.rfind("hint0.", 0), 0u) << n;
}

// Runs both models and the loss on a batch; returns the result (teacher under no-grad).
DistillLoss::Result run_batch(DistillLoss& loss, nn::Model& student, nn::Model& teacher, const Tensor& x,
                              const Tensor& y) {
  std::vector<std::string> s_names, t_names;
  for (const FeatureLossSpec& f : loss.resolved_features()) {
    s_names.push_back(f.student_feature);
    t_names.push_back(f.teacher_feature);
  }
  ModelOutputs s, t;
  s.logits = student.forward_features(x, &s.features);
  {
    autograd::NoGradGuard ng;
    teacher.eval();
    t.logits = teacher.forward_features(x, &t.features);
  }
  return loss.compute(s, {t}, y, 0.0);
}

TEST(DistillComposition, HintTermTrainsItsRegressor) {
  const auto student = make("cnn_small", 1), teacher = make("resnet20", 2);
  LossConfig c;
  c.kd_weight = 0.5;
  c.ce_weight = 0.5;
  c.features = {FeatureLossSpec::parse("hint:2"), FeatureLossSpec::parse("rkd_distance:0.5")};
  Generator gen(5);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const nn::NamedTensors params = loss.named_parameters();
  std::vector<std::string> names;
  for (const auto& [n, p] : params) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"hint0.conv.weight", "hint0.bn.weight", "hint0.bn.bias"}));
  EXPECT_EQ(params[0].second.shape(), (Shape{64, 32, 1, 1}));  // student conv2 32 -> teacher layer3 64 channels
  for (const auto& [n, p] : params) EXPECT_TRUE(p.requires_grad()) << n;
  std::vector<std::string> state;
  for (const auto& [n, t] : loss.state_dict()) state.push_back(n);
  EXPECT_EQ(state.front(), "hint0.conv.weight");
  EXPECT_NE(std::find(state.begin(), state.end(), "hint0.bn.running_mean"), state.end());

  Generator data(9);
  const Tensor x = randn({4, 1, 8, 8}, data);
  const Tensor y = labels_for(4);
  const DistillLoss::Result r = run_batch(loss, *student, *teacher, x, y);
  EXPECT_EQ(term_names(r),
            (std::vector<std::string>{"kd", "ce", "hint@conv2=layer3:2", "rkd_distance@hidden=pool:0.5"}));
  double expected = 0.0;
  for (const auto& [n, v] : r.terms) {
    EXPECT_TRUE(std::isfinite(v.item<double>())) << n;
    EXPECT_GT(v.item<double>(), 0.0) << n;
    const double w = n == "kd" ? 0.5 : n == "ce" ? 0.5 : n[0] == 'h' ? 2.0 : 0.5;
    expected += w * v.item<double>();
  }
  EXPECT_NEAR(r.total.item<double>(), expected, 1e-5 * std::abs(expected));
  r.total.backward();
  for (const auto& [n, p] : params) {
    ASSERT_TRUE(p.grad().defined()) << n;
    double norm = 0.0;
    for (float g : p.grad().to_vector<float>()) {
      EXPECT_TRUE(std::isfinite(g)) << n;
      norm += static_cast<double>(g) * g;
    }
    EXPECT_GT(norm, 0.0) << n;
  }
  // The student gets gradients through its features too; the teacher none.
  for (const auto& [n, p] : student->named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
  for (const auto& [n, p] : teacher->named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
}

TEST(DistillComposition, FeatureNameAndShapeErrors) {
  const auto student = make("cnn_small", 1), teacher = make("resnet20", 2);
  const auto build = [&](const std::string& spec) {
    return [&, spec] {
      LossConfig c;
      c.features = {FeatureLossSpec::parse(spec)};
      Generator gen(0);
      DistillLoss loss(c, *student, {teacher.get()}, gen);
    };
  };
  EXPECT_TRUE(throws_with<ValueError>(build("hint@nope=layer3"), "the student has no feature 'nope'"));
  EXPECT_TRUE(throws_with<ValueError>(build("hint@nope=layer3"), "conv1 [2, 16, 4, 4], conv2 [2, 32, 2, 2], hidden"));
  EXPECT_TRUE(throws_with<ValueError>(build("at@conv2=layer9"), "the teacher has no feature 'layer9'"));
  EXPECT_TRUE(throws_with<ValueError>(build("at@conv2=layer9"), "stem"));
  EXPECT_TRUE(throws_with<ValueError>(build("at@conv2=layer9"), "pool [2, 64]"));
  // Spatial sizes differ (4x4 vs 2x2), or a 2-D feature for a spatial term.
  EXPECT_TRUE(throws_with<ShapeError>(build("hint@conv1=layer3"), "same height and width"));
  EXPECT_TRUE(throws_with<ShapeError>(build("hint@conv1=layer3"), "student [2, 16, 4, 4], teacher [2, 64, 2, 2]"));
  EXPECT_TRUE(throws_with<ShapeError>(build("at@hidden=layer3"), "at@hidden=layer3:1"));
  EXPECT_TRUE(throws_with<ShapeError>(build("at@conv2=pool"), "needs 4-D features"));
  // Matching sizes are accepted.
  EXPECT_NO_THROW(build("hint@conv1=layer2")());
  EXPECT_NO_THROW(build("sp@conv1=layer1")());  // relation terms flatten, any sizes
}

TEST(DistillComposition, MissingFeatureInOutputsIsValueError) {
  const auto student = make("cnn_small", 1), teacher = make("resnet20", 2);
  LossConfig c;
  c.features = {FeatureLossSpec::parse("at")};
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const Tensor s = zeros({2, kClasses}), y = labels_for(2);
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)loss.compute(logits_only(s), {logits_only(s)}, y, 0.0); },
                                      "the student outputs lack the feature 'conv2'"));
}

TEST(DistillComposition, RegressorStateRoundTrips) {
  const auto student = make("cnn_small", 1), teacher = make("resnet20", 2);
  LossConfig c;
  c.features = {FeatureLossSpec::parse("at"), FeatureLossSpec::parse("hint@conv1=layer2"),
                FeatureLossSpec::parse("hint")};
  Generator g1(1), g2(2);
  DistillLoss a(c, *student, {teacher.get()}, g1), b(c, *student, {teacher.get()}, g2);
  // Regressor names carry the term index (0 is the AT term, without one).
  std::vector<std::string> names;
  for (const auto& [n, p] : a.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"hint1.conv.weight", "hint1.bn.weight", "hint1.bn.bias",
                                             "hint2.conv.weight", "hint2.bn.weight", "hint2.bn.bias"}));
  // Move a's running statistics with a train-mode batch.
  Generator data(3);
  const Tensor x = randn({4, 1, 8, 8}, data);
  (void)run_batch(a, *student, *teacher, x, labels_for(4));
  const auto differ = [](const nn::NamedTensors& p, const nn::NamedTensors& q) {
    int n = 0;
    for (size_t i = 0; i < p.size(); ++i) n += p[i].second.to_vector<double>() != q[i].second.to_vector<double>();
    return n;
  };
  ASSERT_EQ(a.state_dict().size(), b.state_dict().size());
  EXPECT_GT(differ(a.state_dict(), b.state_dict()), 0);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(differ(a.state_dict(), b.state_dict()), 0);
  // The handles stay those the optimizer holds: load copies in place.
  const nn::NamedTensors before = b.named_parameters();
  b.load_state_dict(a.state_dict());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(before[i].second.is_same(b.named_parameters()[i].second));
  // A state with a wrong shape is refused.
  nn::NamedTensors bad = a.state_dict();
  bad[0].second = zeros({1, 1, 1, 1});
  EXPECT_THROW(b.load_state_dict(bad), ValueError);
}

TEST(DistillComposition, HintTermWithF64Models) {
  // The gradient-check dtype: a hint term between f64 models should compute in f64.
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  LossConfig c;
  c.features = {FeatureLossSpec::parse("hint")};
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  Generator data(3);
  const Tensor x = randn({4, 1, 8, 8}, data, DType::F64);
  for (const auto& [n, p] : loss.named_parameters()) EXPECT_EQ(p.dtype(), DType::F64) << n;
  const DistillLoss::Result r = run_batch(loss, *student, *teacher, x, labels_for(4));
  EXPECT_EQ(r.total.dtype(), DType::F64);
  EXPECT_TRUE(std::isfinite(r.total.item<double>()));
}

// ------------------------------------------------------------------------------ gradient check

TEST(DistillComposition, GradcheckTotalWrtStudentLogits) {
  const auto student = make("cnn_small", 1, DType::F64), teacher = make("cnn_small", 2, DType::F64);
  LossConfig c;
  c.kd_weight = 0.6;
  c.ce_weight = 0.3;
  c.mse_weight = 0.2;
  c.label_smoothing = 0.1;
  c.temperature = {4.0, 2.0, distill::ScheduleShape::Linear};
  Generator gen(0);
  DistillLoss loss(c, *student, {teacher.get()}, gen);
  const Tensor t = testing::random({5, kClasses}, 72, false, -3.0, 3.0);
  const Tensor y = labels_for(5);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return loss.compute(logits_only(in[0]), {logits_only(t)}, y, 0.4).total; },
      {testing::leaf({5, kClasses}, 71)}));
  // Confidence-weighted and two-teacher forms too.
  LossConfig conf = c;
  conf.confidence_gamma = 1.5;
  Generator gen2(0);
  DistillLoss loss2(conf, *student, {teacher.get()}, gen2);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return loss2.compute(logits_only(in[0]), {logits_only(t)}, y, 0.0).total; },
      {testing::leaf({5, kClasses}, 73)}));
  // Without smoothing, KD + CE is the fused term (ops::kd_hard_loss_parts), here beside logit MSE.
  LossConfig plain = c;
  plain.label_smoothing = 0.0;
  Generator gen4(0);
  DistillLoss loss4(plain, *student, {teacher.get()}, gen4);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Tensor>& in) { return loss4.compute(logits_only(in[0]), {logits_only(t)}, y, 0.4).total; },
      {testing::leaf({5, kClasses}, 76)}));
  LossConfig two = c;
  two.mse_weight = 0.0;  // logit MSE reads one teacher
  two.teacher_weights = {2.0, 1.0};
  Generator gen3(0);
  DistillLoss loss3(two, *student, {teacher.get(), teacher.get()}, gen3);
  const Tensor t2 = testing::random({5, kClasses}, 74, false, -3.0, 3.0);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return loss3.compute(logits_only(in[0]), {logits_only(t), logits_only(t2)}, y, 0.0).total;
      },
      {testing::leaf({5, kClasses}, 75)}));
}

}  // namespace
}  // namespace kdcu
