// Losses: hand-computed values, reductions against each other, gradients against their closed
// forms and f64 gradient checks for every reduction (and every temperature for KD), finiteness
// for logits of +-1e4, f32 against f64, poisoned kernel outputs, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cpu/kd_loss.h"
#include "kernels/cpu/loss.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::leaf;
using testing::random;

using testing::throws_with;

using ops::Reduction;
using testing::gradcheck;

// a == b within the f64 tolerance of checks.h.
::testing::AssertionResult close(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

const Reduction kAll[] = {Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean};

TEST(Reduction, NamesRoundTrip) {
  for (Reduction r : kAll) EXPECT_EQ(ops::parse_reduction(ops::reduction_name(r)), r);
  EXPECT_STREQ(ops::reduction_name(Reduction::BatchMean), "batchmean");
  EXPECT_TRUE(throws_with<ValueError>([] { ops::parse_reduction("avg"); },
                                      "unknown reduction 'avg' (expected one of 'none', 'mean', 'sum', 'batchmean')"));
}

// ----------------------------------------------------------------------------- cross-entropy

TEST(CrossEntropy, HandComputedValues) {
  // Row 0: p = [1, 2, 3] / 6, label 2: -log p = ln 2. Row 1: uniform over 3, label 0: ln 3.
  const Tensor logits = from_vector<double>({0, std::log(2.0), std::log(3.0), 0, 0, 0}, {2, 3});
  const Tensor labels = from_vector<std::int64_t>({2, 0});
  const double l0 = std::log(2.0), l1 = std::log(3.0);
  EXPECT_TRUE(
      testing::all_close(ops::cross_entropy(logits, labels, 0.0, Reduction::None), from_vector<double>({l0, l1})));
  EXPECT_TRUE(close(ops::cross_entropy(logits, labels).item<double>(), (l0 + l1) / 2));
  EXPECT_TRUE(close(ops::cross_entropy(logits, labels, 0.0, Reduction::Sum).item<double>(), l0 + l1));
  EXPECT_EQ(ops::cross_entropy(logits, labels).shape(), Shape{});
  // Smoothing 0.1: (1 - e)(-log p_y) + e mean_c(-log p_c); row 0's mean is (ln 6 + ln 3 + ln 2) / 3.
  const double e = 0.1;
  const double s0 = (1 - e) * l0 + e * (std::log(6.0) + std::log(3.0) + std::log(2.0)) / 3, s1 = l1;
  EXPECT_TRUE(
      testing::all_close(ops::cross_entropy(logits, labels, e, Reduction::None), from_vector<double>({s0, s1})));
  EXPECT_TRUE(close(ops::cross_entropy(logits, labels, e).item<double>(), (s0 + s1) / 2));
}

TEST(CrossEntropy, GradientIsSoftmaxMinusSmoothedOneHotOverN) {
  for (double e : {0.0, 0.3}) {
    Tensor x = leaf({4, 5}, 1);
    const std::vector<std::int64_t> y = {3, 0, 4, 3};
    ops::cross_entropy(x, from_vector<std::int64_t>(y), e).backward();
    std::vector<double> q(20, e / 5);
    for (size_t i = 0; i < 4; ++i) q[i * 5 + static_cast<size_t>(y[i])] += 1 - e;
    const Tensor expected = (ops::softmax(x.detach(), 1) - from_vector<double>(q, {4, 5})) / 4.0;
    EXPECT_TRUE(testing::all_close(x.grad(), expected)) << "smoothing " << e;
  }
}

TEST(CrossEntropy, FiniteForHugeLogits) {
  Tensor x = from_vector<float>({1e4f, -1e4f, 0.0f, -1e4f, 1e4f, 0.0f}, {2, 3});
  x.requires_grad_();
  const Tensor labels = from_vector<std::int64_t>({1, 1});
  const Tensor rows = ops::cross_entropy(x, labels, 0.0, Reduction::None);
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{2e4f, 0.0f}));
  const Tensor loss = ops::cross_entropy(x, labels, 0.1);
  EXPECT_TRUE(all_finite(loss));
  loss.backward();
  EXPECT_TRUE(all_finite(x.grad()));
}

