// Pooling: max / avg / global-avg values and gradients on a hand-checked 4x4 input, PyTorch's
// conventions (padding is -inf for max, NaN wins, first maximum wins a tie, divisors with and
// without count_include_pad), output sizes, f64 gradient checks (a tie included), f32 against
// f64, and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/pool.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::random;

using testing::throws_with;

using testing::all_close;
using testing::gradcheck;

//  1  5  2  0
//  3  4  8  7
//  9  6 10 11
// 12 15 14 13
Tensor hand_input(bool grad = true) {
  Tensor x = from_vector<double>({1, 5, 2, 0, 3, 4, 8, 7, 9, 6, 10, 11, 12, 15, 14, 13}, {1, 1, 4, 4});
  if (grad) x.requires_grad_();
  return x;
}

// Distinct values at least 0.37 apart (far beyond gradcheck's eps): no ties, no kinks.
Tensor distinct_input(const Shape& s, unsigned seed) {
  std::vector<double> v(static_cast<size_t>(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.37 * static_cast<double>(i) - 5.0;
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  Tensor t = from_vector<double>(v, s);
  t.requires_grad_();
  return t;
}

Tensor hand(std::vector<double> v, const Shape& s) {
  return from_vector<double>(v, s);
}

TEST(MaxPool2d, HandCheckedValuesAndRouting) {
  const Tensor x = hand_input();
  const Tensor y = ops::max_pool2d(x, {2, 2});
  EXPECT_TRUE(all_close(y, hand({5, 8, 15, 14}, {1, 1, 2, 2})));
  {
    autograd::NoGradGuard no_grad;  // no indices are kept: the values must not change
    EXPECT_TRUE(all_close(ops::max_pool2d(x, {2, 2}), y));
  }
  y.backward(hand({1, 2, 3, 4}, {1, 1, 2, 2}));
  // 5 at (0,1), 8 at (1,2), 15 at (3,1), 14 at (3,2) receive their output's gradient.
  EXPECT_TRUE(all_close(x.grad(), hand({0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0}, {1, 1, 4, 4})));
}

TEST(MaxPool2d, OverlappingPaddedWindowsAccumulate) {
  const Tensor x = hand_input();
  const Tensor y = ops::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  EXPECT_TRUE(all_close(y, hand({5, 8, 15, 15}, {1, 1, 2, 2})));
  y.backward(ones({1, 1, 2, 2}, DType::F64));
  // 15 wins two windows: its gradients add.
  EXPECT_TRUE(all_close(x.grad(), hand({0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0}, {1, 1, 4, 4})));
}

TEST(MaxPool2d, PaddingIsMinusInfinityNaNWinsFirstTieWins) {
  // All negative: a zero-padded max would return 0 at the borders.
  EXPECT_TRUE(all_close(ops::max_pool2d(full({1, 1, 3, 3}, -5.0, DType::F64), {3, 3}, {2, 2}, {1, 1}),
                        full({1, 1, 2, 2}, -5.0, DType::F64)));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> y = ops::max_pool2d(hand({1, nan, 3, 2}, {1, 1, 2, 2}), {2, 2}).to_vector<double>();
  EXPECT_TRUE(std::isnan(y[0]));
  // A tie: the gradient goes to the first maximum in row-major order only.
  Tensor t = hand({7, 1, 2, 7}, {1, 1, 2, 2});
  t.requires_grad_();
  ops::max_pool2d(t, {2, 2}).backward(ones({1, 1, 1, 1}, DType::F64));
  EXPECT_EQ(t.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 0}));
}

TEST(AvgPool2d, HandCheckedValuesAndGradients) {
  const Tensor x = hand_input();
  EXPECT_TRUE(all_close(ops::avg_pool2d(x, {2, 2}), hand({13 / 4.0, 17 / 4.0, 42 / 4.0, 48 / 4.0}, {1, 1, 2, 2})));
  const Tensor with_pad = ops::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true);
  EXPECT_TRUE(all_close(with_pad, hand({13 / 9.0, 26 / 9.0, 49 / 9.0, 88 / 9.0}, {1, 1, 2, 2})));
  EXPECT_TRUE(all_close(ops::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false),
                        hand({13 / 4.0, 26 / 6.0, 49 / 6.0, 88 / 9.0}, {1, 1, 2, 2})));
  with_pad.backward(ones({1, 1, 2, 2}, DType::F64));
  // Pixel (r, c) gets (windows covering it) / 9: rows 0 | 1 | 2-3 are covered by 1 | 2 | 1 window rows.
  const std::vector<double> cover = {1, 2, 1, 1};
  std::vector<double> expected(16);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) expected[r * 4 + c] = cover[r] * cover[c] / 9.0;
  EXPECT_TRUE(all_close(x.grad(), hand(expected, {1, 1, 4, 4})));
}

