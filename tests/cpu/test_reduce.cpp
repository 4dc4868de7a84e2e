// Reductions: values against hand-computed cases (ties, NaN, 0-d and empty tensors), f64 gradient
// checks over every dim, f32 against f64, thread-count independence, poisoned kernel outputs, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/factories.h"
#include "kernels/cpu/reduce.h"
#include "ops/reduce.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::leaf;

using testing::throws_with;

using testing::gradcheck;

TEST(Reduce, SumAndMeanValues) {
  const Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor all = ops::sum(x);
  EXPECT_EQ(all.shape(), Shape{});
  EXPECT_EQ(all.item<double>(), 21.0);
  EXPECT_EQ(ops::mean(x).item<double>(), 3.5);
  EXPECT_EQ(ops::sum(x, 0).to_vector<double>(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(ops::sum(x, 1).to_vector<double>(), (std::vector<double>{6, 15}));
  EXPECT_EQ(ops::mean(x, 0).to_vector<double>(), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(ops::mean(x, -1).to_vector<double>(), (std::vector<double>{2, 5}));
  EXPECT_EQ(ops::sum(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ops::mean(x, 0, true).shape(), (Shape{1, 3}));
  EXPECT_EQ(ops::sum(x, 1).shape(), (Shape{2}));
  // A middle dim of [2, 3, 4] holding 0..23: out[o, k] = sum_j (12 o + 4 j + k) = 36 o + 12 + 3 k.
  const Tensor y = ops::sum(arange(0, 24, 1, DType::F32).reshape({2, 3, 4}), 1);
  ASSERT_EQ(y.shape(), (Shape{2, 4}));
  for (int o = 0; o < 2; ++o)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(y.at<float>({o, k}), static_cast<float>(36 * o + 12 + 3 * k));
}

TEST(Reduce, ZeroDimAndEmptyTensors) {
  const Tensor s = scalar(2.5, DType::F64);
  EXPECT_EQ(ops::sum(s).item<double>(), 2.5);
  EXPECT_EQ(ops::sum(s, 0).shape(), Shape{});  // PyTorch: a scalar reduces over dim 0 to itself
  EXPECT_EQ(ops::mean(s, -1, true).item<double>(), 2.5);
  EXPECT_EQ(ops::max(s, 0).item<double>(), 2.5);
  EXPECT_EQ(ops::argmax(s, 0).item<std::int64_t>(), 0);
  const Tensor e = zeros({2, 0});
  EXPECT_EQ(ops::sum(e).item<float>(), 0.0f);
  EXPECT_TRUE(std::isnan(ops::mean(e).item<float>()));
  EXPECT_EQ(ops::sum(e, 1).to_vector<float>(), (std::vector<float>{0, 0}));
  const std::vector<float> m = ops::mean(e, 1).to_vector<float>();
  EXPECT_TRUE(std::isnan(m[0]) && std::isnan(m[1]));
  EXPECT_EQ(ops::sum(e, 0).shape(), (Shape{0}));
}

TEST(Reduce, MaxAndArgmaxTakeTheFirstIndexOnTiesAndNaNWins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_vector<double>({1, 3, 3, 0,      //
                                        -1, -2, -1, -5,  //
                                        2, nan, 7, nan},
                                       {3, 4});
  const std::vector<double> v = ops::max(x, 1).to_vector<double>();
  EXPECT_EQ(v[0], 3.0);
  EXPECT_EQ(v[1], -1.0);
  EXPECT_TRUE(std::isnan(v[2]));
  const Tensor i = ops::argmax(x, 1);
  EXPECT_EQ(i.dtype(), DType::I64);
  EXPECT_EQ(i.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(ops::argmax(x, 0, true).shape(), (Shape{1, 4}));
  EXPECT_EQ(ops::argmax(x.slice(0, 2), 0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 0, 0}));
  // Over a middle dim of [2, 3, 2].
  const Tensor y = from_vector<float>({1, 9, 5, 2, 3, 2,  //
                                       0, 0, -1, 4, 8, 4},
                                      {2, 3, 2});
  EXPECT_EQ(ops::max(y, 1).to_vector<float>(), (std::vector<float>{5, 9, 8, 4}));
  EXPECT_EQ(ops::argmax(y, -2).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 2, 1}));
}

TEST(Reduce, GradientOfMaxGoesToTheFirstMaximum) {
  Tensor x = from_vector<double>({1, 3, 3, 0, 2, 2}, {2, 3});
  x.requires_grad_();
  ops::sum(ops::max(x, 1)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
}

TEST(Reduce, SumDoesNotDependOnTheThreadCount) {
#ifdef _OPENMP
  // Enough elements for several chunks and the parallel path; values with rounding in their sum.
  Generator g(21);
  const Tensor x = rand({300001}, g, DType::F32, Device::cpu(), -1.0, 1.0);
  const Tensor rows = rand({7, 40001}, g, DType::F64, Device::cpu(), -1.0, 1.0);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const float one = ops::sum(x).item<float>();
  const std::vector<double> one_rows = ops::sum(rows, 0).to_vector<double>();
  omp_set_num_threads(4);
  const float four = ops::sum(x).item<float>();
  const std::vector<double> four_rows = ops::sum(rows, 0).to_vector<double>();
  omp_set_num_threads(saved);
  EXPECT_EQ(one, four);
  EXPECT_EQ(one_rows, four_rows);
#endif
  // Exact in double (all partial sums are integers below 2^53), whatever the chunking.
  EXPECT_EQ(ops::sum(arange(0, 300001, 1, DType::F64)).item<double>(), 300000.0 * 300001.0 / 2.0);
}

TEST(Reduce, KernelsWriteEveryOutput) {
  // (outer, n, inner) = (3, 5, 70): more than one block of columns.
  const std::int64_t outer = 3, n = 5, inner = 70, total = outer * n * inner;
  std::vector<double> x(static_cast<size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) x[static_cast<size_t>(i)] = std::sin(static_cast<double>(i));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> y(static_cast<size_t>(outer * inner), nan), dx(static_cast<size_t>(total), nan);
  std::vector<std::int64_t> idx(static_cast<size_t>(outer * inner), -7);
  kernels::cpu::sum_forward(x.data(), y.data(), outer, n, inner, 0.5);
  for (double v : y) EXPECT_FALSE(std::isnan(v));
  kernels::cpu::sum_backward(y.data(), dx.data(), outer, n, inner, 1.0);
  for (double v : dx) EXPECT_FALSE(std::isnan(v));
  std::fill(y.begin(), y.end(), nan);
  std::fill(dx.begin(), dx.end(), nan);
  kernels::cpu::max_forward(x.data(), y.data(), idx.data(), outer, n, inner);
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_FALSE(std::isnan(y[i]));
    EXPECT_TRUE(idx[i] >= 0 && idx[i] < n) << idx[i];
  }
  kernels::cpu::max_backward(y.data(), idx.data(), dx.data(), outer, n, inner);
  std::int64_t nonzero = 0;
  for (double v : dx) {
    EXPECT_FALSE(std::isnan(v));
    nonzero += v != 0.0;
  }
  EXPECT_EQ(nonzero, outer * inner);  // one slot per output (no column's max is 0 here)
}

TEST(ReduceGrad, SumAndMeanOverAllAndEachDim) {
  const Tensor x = leaf({2, 3, 4}, 1);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::sum(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::mean(in[0]); }, {x}));
  for (std::int64_t dim : {0, 1, 2, -1, -2}) {
    for (bool keepdim : {false, true}) {
      EXPECT_TRUE(gradcheck([=](const std::vector<Tensor>& in) { return ops::sum(in[0], dim, keepdim); }, {x}))
          << "sum dim " << dim << " keepdim " << keepdim;
      EXPECT_TRUE(gradcheck([=](const std::vector<Tensor>& in) { return ops::mean(in[0], dim, keepdim); }, {x}))
          << "mean dim " << dim << " keepdim " << keepdim;
    }
  }
}