TEST(CrossEntropyGrad, EachReductionWithAndWithoutSmoothing) {
  const Tensor x = leaf({5, 4}, 2);
  const Tensor labels = from_vector<std::int64_t>({0, 3, 1, 1, 2});
  for (double e : {0.0, 0.2}) {
    for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
      EXPECT_TRUE(
          gradcheck([&](const std::vector<Tensor>& in) { return ops::cross_entropy(in[0], labels, e, r); }, {x}))
          << "smoothing " << e << " reduction " << ops::reduction_name(r);
    }
  }
}

TEST(CrossEntropy, ErrorsNameExpectedAndFound) {
  const Tensor x = zeros({4, 3});
  const Tensor y = from_vector<std::int64_t>({0, 1, 2, 0});
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::cross_entropy(zeros({3}), y); },
                                      "cross_entropy: expected logits of shape [N, C], found [3]"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::cross_entropy(x, zeros({4})); },
                                      "expected labels of dtype i64 (class indices), found f32"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::cross_entropy(x, from_vector<std::int64_t>({0, 1, 2, 0, 1}));
      },
      "expected labels of shape [4] for logits [4, 3], found [5]"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::cross_entropy(x, from_vector<std::int64_t>({0, 3, 2, 0}));
      },
      "label 3 in row 1 is out of range for 3 classes (expected 0 <= label < 3)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::cross_entropy(x, from_vector<std::int64_t>({0, 1, 2, -1}));
      },
      "label -1 in row 3 is out of range"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { ops::cross_entropy(x, y, 0.0, Reduction::BatchMean); },
                              "reduction 'batchmean' is not valid here (expected one of 'none', 'mean', 'sum')"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { ops::cross_entropy(x, y, 1.5); }, "label_smoothing must be in [0, 1], found 1.5"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::cross_entropy(arange(4).reshape({2, 2}), from_vector<std::int64_t>({0, 1}));
      },
      "found i64"));
}

// The CPU raises a bad label at the call, so the deferred check (CUDA's) has nothing to report.
TEST(CrossEntropy, DeferredLabelCheckIsANoOpOnTheCpu) {
  EXPECT_NO_THROW(ops::check_deferred_label_errors(Device::cpu()));
  const Tensor x = zeros({2, 3});
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::cross_entropy(x, from_vector<std::int64_t>({0, 5}));
      },
      "label 5 in row 1 is out of range for 3 classes"));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(Device::cpu()));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(Device::cpu()));
}

// ----------------------------------------------------------------------------- mean squared error

TEST(MseLoss, HandComputedValues) {
  const Tensor x = from_vector<double>({1, 2, 3, 4}, {2, 2}), t = from_vector<double>({0, 2, 5, 1}, {2, 2});
  EXPECT_EQ(ops::mse_loss(x, t, Reduction::None).to_vector<double>(), (std::vector<double>{1, 0, 4, 9}));
  EXPECT_EQ(ops::mse_loss(x, t, Reduction::None).shape(), (Shape{2, 2}));
  EXPECT_EQ(ops::mse_loss(x, t).item<double>(), 3.5);
  EXPECT_EQ(ops::mse_loss(x, t, Reduction::Sum).item<double>(), 14.0);
}

TEST(MseLossGrad, EachReductionBothArguments) {
  const Tensor x = leaf({3, 4}, 3), t = leaf({3, 4}, 4);
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    EXPECT_TRUE(gradcheck([r](const std::vector<Tensor>& in) { return ops::mse_loss(in[0], in[1], r); }, {x, t}))
        << ops::reduction_name(r);
  }
}