TEST(GlobalAvgPool2d, PlaneMeans) {
  const Tensor x = hand_input();
  const Tensor y = ops::global_avg_pool2d(x);
  EXPECT_TRUE(all_close(y, hand({7.5}, {1, 1, 1, 1})));
  y.backward(hand({2.0}, {1, 1, 1, 1}));
  EXPECT_TRUE(all_close(x.grad(), full({1, 1, 4, 4}, 2.0 / 16, DType::F64)));
  const Tensor two = from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 2, 2, 3});
  EXPECT_TRUE(all_close(ops::global_avg_pool2d(two), hand({3.5, 9.5}, {1, 2, 1, 1})));
}

TEST(Pool2d, OutputSizesFollowPyTorch) {
  const Tensor x = zeros({2, 3, 7, 5});
  EXPECT_EQ(ops::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}).shape(), (Shape{2, 3, 4, 3}));
  EXPECT_EQ(ops::max_pool2d(x, {2, 2}).shape(), (Shape{2, 3, 3, 2}));  // floor mode drops the odd row/column
  EXPECT_EQ(ops::avg_pool2d(x, {3, 2}, {1, 2}).shape(), (Shape{2, 3, 5, 2}));
  EXPECT_EQ(ops::global_avg_pool2d(x).shape(), (Shape{2, 3, 1, 1}));
}

TEST(Pool2dGrad, MaxPoolWithoutTies) {
  const auto k2 = [](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], {2, 2}, {2, 2}); };
  const auto k3 = [](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}); };
  EXPECT_TRUE(gradcheck(k2, {distinct_input({2, 3, 6, 5}, 1)}));
  EXPECT_TRUE(gradcheck(k3, {distinct_input({2, 3, 7, 6}, 2)}));
}

TEST(Pool2dGrad, MaxPoolTieIsAKinkTheCheckerAccepts) {
  // Two equal maxima in the first window: one-sided slopes differ there (a kink), and the
  // first-wins routing is one of the accepted subgradients. 2 kinks among 72 points.
  Tensor x = distinct_input({1, 2, 6, 6}, 3);
  double* p = x.data<double>();
  p[0] = p[1] = 100.0;
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::max_pool2d(in[0], {2, 2}); }, {x}));
}

TEST(Pool2dGrad, AvgAndGlobalAvg) {
  const Tensor x = random({2, 2, 7, 6}, 4, true);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::avg_pool2d(in[0], {2, 2}); }, {x}));
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return ops::avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}, true);
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return ops::avg_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}, false);
      },
      {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::global_avg_pool2d(in[0]); }, {x}));
}

TEST(Pool2d, F32MatchesF64) {
  Generator g(5);
  const Tensor x = rand({2, 3, 9, 8}, g, DType::F32, Device::cpu(), -1.0, 1.0);
  const Tensor x64 = x.to(DType::F64);
  const auto tol = testing::tolerance_for(DType::F32);
  EXPECT_TRUE(all_close(ops::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}).to(DType::F64),
                        ops::max_pool2d(x64, {3, 3}, {2, 2}, {1, 1}), tol));
  EXPECT_TRUE(all_close(ops::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false).to(DType::F64),
                        ops::avg_pool2d(x64, {3, 3}, {2, 2}, {1, 1}, false), tol));
  EXPECT_TRUE(all_close(ops::global_avg_pool2d(x).to(DType::F64), ops::global_avg_pool2d(x64), tol));
}

TEST(Pool2d, ArgumentErrorsNameExpectedAndFound) {
  const Tensor x = zeros({1, 2, 4, 4});
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::max_pool2d(x, {3, 3}, {1, 1}, {2, 1});
      },
      "expected padding at most half the kernel, found padding (2, 1) for kernel (3, 3)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::avg_pool2d(x, {2, 2}, {1, 1}, {-1, 0});
      },
      "avg_pool2d: expected padding >= 0, found (-1, 0)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::max_pool2d(x, {2, 2}, {-1, 2});
      },
      "expected stride >= 1 (or 0 for the kernel size), found (-1, 2)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::max_pool2d(x, {0, 2}); }, "expected kernel >= 1, found (0, 2)"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::max_pool2d(x, {5, 2});
      },
      "the kernel is 5x2 but the padded input is only 4x4"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::avg_pool2d(zeros({2, 4, 4}), {2, 2});
      },
      "expected x of shape [N, C, H, W], found [2, 4, 4]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::global_avg_pool2d(zeros({1, 2, 0, 3}));
      },
      "expected a non-empty plane, found x [1, 2, 0, 3]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::max_pool2d(arange(16).reshape({1, 1, 4, 4}), {2, 2});
      },
      "expected a floating tensor"));
}

}  // namespace
}  // namespace kdcu