TEST(ReduceGrad, MaxOverEachDim) {
  const Tensor x = leaf({3, 4, 5}, 2);  // random values: no ties within eps
  for (std::int64_t dim : {0, 1, 2, -1}) {
    for (bool keepdim : {false, true}) {
      EXPECT_TRUE(gradcheck([=](const std::vector<Tensor>& in) { return ops::max(in[0], dim, keepdim); }, {x}))
          << "dim " << dim << " keepdim " << keepdim;
    }
  }
}

TEST(ReduceGrad, MaxWithAnExactTieIsAKink) {
  // Row 1 has its max 1.5 twice: both points are kinks (2 of 24), where the first index's 1
  // and the second's 0 are valid subgradients.
  Tensor x = from_vector<double>({0.1,  -0.3, 0.9,  0.4,  -1.2, 0.7,   //
                                  1.5,  0.2,  -0.8, 1.5,  0.6,  -0.1,  //
                                  -0.5, 0.3,  1.1,  -0.9, 0.25, 0.8,   //
                                  0.45, -0.7, 0.15, 1.3,  -0.2, 0.05},
                                 {4, 6});
  x.requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::max(in[0], 1); }, {x}));
}

TEST(Reduce, F32MatchesF64) {
  Generator g(3);
  const Tensor x32 = rand({6, 7, 9}, g, DType::F32, Device::cpu(), -3.0, 3.0);
  const Tensor x64 = x32.to(DType::F64);  // the same values, exactly
  const testing::Tolerance tol = testing::tolerance_for(DType::F32);
  EXPECT_TRUE(testing::all_close(ops::sum(x32).to(DType::F64), ops::sum(x64), tol));
  EXPECT_TRUE(testing::all_close(ops::mean(x32).to(DType::F64), ops::mean(x64), tol));
  for (std::int64_t dim : {0, 1, 2}) {
    EXPECT_TRUE(testing::all_close(ops::sum(x32, dim).to(DType::F64), ops::sum(x64, dim), tol)) << dim;
    EXPECT_TRUE(testing::all_close(ops::mean(x32, dim).to(DType::F64), ops::mean(x64, dim), tol)) << dim;
    EXPECT_TRUE(testing::all_close(ops::max(x32, dim).to(DType::F64), ops::max(x64, dim), tol)) << dim;
    EXPECT_EQ(ops::argmax(x32, dim).to_vector<std::int64_t>(), ops::argmax(x64, dim).to_vector<std::int64_t>());
  }
}

TEST(Reduce, ErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::sum(x, 2); }, "sum: dim 2 is out of range for a tensor with 2 dims"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::mean(x, -3); }, "expected -2 <= dim < 2"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::max(x, 5); }, "max: dim 5 is out of range"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::sum(scalar(1.0), 1); }, "dim 1 is out of range"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::max(zeros({2, 0}), 1);
      },
      "max: cannot reduce over dim 1 of shape [2, 0] (expected a non-empty dim, found size 0)"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::argmax(zeros({0, 3}), 0); }, "argmax: cannot reduce over dim 0"));
  EXPECT_TRUE(
      throws_with<DTypeError>([&] { ops::sum(arange(4)); }, "sum: expected a floating tensor (f32 or f64), found i64"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::argmax(arange(4), 0); }, "found i64"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::mean(Tensor()); }, "mean: x is an undefined tensor"));
}

}  // namespace
}  // namespace kdcu