TEST(MseLoss, ErrorsNameExpectedAndFound) {
  EXPECT_TRUE(throws_with<ShapeError>(
      [] {
        ops::mse_loss(zeros({2, 3}), zeros({3, 2}));
      },
      "mse_loss: expected equal shapes, found [2, 3] and [3, 2]"));
  EXPECT_TRUE(throws_with<DTypeError>([] { ops::mse_loss(zeros({2}), zeros({2}, DType::F64)); },
                                      "mse_loss: dtypes differ (f32 and f64)"));
  EXPECT_TRUE(throws_with<ValueError>([] { ops::mse_loss(zeros({2}), zeros({2}), Reduction::BatchMean); },
                                      "mse_loss: reduction 'batchmean' is not valid here"));
}

// ----------------------------------------------------------------------------- KD (KL divergence)

// T^2 sum_{b,c} p_t log(p_t / p_s), straight from the definition with probabilities (fine for
// moderate logits): an independent reference for the fused kernel.
double kd_reference_sum(const std::vector<double>& s, const std::vector<double>& t, size_t B, size_t C, double T) {
  double total = 0.0;
  for (size_t b = 0; b < B; ++b) {
    double zs = 0.0, zt = 0.0;
    for (size_t c = 0; c < C; ++c) zs += std::exp(s[b * C + c] / T), zt += std::exp(t[b * C + c] / T);
    for (size_t c = 0; c < C; ++c) {
      const double ps = std::exp(s[b * C + c] / T) / zs, pt = std::exp(t[b * C + c] / T) / zt;
      total += T * T * pt * std::log(pt / ps);
    }
  }
  return total;
}

TEST(KdKlDiv, ValuesAndReductions) {
  const Tensor s = random({3, 5}, 5, false, -3.0, 3.0), t = random({3, 5}, 6, false, -3.0, 3.0);
  for (double T : {1.0, 4.0}) {
    const double ref = kd_reference_sum(s.to_vector<double>(), t.to_vector<double>(), 3, 5, T);
    const double sum = ops::kd_kl_div(s, t, T, Reduction::Sum).item<double>();
    EXPECT_TRUE(close(sum, ref)) << T;
    EXPECT_TRUE(close(ops::kd_kl_div(s, t, T).item<double>(), sum / 3)) << "batchmean is the default";
    EXPECT_TRUE(close(ops::kd_kl_div(s, t, T, Reduction::BatchMean).item<double>(), sum / 3));
    EXPECT_TRUE(close(ops::kd_kl_div(s, t, T, Reduction::Mean).item<double>(), sum / 15));
    const Tensor none = ops::kd_kl_div(s, t, T, Reduction::None);
    EXPECT_EQ(none.shape(), (Shape{3, 5}));
    EXPECT_TRUE(close(ops::sum(none).item<double>(), sum));
  }
  // KL(p || p) = 0 exactly: log p_t - log p_s is computed the same way for both.
  for (Reduction r : kAll)
    EXPECT_EQ(ops::sum(ops::kd_kl_div(s, s, 4.0, r)).item<double>(), 0.0) << ops::reduction_name(r);
}

TEST(KdKlDiv, StudentGradientIsScaledDifferenceOfSoftmaxes) {
  const std::int64_t B = 4;
  for (double T : {1.0, 4.0, 8.0}) {
    Tensor s = leaf({B, 6}, 7, -3.0, 3.0);
    const Tensor t = random({B, 6}, 8, false, -3.0, 3.0);
    ops::kd_kl_div(s, t, T).backward();
    const Tensor expected = (ops::softmax(s.detach(), 1, T) - ops::softmax(t, 1, T)) * (T / static_cast<double>(B));
    EXPECT_TRUE(testing::all_close(s.grad(), expected)) << T;
    EXPECT_FALSE(t.grad().defined()) << "a teacher that does not require grad gets none";
  }
}

