// nn::init: PyTorch's default Linear/Conv2d init, Kaiming normal (fan_out, ReLU), BatchNorm's
// constants, checked by the statistics of large layers; determinism from the seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/factories.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "nn/resnet.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

using testing::throws_with;

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
  size_t n = 0;
};

Stats stats(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Stats s;
  s.n = v.size();
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

// Mean within 5 standard errors of 0, std within 1 %: loose enough never to flake for these
// sizes (> 10^5 draws), tight enough to catch a wrong fan or gain (a factor of sqrt(2) or more).
void expect_centred(const Stats& s, double std) {
  EXPECT_NEAR(s.mean, 0.0, 5.0 * std / std::sqrt(static_cast<double>(s.n)));
  EXPECT_NEAR(s.std, std, 0.01 * std);
}

TEST(NnInit, LinearDefaultIsUniformOverOneOverSqrtFanIn) {
  Generator gen(1);
  nn::Linear fc(1024, 512, true, {&gen});
  const double bound = 1.0 / std::sqrt(1024.0);
  const Stats w = stats(fc.weight());
  EXPECT_GE(w.min, -bound);
  EXPECT_LT(w.max, bound);
  EXPECT_GT(w.max, 0.999 * bound);  // the whole interval is used
  EXPECT_LT(w.min, -0.999 * bound);
  expect_centred(w, bound / std::sqrt(3.0));  // U(-b, b) has std b / sqrt(3)
  const Stats b = stats(fc.bias());
  EXPECT_GE(b.min, -bound);
  EXPECT_LT(b.max, bound);
  EXPECT_GT(b.max - b.min, 1.8 * bound);
}

TEST(NnInit, Conv2dDefaultUsesFanInOfTheWholeReceptiveField) {
  Generator gen(2);
  nn::Conv2d conv(64, 256, 3, 1, 1, 1, true, {&gen});  // fan_in = 64 * 3 * 3
  const double bound = 1.0 / std::sqrt(64.0 * 9.0);
  const Stats w = stats(conv.weight());
  EXPECT_GE(w.min, -bound);
  EXPECT_LT(w.max, bound);
  expect_centred(w, bound / std::sqrt(3.0));
  const Stats b = stats(conv.bias());
  EXPECT_GE(b.min, -bound);
  EXPECT_LT(b.max, bound);
}

TEST(NnInit, KaimingNormalFanOutRelu) {
  Generator gen(3);
  const Tensor w = empty({256, 128, 3, 3});
  nn::init::kaiming_normal_(w, gen, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU);
  expect_centred(stats(w), std::sqrt(2.0 / (256.0 * 9.0)));
  // Fan-in mode and the uniform form.
  nn::init::kaiming_uniform_(w, gen, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU);
  const double std_in = std::sqrt(2.0 / (128.0 * 9.0));
  const Stats u = stats(w);
  expect_centred(u, std_in);
  EXPECT_LT(u.max, std::sqrt(3.0) * std_in);
}

TEST(NnInit, ResNetConvsAreKaimingNormalAndBatchNormIsOneZero) {
  Generator gen(4);
  nn::ModelConfig cfg;
  const auto model = nn::resnet18(cfg, gen);
  const auto& block = dynamic_cast<nn::BasicBlock&>(model->stage(3)[1]);
  expect_centred(stats(block.conv1().weight()), std::sqrt(2.0 / (512.0 * 9.0)));  // [512, 512, 3, 3]
  EXPECT_EQ(stats(block.bn1().weight()).min, 1.0);
  EXPECT_EQ(stats(block.bn1().weight()).max, 1.0);
  EXPECT_EQ(stats(block.bn1().bias()).max, 0.0);
  EXPECT_EQ(stats(block.bn1().running_var()).min, 1.0);
  EXPECT_EQ(stats(block.bn1().running_mean()).max, 0.0);
  // The classifier keeps PyTorch's Linear default.
  const double bound = 1.0 / std::sqrt(512.0);
  const Stats fc = stats(model->fc().weight());
  EXPECT_GE(fc.min, -bound);
  EXPECT_LT(fc.max, bound);
}

TEST(NnInit, GainsAndFans) {
  using nn::init::Nonlinearity;
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::Linear), 1.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::LeakyReLU, std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  const nn::init::Fans f = nn::init::compute_fans({8, 3, 5, 2});
  EXPECT_EQ(f.in, 30);
  EXPECT_EQ(f.out, 80);
  EXPECT_TRUE(throws_with<ValueError>([] { nn::init::compute_fans({7}); }, "at least 2 dims"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [] {
        Generator g;
        nn::init::normal_(zeros({2}, DType::I64), 0.0, 1.0, g);
      },
      "normal_"));
}

TEST(NnInit, SameSeedSameWeightsAndTheGeneratorAdvances) {
  Generator a(5), b(5), c(6);
  nn::Linear la(30, 20, true, {&a}), lb(30, 20, true, {&b}), lc(30, 20, true, {&c});
  EXPECT_EQ(la.weight().to_vector<float>(), lb.weight().to_vector<float>());
  EXPECT_EQ(la.bias().to_vector<float>(), lb.bias().to_vector<float>());
  EXPECT_NE(la.weight().to_vector<float>(), lc.weight().to_vector<float>());
  EXPECT_EQ(a.offset(), b.offset());
  EXPECT_GT(a.offset(), 0u);
  // Weight and bias draw from different blocks: the bias is not the weight's first row rescaled.
  EXPECT_NE(la.bias().to_vector<float>()[0], la.weight().to_vector<float>()[0]);
  // A fill keeps the tensor's handle (optimizers hold it) and leaves it a parameter.
  const Tensor before = la.weight();
  nn::init::constant_(la.weight(), 0.25);
  EXPECT_TRUE(before.is_same(la.weight()));
  EXPECT_EQ(before.at<float>({0, 0}), 0.25f);
  EXPECT_TRUE(la.weight().requires_grad());
}

TEST(NnInit, DrawSeedIsDeterministicAndAdvances) {
  Generator a(11), b(11);
  const std::uint64_t s1 = nn::init::draw_seed(a);
  EXPECT_EQ(s1, nn::init::draw_seed(b));
  EXPECT_NE(s1, nn::init::draw_seed(a));
  EXPECT_EQ(a.offset(), 2u);
}

}  // namespace
}  // namespace kdcu
