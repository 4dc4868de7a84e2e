// distill logit losses: kd_loss, logit_mse, ensemble soft targets, multi-teacher KD and
// confidence-weighted KD against independent loop references, f64 gradient checks w.r.t. the
// student (and teachers where they may carry grad), finiteness, and errors naming expected vs found.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/factories.h"
#include "distill/logit_losses.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::gradcheck;
using testing::leaf;
using testing::random;
using testing::throws_with;

::testing::AssertionResult close(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

using Rows = std::vector<std::vector<double>>;

// softmax(x / T) of each row, with probabilities (fine for moderate logits).
Rows softmax_rows(const Tensor& x, double T) {
  const std::int64_t B = x.size(0), C = x.size(1);
  const std::vector<double> v = x.to_vector<double>();
  Rows p(static_cast<size_t>(B), std::vector<double>(static_cast<size_t>(C)));
  for (std::int64_t b = 0; b < B; ++b) {
    double z = 0.0;
    for (std::int64_t c = 0; c < C; ++c) z += std::exp(v[static_cast<size_t>(b * C + c)] / T);
    for (std::int64_t c = 0; c < C; ++c)
      p[static_cast<size_t>(b)][static_cast<size_t>(c)] = std::exp(v[static_cast<size_t>(b * C + c)] / T) / z;
  }
  return p;
}

// T^2 KL(pt_b || ps_b) of each row.
std::vector<double> kl_rows(const Rows& pt, const Rows& ps, double T) {
  std::vector<double> out;
  for (size_t b = 0; b < pt.size(); ++b) {
    double kl = 0.0;
    for (size_t c = 0; c < pt[b].size(); ++c) kl += pt[b][c] * std::log(pt[b][c] / ps[b][c]);
    out.push_back(T * T * kl);
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

// ----------------------------------------------------------------------------- kd_loss, logit_mse

TEST(DistillKd, ValueIsTemperatureSquaredKlBatchmean) {
  const Tensor s = random({4, 5}, 1, false, -3.0, 3.0), t = random({4, 5}, 2, false, -3.0, 3.0);
  for (double T : {1.0, 2.0, 4.0}) {
    const double ref = mean_of(kl_rows(softmax_rows(t, T), softmax_rows(s, T), T));
    EXPECT_TRUE(close(distill::kd_loss(s, t, T).item<double>(), ref)) << T;
  }
  EXPECT_EQ(distill::kd_loss(s, s, 4.0).item<double>(), 0.0);
}

TEST(DistillKd, GradientsToStudentAndTeacher) {
  const Tensor s = leaf({3, 4}, 3);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::kd_loss(in[0], in[1], 3.0); },
                        {s, random({3, 4}, 4, false, -2.0, 2.0)}));
  // The teacher gets a gradient when it requires one.
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::kd_loss(in[0], in[1], 2.0); },
                        {s, leaf({3, 4}, 5)}));
}

TEST(DistillLogitMse, ValueAndGradient) {
  const Tensor s = from_vector<double>({1, 2, 3, 4}, {2, 2}), t = from_vector<double>({0, 2, 5, 1}, {2, 2});
  EXPECT_TRUE(close(distill::logit_mse(s, t).item<double>(), (1.0 + 0.0 + 4.0 + 9.0) / 4));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::logit_mse(in[0], in[1]); },
                        {leaf({3, 5}, 6), random({3, 5}, 7)}));
}

TEST(DistillKd, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::kd_loss(s, zeros({2, 4}), 2.0);
      },
      "kd_loss: expected teacher logits of the student's shape [2, 3], found [2, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { distill::kd_loss(zeros({6}), zeros({6}), 2.0); },
                                      "kd_loss: expected student logits of shape [B, C], found [6]"));
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::kd_loss(s, s, 0.0); },
                                      "kd_loss: temperature must be finite and > 0, found 0"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::logit_mse(s, zeros({3, 3}));
      },
      "logit_mse: expected teacher logits of the student's shape [2, 3], found [3, 3]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        distill::logit_mse(s, zeros({2, 3}, DType::F64));
      },
      "logit_mse: dtypes differ (f32 and f64)"));
}

// ----------------------------------------------------------------------------- multiple teachers