TEST(KdKlDiv, FiniteForHugeLogits) {
  Tensor s = from_vector<double>({1e4, -1e4, 0, -1e4, 1e4, 0}, {2, 3});
  Tensor t = from_vector<double>({-1e4, 1e4, 0, -1e4, 1e4, 0}, {2, 3});
  s.requires_grad_();
  t.requires_grad_();
  // Row 0: p_t = onehot(1) and log p_s(1) = -2e4, so T^2 KL = 2e4 at T = 1; row 1 is 0.
  const Tensor loss = ops::kd_kl_div(s, t, 1.0, Reduction::Sum);
  EXPECT_NEAR(loss.item<double>(), 2e4, 1e-9);
  loss.backward();
  EXPECT_TRUE(all_finite(s.grad()));
  EXPECT_TRUE(all_finite(t.grad()));
  for (double T : {4.0, 8.0}) {
    for (DType d : {DType::F32, DType::F64}) {
      const Tensor v = ops::kd_kl_div(s.detach().to(d), t.detach().to(d), T, Reduction::None);
      EXPECT_TRUE(all_finite(v)) << T;
    }
  }
}

TEST(KdKlDivGrad, EachReductionTemperatureAndTeacherGrad) {
  for (bool teacher_grad : {false, true}) {
    const Tensor s = leaf({3, 5}, 9), t = random({3, 5}, 10, teacher_grad, -2.0, 2.0);
    for (Reduction r : kAll) {
      for (double T : {1.0, 4.0, 8.0}) {
        EXPECT_TRUE(
            gradcheck([=](const std::vector<Tensor>& in) { return ops::kd_kl_div(in[0], in[1], T, r); }, {s, t}))
            << ops::reduction_name(r) << " T " << T << " teacher grad " << teacher_grad;
      }
    }
  }
}

TEST(Losses, F32MatchesF64) {
  Generator g(11);
  const Tensor a = rand({6, 7}, g, DType::F32, Device::cpu(), -4.0, 4.0);
  const Tensor b = rand({6, 7}, g, DType::F32, Device::cpu(), -4.0, 4.0);
  const Tensor labels = from_vector<std::int64_t>({0, 6, 3, 3, 1, 5});
  const testing::Tolerance tol = testing::tolerance_for(DType::F32);
  // Values and gradients of each loss, in f32 and in f64 from the same (exact) inputs.
  const auto run = [&](DType d, int which, Reduction r, Tensor* ga, Tensor* gb) {
    Tensor x = a.to(d).detach(), y = b.to(d).detach();  // fresh leaves even when d is f32
    x.requires_grad_();
    y.requires_grad_();
    Tensor loss = which == 0   ? ops::cross_entropy(x, labels, 0.1, r)
                  : which == 1 ? ops::mse_loss(x, y, r)
                               : ops::kd_kl_div(x, y, 4.0, r);
    ops::sum(loss).backward();
    *ga = x.grad();
    *gb = which == 0 ? Tensor() : y.grad();
    return loss;
  };
  for (int which = 0; which < 3; ++which) {
    for (Reduction r : kAll) {
      if (r == Reduction::BatchMean && which != 2) continue;
      Tensor ga32, gb32, ga64, gb64;
      const Tensor v32 = run(DType::F32, which, r, &ga32, &gb32), v64 = run(DType::F64, which, r, &ga64, &gb64);
      EXPECT_TRUE(testing::all_close(v32.to(DType::F64), v64, tol)) << which << " " << ops::reduction_name(r);
      EXPECT_TRUE(testing::all_close(ga32.to(DType::F64), ga64, tol)) << which << " " << ops::reduction_name(r);
      if (gb64.defined()) {
        EXPECT_TRUE(testing::all_close(gb32.to(DType::F64), gb64, tol)) << which;
      }
    }
  }
}

TEST(KdKlDiv, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::kd_kl_div(s, zeros({2, 4}), 2.0);
      },
      "kd_kl_div: expected teacher logits of the student's shape [2, 3], found [2, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::kd_kl_div(zeros({6}), zeros({6}), 2.0); },
                                      "expected student logits of shape [B, C], found [6]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::kd_kl_div(s, zeros({2, 3}, DType::F64), 2.0);
      },
      "kd_kl_div: dtypes differ (f32 and f64)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_kl_div(s, s, 0.0); },
                                      "kd_kl_div: temperature must be finite and > 0, found 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_kl_div(s, s, -2.0); }, "found -2"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { ops::kd_kl_div(s, s, std::numeric_limits<double>::quiet_NaN()); }, "found nan"));
}

