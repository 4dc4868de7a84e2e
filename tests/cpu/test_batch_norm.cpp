// batch_norm: training values and running statistics (after one and two steps, unbiased variance,
// momentum) against the formulas computed here, eval with the running statistics, f64 gradient
// checks in both modes for [N, C] and [N, C, H, W] with and without affine weights, f32 against
// f64, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/batch_norm.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::random;

using testing::throws_with;

using testing::all_close;
using testing::gradcheck;

// Per-channel mean and biased / unbiased variance of x viewed as (N, C, S), on the host.
struct Moments {
  std::vector<double> mean, var, var_unbiased;
};
Moments moments(const Tensor& x) {
  const std::int64_t n = x.size(0), c = x.size(1), s = x.numel() / (n * c);
  const std::vector<double> v = x.to_vector<double>();
  Moments m{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  const double count = static_cast<double>(n * s);
  for (std::int64_t ch = 0; ch < c; ++ch) {
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < s; ++j) m.mean[ch] += v[(i * c + ch) * s + j] / count;
    double sq = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < s; ++j) sq += std::pow(v[(i * c + ch) * s + j] - m.mean[ch], 2);
    m.var[ch] = sq / count;
    m.var_unbiased[ch] = sq / (count - 1);
  }
  return m;
}

// (x - mean) / sqrt(var + eps) * w + b over channels, on the host.
Tensor normalised(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var, const Tensor& w,
                  const Tensor& b, double eps) {
  const std::int64_t n = x.size(0), c = x.size(1), s = x.numel() / (n * c);
  std::vector<double> v = x.to_vector<double>();
  const std::vector<double> vw = w.to_vector<double>(), vb = b.to_vector<double>();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t j = 0; j < s; ++j) {
        double& e = v[(i * c + ch) * s + j];
        e = (e - mean[ch]) / std::sqrt(var[ch] + eps) * vw[ch] + vb[ch];
      }
  return from_vector<double>(v, x.shape());
}

TEST(BatchNorm, TrainingNormalisesWithBatchStatistics) {
  for (const Shape& s : {Shape{6, 3}, Shape{4, 3, 2, 5}}) {
    const Tensor x = random(s, 1, false, -2.0, 3.0), w = random({3}, 2), b = random({3}, 3);
    const Moments m = moments(x);
    EXPECT_TRUE(
        all_close(ops::batch_norm(x, w, b, Tensor(), Tensor(), true), normalised(x, m.mean, m.var, w, b, 1e-5)));
    // Affine off is weight 1, bias 0.
    const Tensor one = ones({3}, DType::F64), zero = zeros({3}, DType::F64);
    EXPECT_TRUE(all_close(ops::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-3),
                          normalised(x, m.mean, m.var, one, zero, 1e-3)));
  }
}

TEST(BatchNorm, RunningStatisticsAfterOneAndTwoSteps) {
  const Tensor rm = zeros({3}, DType::F64), rv = ones({3}, DType::F64);  // PyTorch's initial buffers
  const Tensor x1 = random({4, 3, 3, 2}, 4, false, -1.0, 2.0), x2 = random({4, 3, 3, 2}, 5, false, 0.0, 4.0);
  const double momentum = 0.3;
  ops::batch_norm(x1, Tensor(), Tensor(), rm, rv, true, momentum);
  const Moments m1 = moments(x1), m2 = moments(x2);
  std::vector<double> mean(3), var(3);
  for (int c = 0; c < 3; ++c) {
    mean[c] = momentum * m1.mean[c];
    var[c] = (1 - momentum) * 1.0 + momentum * m1.var_unbiased[c];
  }
  EXPECT_TRUE(all_close(rm, from_vector<double>(mean)));
  EXPECT_TRUE(all_close(rv, from_vector<double>(var)));
  {
    autograd::NoGradGuard no_grad;  // the update is not autograd's business: it happens here too
    ops::batch_norm(x2, Tensor(), Tensor(), rm, rv, true, momentum);
  }
  for (int c = 0; c < 3; ++c) {
    mean[c] = (1 - momentum) * mean[c] + momentum * m2.mean[c];
    var[c] = (1 - momentum) * var[c] + momentum * m2.var_unbiased[c];
  }
  EXPECT_TRUE(all_close(rm, from_vector<double>(mean)));
  EXPECT_TRUE(all_close(rv, from_vector<double>(var)));
}

TEST(BatchNorm, EvalUsesRunningStatisticsAndLeavesThemAlone) {
  const Tensor x = random({5, 3, 2, 2}, 6, false, -3.0, 3.0), w = random({3}, 7), b = random({3}, 8);
  const std::vector<double> mean = {0.5, -1.0, 2.0}, var = {0.25, 4.0, 1.5};
  const Tensor rm = from_vector<double>(mean), rv = from_vector<double>(var);
  EXPECT_TRUE(all_close(ops::batch_norm(x, w, b, rm, rv, false, 0.1, 1e-5), normalised(x, mean, var, w, b, 1e-5)));
  EXPECT_EQ(rm.to_vector<double>(), mean);
  EXPECT_EQ(rv.to_vector<double>(), var);
}