TEST(DistillEnsemble, SoftTargetsAreTheWeightedAverage) {
  const double T = 2.0;
  const std::vector<Tensor> t = {random({3, 4}, 8, false, -3.0, 3.0), random({3, 4}, 9, false, -3.0, 3.0)};
  const Rows p0 = softmax_rows(t[0], T), p1 = softmax_rows(t[1], T);
  const auto expected = [&](double w0, double w1) {
    std::vector<double> v;
    for (size_t b = 0; b < 3; ++b)
      for (size_t c = 0; c < 4; ++c) v.push_back(w0 * p0[b][c] + w1 * p1[b][c]);
    return from_vector<double>(v, {3, 4});
  };
  EXPECT_TRUE(testing::all_close(distill::ensemble_soft_targets(t, {}, T), expected(0.5, 0.5)));
  EXPECT_TRUE(testing::all_close(distill::ensemble_soft_targets(t, {1.0, 3.0}, T), expected(0.25, 0.75)))
      << "weights are normalized to sum 1";
  EXPECT_TRUE(testing::all_close(distill::ensemble_soft_targets(t, {0.0, 2.0}, T), expected(0.0, 1.0)));
}

TEST(DistillMultiTeacher, AverageIsKdAgainstTheAveragedDistribution) {
  const double T = 3.0;
  const Tensor s = random({4, 5}, 10, false, -3.0, 3.0);
  const std::vector<Tensor> t = {random({4, 5}, 11, false, -3.0, 3.0), random({4, 5}, 12, false, -3.0, 3.0),
                                 random({4, 5}, 13, false, -3.0, 3.0)};
  const std::vector<double> w = {1.0, 2.0, 1.0};
  Rows avg(4, std::vector<double>(5, 0.0));
  for (size_t k = 0; k < 3; ++k) {
    const Rows p = softmax_rows(t[k], T);
    for (size_t b = 0; b < 4; ++b)
      for (size_t c = 0; c < 5; ++c) avg[b][c] += w[k] / 4.0 * p[b][c];
  }
  const double ref = mean_of(kl_rows(avg, softmax_rows(s, T), T));
  EXPECT_TRUE(close(distill::multi_teacher_kd(s, t, w, T, distill::EnsembleMode::Average).item<double>(), ref));
  // One teacher: exactly Hinton's KD (up to rounding of log(softmax)).
  EXPECT_TRUE(
      close(distill::multi_teacher_kd(s, {t[0]}, {}, T).item<double>(), distill::kd_loss(s, t[0], T).item<double>()));
}

TEST(DistillMultiTeacher, SumIsWeightedSumOfKdTerms) {
  const double T = 2.0;
  const Tensor s = random({3, 4}, 14, false, -3.0, 3.0);
  const std::vector<Tensor> t = {random({3, 4}, 15, false, -3.0, 3.0), random({3, 4}, 16, false, -3.0, 3.0)};
  const double k0 = distill::kd_loss(s, t[0], T).item<double>(), k1 = distill::kd_loss(s, t[1], T).item<double>();
  EXPECT_TRUE(close(distill::multi_teacher_kd(s, t, {}, T, distill::EnsembleMode::Sum).item<double>(), k0 + k1))
      << "equal weights are 1 each";
  EXPECT_TRUE(close(distill::multi_teacher_kd(s, t, {0.5, 3.0}, T, distill::EnsembleMode::Sum).item<double>(),
                    0.5 * k0 + 3.0 * k1))
      << "weights are used as given";
}

TEST(DistillMultiTeacherGrad, BothModesStudentAndTeachers) {
  const Tensor s = leaf({3, 4}, 17);
  const std::vector<Tensor> fixed = {random({3, 4}, 18, false, -2.0, 2.0), random({3, 4}, 19, false, -2.0, 2.0)};
  for (distill::EnsembleMode mode : {distill::EnsembleMode::Average, distill::EnsembleMode::Sum}) {
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) {
          return distill::multi_teacher_kd(in[0], fixed, {1.0, 3.0}, 2.5, mode);
        },
        {s}))
        << distill::ensemble_mode_name(mode);
    // Teachers that require grad get one through the softmax / log (Average) or kd_kl_div (Sum).
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) {
          return distill::multi_teacher_kd(in[0], {in[1], in[2]}, {}, 2.0, mode);
        },
        {s, leaf({3, 4}, 20), leaf({3, 4}, 21)}))
        << distill::ensemble_mode_name(mode);
  }
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return distill::ensemble_soft_targets({in[0], in[1]}, {2.0, 1.0}, 2.0);
      },
      {leaf({2, 3}, 22), leaf({2, 3}, 23)}));
}

TEST(DistillMultiTeacher, UnderflowedTeacherProbabilityStaysFinite) {
  // exp(-2e4) underflows: the averaged probability of class 0 is 0 in both dtypes, clamped before the log.
  for (DType d : {DType::F32, DType::F64}) {
    Tensor s = from_vector<double>({1, 0, -1, 0.5, 0.5, 0}, {2, 3}).to(d);
    s.requires_grad_();
    const std::vector<Tensor> t = {from_vector<double>({-1e4, 1e4, 0, 0, 1, 2}, {2, 3}).to(d),
                                   from_vector<double>({-1e4, 0, 1e4, 2, 1, 0}, {2, 3}).to(d)};
    const Tensor loss = distill::multi_teacher_kd(s, t, {}, 1.0);
    EXPECT_TRUE(all_finite(loss)) << dtype_name(d);
    loss.backward();
    EXPECT_TRUE(all_finite(s.grad())) << dtype_name(d);
  }
}