// ----------------------------------------------------------------------------- hard-label KD (fused)

const double kHardTemperatures[] = {0.5, 1.0, 4.0, 20.0};
const double kHardAlphas[] = {0.0, 0.3, 1.0};

// alpha kd_kl_div + (1 - alpha) cross_entropy from the separate ops, with kd_hard_loss's reduction.
Tensor kd_hard_composition(const Tensor& s, const Tensor& t, const Tensor& y, double T, double alpha, Reduction r) {
  if (r == Reduction::None)
    return alpha * ops::sum(ops::kd_kl_div(s, t, T, Reduction::None), 1) +
           (1.0 - alpha) * ops::cross_entropy(s, y, 0.0, Reduction::None);
  if (r == Reduction::Sum)
    return alpha * ops::kd_kl_div(s, t, T, Reduction::Sum) +
           (1.0 - alpha) * ops::cross_entropy(s, y, 0.0, Reduction::Sum);
  return alpha * ops::kd_kl_div(s, t, T) + (1.0 - alpha) * ops::cross_entropy(s, y);
}

const Reduction kHardReductions[] = {Reduction::BatchMean, Reduction::Sum, Reduction::None};

TEST(KdHardLoss, EqualsTheCompositionOfKdKlDivAndCrossEntropy) {
  const Tensor s = random({5, 7}, 21, false, -3.0, 3.0), t = random({5, 7}, 22, false, -3.0, 3.0);
  const Tensor y = from_vector<std::int64_t>({0, 6, 3, 3, 1});
  for (double T : kHardTemperatures) {
    for (double alpha : kHardAlphas) {
      for (Reduction r : kHardReductions) {
        const std::string what =
            "T " + std::to_string(T) + " alpha " + std::to_string(alpha) + " " + ops::reduction_name(r);
        const Tensor fused = ops::kd_hard_loss(s, t, y, T, alpha, r);
        EXPECT_EQ(fused.shape(), r == Reduction::None ? Shape{5} : Shape{}) << what;
        EXPECT_TRUE(testing::all_close(fused, kd_hard_composition(s, t, y, T, alpha, r))) << what;
        // d(student), with a non-uniform upstream gradient for the per-row losses.
        const Tensor w = random({5}, 23, false, 0.5, 2.0);
        Tensor sf = s.detach(), sc = s.detach();
        sf.requires_grad_();
        sc.requires_grad_();
        const auto reduce = [&](const Tensor& loss) { return r == Reduction::None ? ops::sum(loss * w) : loss; };
        reduce(ops::kd_hard_loss(sf, t, y, T, alpha, r)).backward();
        reduce(kd_hard_composition(sc, t, y, T, alpha, r)).backward();
        EXPECT_TRUE(testing::all_close(sf.grad(), sc.grad())) << what << " d(student)";
      }
    }
  }
  EXPECT_TRUE(testing::all_close(ops::kd_hard_loss(s, t, y, 4.0, 0.3),
                                 ops::kd_hard_loss(s, t, y, 4.0, 0.3, Reduction::BatchMean)))
      << "batchmean is the default";
}

TEST(KdHardLossGrad, EachTemperatureAlphaAndReduction) {
  const Tensor s = leaf({4, 6}, 24), t = random({4, 6}, 25, false, -2.0, 2.0);
  const Tensor y = from_vector<std::int64_t>({5, 0, 2, 2});
  for (double T : kHardTemperatures) {
    for (double alpha : kHardAlphas) {
      for (Reduction r : kHardReductions) {
        EXPECT_TRUE(
            gradcheck([=](const std::vector<Tensor>& in) { return ops::kd_hard_loss(in[0], t, y, T, alpha, r); }, {s}))
            << "T " << T << " alpha " << alpha << " " << ops::reduction_name(r);
      }
    }
  }
}