TEST(BatchNormGrad, TrainingThroughTheBatchStatistics) {
  for (const Shape& s : {Shape{5, 3}, Shape{3, 2, 3, 2}}) {
    SCOPED_TRACE(shape_str(s));
    const std::int64_t c = s[1];
    const Tensor x = random(s, 10, true, -2.0, 2.0), w = random({c}, 11, true, 0.5, 1.5), b = random({c}, 12, true);
    const Tensor rm = zeros({c}, DType::F64), rv = ones({c}, DType::F64);
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], rm, rv, true); }, {x, w, b}));
    EXPECT_TRUE(gradcheck(
        [](const std::vector<Tensor>& in) {
          return ops::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
        },
        {x}));
  }
}

TEST(BatchNormGrad, EvalWithRunningStatistics) {
  for (const Shape& s : {Shape{5, 3}, Shape{3, 2, 3, 2}}) {
    SCOPED_TRACE(shape_str(s));
    const std::int64_t c = s[1];
    const Tensor x = random(s, 20, true, -2.0, 2.0), w = random({c}, 21, true, 0.5, 1.5), b = random({c}, 22, true);
    const Tensor rm = random({c}, 23), rv = random({c}, 24, false, 0.5, 2.0);
    const auto f = [&](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], in[1], in[2], rm, rv, false); };
    EXPECT_TRUE(gradcheck(f, {x, w, b}));
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) { return ops::batch_norm(in[0], Tensor(), Tensor(), rm, rv, false); }, {x}));
    // A frozen weight (x is then not kept for backward) and a frozen input.
    EXPECT_TRUE(gradcheck(f, {x, random({c}, 25, false, 0.5, 1.5), b}));
    EXPECT_TRUE(gradcheck(f, {random(s, 26), w, b}));
  }
}

TEST(BatchNorm, F32MatchesF64) {
  Generator g(30);
  const Tensor x = rand({8, 4, 5, 3}, g, DType::F32, Device::cpu(), -2.0, 3.0);
  const Tensor w = rand({4}, g, DType::F32, Device::cpu(), 0.5, 1.5), b = rand({4}, g, DType::F32);
  Tensor x32 = x.detach(), w32 = w.detach(), x64 = x.to(DType::F64), w64 = w.to(DType::F64);
  x32.requires_grad_();
  w32.requires_grad_();
  x64.requires_grad_();
  w64.requires_grad_();
  const Tensor rm32 = zeros({4}), rv32 = ones({4}), rm64 = zeros({4}, DType::F64), rv64 = ones({4}, DType::F64);
  const Tensor y32 = ops::batch_norm(x32, w32, b, rm32, rv32, true);
  const Tensor y64 = ops::batch_norm(x64, w64, b.to(DType::F64), rm64, rv64, true);
  const auto tol = testing::tolerance_for(DType::F32);
  EXPECT_TRUE(all_close(y32.to(DType::F64), y64, tol));
  EXPECT_TRUE(all_close(rm32.to(DType::F64), rm64, tol));
  EXPECT_TRUE(all_close(rv32.to(DType::F64), rv64, tol));
  const Tensor g64 = randn(y64.shape(), g, DType::F64);
  y32.backward(g64.to(DType::F32));
  y64.backward(g64);
  EXPECT_TRUE(all_close(x32.grad().to(DType::F64), x64.grad(), tol));
  EXPECT_TRUE(all_close(w32.grad().to(DType::F64), w64.grad(), tol));
}

TEST(BatchNorm, ArgumentErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 4, 3, 3}), rm = zeros({4}), rv = ones({4});
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::batch_norm(x, zeros({3}), Tensor(), rm, rv, true); },
                                      "expected weight of shape [4] (one per channel of x [2, 4, 3, 3]), found [3]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::batch_norm(x, Tensor(), Tensor(), zeros({4, 1}), rv, true);
      },
      "expected running_mean of shape [4]"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::batch_norm(zeros({5}), Tensor(), Tensor(), rm, rv, true); },
                                      "expected x of shape [N, C] or [N, C, H, W], found [5]"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::batch_norm(zeros({1, 4}), Tensor(), Tensor(), rm, rv, true);
      },
      "expected more than 1 value per channel when training, found x [1, 4]"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::batch_norm(x, Tensor(), Tensor(), rm, Tensor(), false); },
                                      "expected both defined, found running_var undefined"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1, -1e-5); },
                                      "expected eps >= 0"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::batch_norm(x, Tensor(), Tensor(), zeros({4}, DType::F64), rv, true); },
                                      "dtypes differ (f32 and f64)"));
}

}  // namespace
}  // namespace kdcu
