// smooth_l1_loss: hand-computed values for several beta (0 = L1) and every reduction, gradients
// against the closed form, kink-aware f64 gradient checks, f32 against f64, the kernels writing every
// output, and errors naming expected vs found.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/factories.h"
#include "kernels/cpu/smooth_l1.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/smooth_l1.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using ops::Reduction;
using testing::gradcheck;
using testing::leaf;
using testing::throws_with;

::testing::AssertionResult close(double actual, double expected) {
  return testing::all_close(scalar(actual, DType::F64), scalar(expected, DType::F64));
}

TEST(SmoothL1, HandComputedValues) {
  const Tensor x = from_vector<double>({0.0, 0.5, 2.0, -3.0, 1.0}), t = zeros({5}, DType::F64);
  // beta 1: 0.5 d^2 inside |d| < 1, |d| - 0.5 outside; |d| = beta takes the linear branch (same value).
  const std::vector<double> b1 = {0.0, 0.125, 1.5, 2.5, 0.5};
  EXPECT_TRUE(testing::all_close(ops::smooth_l1_loss(x, t, 1.0, Reduction::None), from_vector<double>(b1)));
  // beta 2: 0.25 d^2 inside, |d| - 1 outside.
  const std::vector<double> b2 = {0.0, 0.0625, 1.0, 2.0, 0.25};
  EXPECT_TRUE(testing::all_close(ops::smooth_l1_loss(x, t, 2.0, Reduction::None), from_vector<double>(b2)));
  // beta 0: the L1 loss.
  const std::vector<double> b0 = {0.0, 0.5, 2.0, 3.0, 1.0};
  EXPECT_TRUE(testing::all_close(ops::smooth_l1_loss(x, t, 0.0, Reduction::None), from_vector<double>(b0)));
  EXPECT_TRUE(close(ops::smooth_l1_loss(x, t).item<double>(), 4.625 / 5)) << "beta 1 and mean are the defaults";
  EXPECT_TRUE(close(ops::smooth_l1_loss(x, t, 1.0, Reduction::Sum).item<double>(), 4.625));
  EXPECT_EQ(ops::smooth_l1_loss(x, t).shape(), Shape{});
  // Only the difference matters: shifting both changes nothing.
  EXPECT_TRUE(testing::all_close(ops::smooth_l1_loss(x + 7.0, t + 7.0, 1.0, Reduction::None), from_vector<double>(b1)));
}

TEST(SmoothL1, GradientIsClampedDifferenceOverN) {
  const std::vector<double> xv = {0.2, -0.4, 1.5, -2.5, 0.9, 3.0};
  const double beta = 0.5;
  Tensor x = from_vector<double>(xv, {2, 3}), t = zeros({2, 3}, DType::F64);
  x.requires_grad_();
  t.requires_grad_();
  ops::smooth_l1_loss(x, t, beta).backward();
  std::vector<double> expected;
  for (double d : xv) expected.push_back((std::fabs(d) < beta ? d / beta : (d > 0 ? 1.0 : -1.0)) / 6.0);
  EXPECT_TRUE(testing::all_close(x.grad(), from_vector<double>(expected, {2, 3})));
  EXPECT_TRUE(testing::all_close(t.grad(), -from_vector<double>(expected, {2, 3})));
}

TEST(SmoothL1Grad, EachReductionAndBetaBothArguments) {
  const Tensor x = leaf({3, 4}, 1), t = leaf({3, 4}, 2);
  for (double beta : {0.5, 1.0, 2.0}) {
    for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
      EXPECT_TRUE(
          gradcheck([=](const std::vector<Tensor>& in) { return ops::smooth_l1_loss(in[0], in[1], beta, r); }, {x, t}))
          << "beta " << beta << " " << ops::reduction_name(r);
    }
  }
}

TEST(SmoothL1Grad, L1KinkAtEqualInputs) {
  // beta 0 with one element where input == target: a kink (slopes -1 and 1), the subgradient 0 passes.
  Tensor x = leaf({4, 5}, 3);
  const Tensor t = testing::random({4, 5}, 4, false, -2.0, 2.0);
  x.data<double>()[7] = t.data<double>()[7];
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return ops::smooth_l1_loss(in[0], t, 0.0); }, {x}));
  ops::smooth_l1_loss(x, t, 0.0, Reduction::Sum).backward();
  EXPECT_EQ(x.grad().to_vector<double>()[7], 0.0);
}

TEST(SmoothL1, F32MatchesF64) {
  Generator g(5);
  const Tensor a = rand({6, 7}, g, DType::F32, Device::cpu(), -3.0, 3.0);
  const Tensor b = rand({6, 7}, g, DType::F32, Device::cpu(), -3.0, 3.0);
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    Tensor ga[2], gb[2], v[2];
    const DType dtypes[2] = {DType::F32, DType::F64};
    for (int k = 0; k < 2; ++k) {
      Tensor x = a.to(dtypes[k]).detach(), y = b.to(dtypes[k]).detach();
      x.requires_grad_();
      y.requires_grad_();
      v[k] = ops::smooth_l1_loss(x, y, 1.0, r);
      ops::sum(v[k]).backward();
      ga[k] = x.grad(), gb[k] = y.grad();
    }
    const testing::Tolerance tol = testing::tolerance_for(DType::F32);
    EXPECT_TRUE(testing::all_close(v[0].to(DType::F64), v[1], tol)) << ops::reduction_name(r);
    EXPECT_TRUE(testing::all_close(ga[0].to(DType::F64), ga[1], tol)) << ops::reduction_name(r);
    EXPECT_TRUE(testing::all_close(gb[0].to(DType::F64), gb[1], tol)) << ops::reduction_name(r);
  }
}

TEST(SmoothL1, KernelsWriteEveryOutput) {
  const std::int64_t n = 9;
  std::vector<double> x(static_cast<size_t>(n)), t(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = std::sin(i * 1.3) * 2, t[static_cast<size_t>(i)] = 0;
  const double nan = std::numeric_limits<double>::quiet_NaN(), one = 1.0;
  std::vector<double> loss(static_cast<size_t>(n), nan), dx(loss), dt(loss), y(1, nan);
  kernels::cpu::smooth_l1_forward(x.data(), t.data(), loss.data(), n, 1.0);
  kernels::cpu::smooth_l1_sum_forward(x.data(), t.data(), y.data(), n, 1.0, 1.0);
  kernels::cpu::smooth_l1_backward(x.data(), t.data(), &one, 0, 1.0, dx.data(), dt.data(), n, 1.0);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    EXPECT_TRUE(std::isfinite(loss[k]) && std::isfinite(dx[k]) && std::isfinite(dt[k])) << i;
    EXPECT_EQ(dt[k], -dx[k]);
    sum += loss[k];
  }
  EXPECT_TRUE(close(y[0], sum));
}

TEST(SmoothL1, ErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::smooth_l1_loss(x, zeros({3, 2}));
      },
      "smooth_l1_loss: expected equal shapes, found [2, 3] and [3, 2]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::smooth_l1_loss(x, zeros({2, 3}, DType::F64));
      },
      "smooth_l1_loss: dtypes differ (f32 and f64)"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::smooth_l1_loss(x, x, -1.0); },
                                      "smooth_l1_loss: beta must be finite and >= 0, found -1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::smooth_l1_loss(x, x, std::numeric_limits<double>::infinity()); },
                                      "found inf"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::smooth_l1_loss(x, x, 1.0, Reduction::BatchMean); },
                                      "smooth_l1_loss: reduction 'batchmean' is not valid here"));
}

}  // namespace
}  // namespace kdcu