TEST(KdHardLoss, F32MatchesF64AndStaysFiniteForHugeLogits) {
  Generator g(26);
  const Tensor a = rand({6, 7}, g, DType::F32, Device::cpu(), -4.0, 4.0);
  const Tensor b = rand({6, 7}, g, DType::F32, Device::cpu(), -4.0, 4.0);
  const Tensor y = from_vector<std::int64_t>({0, 6, 3, 3, 1, 5});
  for (Reduction r : kHardReductions) {
    Tensor grads[2], values[2];
    for (int i = 0; i < 2; ++i) {
      Tensor x = a.to(i == 0 ? DType::F32 : DType::F64).detach();
      x.requires_grad_();
      values[i] = ops::kd_hard_loss(x, b.to(x.dtype()), y, 4.0, 0.7, r);
      ops::sum(values[i]).backward();
      grads[i] = x.grad();
    }
    const testing::Tolerance tol = testing::tolerance_for(DType::F32);
    EXPECT_TRUE(testing::all_close(values[0].to(DType::F64), values[1], tol)) << ops::reduction_name(r);
    EXPECT_TRUE(testing::all_close(grads[0].to(DType::F64), grads[1], tol)) << ops::reduction_name(r);
  }
  Tensor s = from_vector<double>({1e4, -1e4, 0, -1e4, 1e4, 0}, {2, 3});
  const Tensor t = from_vector<double>({-1e4, 1e4, 0, -1e4, 1e4, 0}, {2, 3});
  s.requires_grad_();
  const Tensor loss = ops::kd_hard_loss(s, t, from_vector<std::int64_t>({1, 1}), 1.0, 0.5, Reduction::Sum);
  // Row 0: T^2 KL = 2e4 (see KdKlDiv.FiniteForHugeLogits), CE = 2e4; row 1: 0 and 0.
  EXPECT_NEAR(loss.item<double>(), 2e4, 1e-9);
  loss.backward();
  EXPECT_TRUE(all_finite(s.grad()));
}

TEST(KdHardLoss, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({2, 3});
  const Tensor y = from_vector<std::int64_t>({0, 2});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::kd_hard_loss(s, zeros({2, 4}), y, 2.0, 0.5);
      },
      "kd_hard_loss: expected teacher logits of the student's shape [2, 3], found [2, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::kd_hard_loss(zeros({6}), zeros({6}), y, 2.0, 0.5); },
                                      "kd_hard_loss: expected student logits of shape [B, C], found [6]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::kd_hard_loss(s, zeros({2, 3}, DType::F64), y, 2.0, 0.5);
      },
      "kd_hard_loss: dtypes differ (f32 and f64)"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::kd_hard_loss(s, s, zeros({2}), 2.0, 0.5); },
                                      "kd_hard_loss: expected labels of dtype i64 (class indices), found f32"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::kd_hard_loss(s, s, from_vector<std::int64_t>({0, 1, 2}), 2.0, 0.5);
      },
      "kd_hard_loss: expected labels of shape [2] for logits [2, 3], found [3]"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::kd_hard_loss(s, s, from_vector<std::int64_t>({0, 3}), 2.0, 0.5);
      },
      "kd_hard_loss: label 3 in row 1 is out of range for 3 classes (expected 0 <= label < 3)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::kd_hard_loss(s, s, from_vector<std::int64_t>({-1, 0}), 2.0, 0.5);
      },
      "kd_hard_loss: label -1 in row 0 is out of range"));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(Device::cpu())) << "the CPU raises at the call";
  for (double alpha : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, 2.0, alpha); },
                                        "kd_hard_loss: alpha must be in [0, 1], found"))
        << alpha;
  }
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, 2.0, 1.5); }, "found 1.5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, 0.0, 0.5); },
                                      "kd_hard_loss: temperature must be finite and > 0, found 0"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, -2.0, 0.5); }, "found -2"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, std::numeric_limits<double>::infinity(), 0.5); },
                                      "found inf"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::kd_hard_loss(s, s, y, 2.0, 0.5, Reduction::Mean); },
                                      "kd_hard_loss: reduction 'mean' is not valid here"));
}