TEST(DistillEnsemble, ModeNamesRoundTrip) {
  for (distill::EnsembleMode m : {distill::EnsembleMode::Average, distill::EnsembleMode::Sum})
    EXPECT_EQ(distill::parse_ensemble_mode(distill::ensemble_mode_name(m)), m);
  EXPECT_TRUE(throws_with<ValueError>([] { distill::parse_ensemble_mode("mean"); },
                                      "unknown ensemble mode 'mean' (expected one of 'average', 'sum')"));
}

TEST(DistillEnsemble, ErrorsNameExpectedAndFound) {
  const Tensor a = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>([] { distill::ensemble_soft_targets({}, {}, 2.0); },
                                      "ensemble_soft_targets: expected at least one teacher's logits, found none"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::ensemble_soft_targets({a, zeros({2, 4})}, {}, 2.0);
      },
      "ensemble_soft_targets: expected teacher 1 logits of teacher 0's shape [2, 3], found [2, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { distill::ensemble_soft_targets({zeros({6})}, {}, 2.0); },
                                      "expected teacher 0 logits of shape [B, C], found [6]"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        distill::ensemble_soft_targets({a, a}, {1.0}, 2.0);
      },
      "ensemble_soft_targets: expected one weight per teacher (2), found 1 weights"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        distill::ensemble_soft_targets({a, a}, {1.0, -0.5}, 2.0);
      },
      "expected finite weights >= 0, found -0.5 for teacher 1"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        distill::ensemble_soft_targets({a, a}, {0.0, 0.0}, 2.0);
      },
      "expected weights with a positive sum, found all 2 weights 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::ensemble_soft_targets({a}, {}, -1.0); },
                                      "ensemble_soft_targets: temperature must be finite and > 0, found -1"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::multi_teacher_kd(zeros({3, 3}), {a, a}, {}, 2.0);
      },
      "multi_teacher_kd: expected teacher logits of the student's shape [3, 3], found [2, 3]"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        distill::multi_teacher_kd(a, {a, a}, {1.0, 2.0, 3.0}, 2.0, distill::EnsembleMode::Sum);
      },
      "multi_teacher_kd: expected one weight per teacher (2), found 3 weights"));
}

// ----------------------------------------------------------------------------- confidence-weighted KD

TEST(DistillConfidenceKd, RowsWeightedByTeacherUncertainty) {
  const double T = 2.0, gamma = 1.5;
  const Tensor s = random({4, 5}, 24, false, -3.0, 3.0), t = random({4, 5}, 25, false, -3.0, 3.0);
  const Rows pt = softmax_rows(t, T);
  const std::vector<double> kd = kl_rows(pt, softmax_rows(s, T), T);
  double ref = 0.0;
  for (size_t b = 0; b < 4; ++b) ref += std::pow(1.0 - *std::max_element(pt[b].begin(), pt[b].end()), gamma) * kd[b];
  EXPECT_TRUE(close(distill::confidence_weighted_kd(s, t, T, gamma).item<double>(), ref / 4));
  EXPECT_TRUE(
      close(distill::confidence_weighted_kd(s, t, T, 0.0).item<double>(), distill::kd_loss(s, t, T).item<double>()))
      << "gamma 0 is plain KD";
}

TEST(DistillConfidenceKdGrad, StudentGradient) {
  for (double gamma : {0.0, 1.0, 2.5}) {
    EXPECT_TRUE(gradcheck(
        [gamma](const std::vector<Tensor>& in) { return distill::confidence_weighted_kd(in[0], in[1], 2.0, gamma); },
        {leaf({3, 4}, 26), random({3, 4}, 27, false, -2.0, 2.0)}))
        << gamma;
  }
}

TEST(DistillConfidenceKd, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({2, 3});
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::confidence_weighted_kd(s, s, 2.0, -1.0); },
                                      "confidence_weighted_kd: gamma must be finite and >= 0, found -1"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::confidence_weighted_kd(s, zeros({2, 2}), 2.0, 1.0);
      },
      "confidence_weighted_kd: expected teacher logits of the student's shape [2, 3], found [2, 2]"));
  EXPECT_TRUE(throws_with<ValueError>([&] { distill::confidence_weighted_kd(s, s, 0.0, 1.0); },
                                      "confidence_weighted_kd: temperature must be finite and > 0, found 0"));
}

}  // namespace
}  // namespace kdcu
