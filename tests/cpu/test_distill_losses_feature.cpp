// distill feature losses: the FitNets regressor (names, shapes), hint_loss against a loop reference
// of 1x1 conv + training-mode BN + MSE, attention maps and the AT loss against loop references,
// f64 gradient checks w.r.t. the student features and the regressor's parameters, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/factories.h"
#include "distill/feature_losses.h"
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

nn::LayerOptions f64_options(Generator& gen) {
  nn::LayerOptions o;
  o.gen = &gen;
  o.dtype = DType::F64;
  return o;
}

// ----------------------------------------------------------------------------- FitNets hints

TEST(DistillHint, RegressorNamesAndShapes) {
  Generator gen(1);
  distill::HintRegressor r(3, 5, f64_options(gen));
  std::vector<std::string> names;
  for (const auto& [name, t] : r.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                                             "bn.num_batches_tracked"}));
  EXPECT_EQ(r.conv().weight().shape(), (Shape{5, 3, 1, 1}));
  EXPECT_FALSE(r.conv().bias().defined());
  EXPECT_EQ(r.num_parameters(), 5 * 3 + 5 + 5);
  EXPECT_EQ(r(random({2, 3, 4, 4}, 2)).shape(), (Shape{2, 5, 4, 4}));
}

TEST(DistillHint, ValueIsMseOfConvThenBatchNorm) {
  const std::int64_t N = 2, Cs = 2, Ct = 3, P = 4;  // P = H * W with H = W = 2
  Generator gen(3);
  distill::HintRegressor r(Cs, Ct, f64_options(gen));
  // Non-trivial BN affine parameters, so they are part of what is checked.
  const std::vector<double> gamma = {1.5, 0.5, -1.0}, beta = {0.1, -0.2, 0.3};
  for (size_t o = 0; o < 3; ++o)
    r.bn().weight().data<double>()[o] = gamma[o], r.bn().bias().data<double>()[o] = beta[o];
  const Tensor s = random({N, Cs, 2, 2}, 4, false, -2.0, 2.0), t = random({N, Ct, 2, 2}, 5, false, -2.0, 2.0);
  const std::vector<double> sv = s.to_vector<double>(), tv = t.to_vector<double>(),
                            w = r.conv().weight().to_vector<double>();
  double total = 0.0;
  for (std::int64_t o = 0; o < Ct; ++o) {
    std::vector<double> z;  // (n, p) for output channel o
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t p = 0; p < P; ++p) {
        double acc = 0.0;
        for (std::int64_t c = 0; c < Cs; ++c)
          acc += w[static_cast<size_t>(o * Cs + c)] * sv[static_cast<size_t>((n * Cs + c) * P + p)];
        z.push_back(acc);
      }
    double mean = 0.0, var = 0.0;
    for (double v : z) mean += v / static_cast<double>(z.size());
    for (double v : z) var += (v - mean) * (v - mean) / static_cast<double>(z.size());  // biased, as BN normalises
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t p = 0; p < P; ++p) {
        const double y =
            (z[static_cast<size_t>(n * P + p)] - mean) / std::sqrt(var + 1e-5) * gamma[static_cast<size_t>(o)] +
            beta[static_cast<size_t>(o)];
        const double d = y - tv[static_cast<size_t>((n * Ct + o) * P + p)];
        total += d * d;
      }
  }
  EXPECT_TRUE(close(distill::hint_loss(r, s, t).item<double>(), total / static_cast<double>(N * Ct * P)));
}

TEST(DistillHintGrad, StudentFeaturesAndRegressorParameters) {
  Generator gen(6);
  distill::HintRegressor r(3, 2, f64_options(gen));
  const Tensor t = random({2, 2, 3, 3}, 7, false, -2.0, 2.0);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return distill::hint_loss(r, in[0], t); },
                        {leaf({2, 3, 3, 3}, 8), r.conv().weight(), r.bn().weight(), r.bn().bias()}));
}

TEST(DistillHint, ErrorsNameExpectedAndFound) {
  Generator gen(9);
  distill::HintRegressor r(3, 4, f64_options(gen));
  const Tensor s = zeros({2, 3, 4, 4}, DType::F64);
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::hint_loss(r, s, zeros({2, 4, 2, 2}, DType::F64));
      },
      "hint_loss: expected teacher features with the student's batch and spatial size [2, C, 4, 4], found [2, 4, 2, "
      "2]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::hint_loss(r, s, zeros({2, 5, 4, 4}, DType::F64));
      },
      "hint_loss: expected teacher features with 4 channels (the regressor's output), found [2, 5, 4, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::hint_loss(r, zeros({2, 2, 4, 4}, DType::F64), zeros({2, 4, 4, 4}, DType::F64));
      },
      "hint_loss: expected student features with 3 channels (the regressor's input), found [2, 2, 4, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::hint_loss(r, zeros({2, 3, 16}, DType::F64), s);
      },
      "hint_loss: expected student features of shape [N, C, H, W], found [2, 3, 16]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        r(zeros({2, 5, 4, 4}, DType::F64));
      },
      "HintRegressor(3 -> 4): expected student features [N, 3, H, W], found [2, 5, 4, 4]"));
}

// ----------------------------------------------------------------------------- attention transfer