// The teacher gets no gradient: one that requires it is an error (not a silently missing gradient),
// unless grad mode is off; a teacher that does not require grad gets none.
TEST(KdHardLoss, TeacherThatRequiresGradIsAnError) {
  Tensor s = leaf({2, 3}, 27);
  const Tensor t = random({2, 3}, 28, true);
  const Tensor y = from_vector<std::int64_t>({0, 2});
  EXPECT_TRUE(throws_with<AutogradError>([&] { ops::kd_hard_loss(s, t, y, 2.0, 0.5); },
                                         "kd_hard_loss: the teacher logits get no gradient from this loss"));
  EXPECT_TRUE(
      throws_with<AutogradError>([&] { ops::kd_hard_loss(s.detach(), t, y, 2.0, 0.5); }, "teacher_logits.detach()"));
  {
    autograd::NoGradGuard guard;
    EXPECT_NO_THROW(ops::kd_hard_loss(s, t, y, 2.0, 0.5));
  }
  const Tensor td = t.detach();
  ops::kd_hard_loss(s, td, y, 2.0, 0.5).backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(td.grad().defined());
}

TEST(LossKernels, WriteEveryOutput) {
  const std::int64_t B = 3, C = 4, n = B * C;
  std::vector<double> s(static_cast<size_t>(n)), t(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    s[static_cast<size_t>(i)] = std::sin(i * 1.0), t[static_cast<size_t>(i)] = std::cos(i * 1.0);
  const std::vector<std::int64_t> labels = {1, 3, 0};
  const double nan = std::numeric_limits<double>::quiet_NaN(), one = 1.0;
  const auto fresh = [&](std::int64_t count) { return std::vector<double>(static_cast<size_t>(count), nan); };
  const auto finite = [](const std::vector<double>& v) {
    for (double x : v)
      if (!std::isfinite(x)) return false;
    return true;
  };
  std::vector<double> rows = fresh(B), elems = fresh(n), ds = fresh(n), dt = fresh(n), y = fresh(1);
  kernels::cpu::cross_entropy_forward(s.data(), labels.data(), rows.data(), B, C, 0.1);
  kernels::cpu::cross_entropy_backward(s.data(), labels.data(), &one, 0, 1.0, ds.data(), B, C, 0.1);
  EXPECT_TRUE(finite(rows) && finite(ds));
  rows = fresh(B), ds = fresh(n);
  std::vector<double> stats = fresh(4 * B);
  kernels::cpu::kd_kl_div_forward(s.data(), t.data(), rows.data(), elems.data(), stats.data(), B, C, 2.0);
  kernels::cpu::kd_kl_div_backward(s.data(), t.data(), stats.data(), &one, 0, 1.0, ds.data(), dt.data(), B, C, 2.0);
  EXPECT_TRUE(finite(rows) && finite(elems) && finite(stats) && finite(ds) && finite(dt));
  rows = fresh(B), ds = fresh(n), stats = fresh(5 * B);
  kernels::cpu::kd_hard_forward(s.data(), t.data(), labels.data(), rows.data(), stats.data(), B, C, 2.0, 0.3);
  kernels::cpu::kd_hard_backward(s.data(), t.data(), labels.data(), stats.data(), &one, 0, 1.0, ds.data(), B, C, 2.0,
                                 0.3);
  EXPECT_TRUE(finite(rows) && finite(stats) && finite(ds));
  elems = fresh(n), ds = fresh(n), dt = fresh(n);
  kernels::cpu::mse_forward(s.data(), t.data(), elems.data(), n);
  kernels::cpu::mse_sum_forward(s.data(), t.data(), y.data(), n, 1.0);
  kernels::cpu::mse_backward(s.data(), t.data(), &one, 0, 1.0, ds.data(), dt.data(), n);
  EXPECT_TRUE(finite(elems) && finite(y) && finite(ds) && finite(dt));
  EXPECT_EQ(kernels::cpu::first_bad_label(labels.data(), B, C), -1);
  EXPECT_EQ(kernels::cpu::first_bad_label(labels.data(), B, 3), 1);
}

}  // namespace
}  // namespace kdcu