// a = mean_c f^2 per (n, p), each row divided by sqrt(||a||^2 + 1e-24): [N, P] row-major.
std::vector<double> attention_reference(const Tensor& f) {
  const std::int64_t N = f.size(0), C = f.size(1), P = f.size(2) * f.size(3);
  const std::vector<double> v = f.to_vector<double>();
  std::vector<double> a(static_cast<size_t>(N * P), 0.0);
  for (std::int64_t n = 0; n < N; ++n) {
    double sq = 0.0;
    for (std::int64_t p = 0; p < P; ++p) {
      double m = 0.0;
      for (std::int64_t c = 0; c < C; ++c)
        m += v[static_cast<size_t>((n * C + c) * P + p)] * v[static_cast<size_t>((n * C + c) * P + p)];
      a[static_cast<size_t>(n * P + p)] = m / static_cast<double>(C);
      sq += a[static_cast<size_t>(n * P + p)] * a[static_cast<size_t>(n * P + p)];
    }
    for (std::int64_t p = 0; p < P; ++p) a[static_cast<size_t>(n * P + p)] /= std::sqrt(sq + 1e-24);
  }
  return a;
}

TEST(DistillAttention, MapHandComputed) {
  // Channel 0 = (1, 2), channel 1 = (3, 0): a = ((1 + 9) / 2, (4 + 0) / 2) = (5, 2), then / sqrt(29).
  const Tensor f = from_vector<double>({1, 2, 3, 0}, {1, 2, 1, 2});
  const Tensor a = distill::attention_map(f);
  EXPECT_EQ(a.shape(), (Shape{1, 2}));
  EXPECT_TRUE(testing::all_close(a, from_vector<double>({5 / std::sqrt(29.0), 2 / std::sqrt(29.0)}, {1, 2})));
  // An all-zero sample maps to zeros, not NaN.
  const Tensor z = distill::attention_map(zeros({2, 3, 2, 2}, DType::F64));
  EXPECT_EQ(z.to_vector<double>(), std::vector<double>(8, 0.0));
}

TEST(DistillAttention, LossMatchesReferenceWithDifferentChannels) {
  const Tensor s = random({2, 3, 3, 2}, 10, false, -2.0, 2.0), t = random({2, 5, 3, 2}, 11, false, -2.0, 2.0);
  EXPECT_TRUE(testing::all_close(distill::attention_map(s), from_vector<double>(attention_reference(s), {2, 6})));
  const std::vector<double> as = attention_reference(s), at = attention_reference(t);
  double ref = 0.0;
  for (size_t i = 0; i < as.size(); ++i) ref += (as[i] - at[i]) * (as[i] - at[i]) / static_cast<double>(as.size());
  EXPECT_TRUE(close(distill::attention_loss(s, t).item<double>(), ref));
  EXPECT_EQ(distill::attention_loss(s, s).item<double>(), 0.0);
}

TEST(DistillAttentionGrad, StudentAndTeacherFeatures) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return distill::attention_loss(in[0], in[1]); },
                        {leaf({2, 3, 2, 3}, 12), random({2, 4, 2, 3}, 13, false, -2.0, 2.0)}));
  EXPECT_TRUE(
      gradcheck([](const std::vector<Tensor>& in) { return distill::attention_map(in[0]); }, {leaf({2, 2, 2, 2}, 14)}));
}

TEST(DistillAttention, ZeroStudentSampleHasFiniteGradient) {
  Tensor s = zeros({2, 2, 2, 2}, DType::F64);
  s.data<double>()[0] = 0.5;  // sample 0 non-zero, sample 1 all zero
  s.requires_grad_();
  distill::attention_loss(s, random({2, 3, 2, 2}, 15)).backward();
  for (double g : s.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(DistillAttention, F32MatchesF64) {
  // A few chained ops in the tensor's precision: the f32 tolerance scaled by 10.
  const testing::Tolerance tol = testing::tolerance_for(DType::F32, 10.0);
  const Tensor s = random({2, 3, 3, 3}, 16, false, -2.0, 2.0).to(DType::F32).to(DType::F64);  // exact in f32
  const Tensor t = random({2, 4, 3, 3}, 17, false, -2.0, 2.0).to(DType::F32).to(DType::F64);
  Tensor s32 = s.to(DType::F32), s64 = s.detach();
  s32.requires_grad_();
  s64.requires_grad_();
  const Tensor v32 = distill::attention_loss(s32, t.to(DType::F32)), v64 = distill::attention_loss(s64, t);
  v32.backward();
  v64.backward();
  EXPECT_TRUE(testing::all_close(v32.to(DType::F64), v64, tol));
  EXPECT_TRUE(testing::all_close(s32.grad().to(DType::F64), s64.grad(), tol));
}

TEST(DistillAttention, ErrorsNameExpectedAndFound) {
  const Tensor s = zeros({2, 3, 4, 4});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::attention_loss(s, zeros({2, 3, 2, 2}));
      },
      "attention_loss: expected teacher features with the student's batch and spatial size [2, C, 4, 4], found [2, 3, "
      "2, 2]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::attention_loss(s, zeros({3, 3, 4, 4}));
      },
      "expected teacher features with the student's batch and spatial size [2, C, 4, 4], found [3, 3, 4, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::attention_map(zeros({2, 16}));
      },
      "attention_map: expected features of shape [N, C, H, W], found [2, 16]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        distill::attention_loss(s, zeros({2, 16}));
      },
      "attention_loss: expected teacher features of shape [N, C, H, W], found [2, 16]"));
}

}  // namespace
}  // namespace kdcu
