// transpose: values against index formulas (2-D, 3-D, 4-D, negative dims), f64 gradient checks,
// the kernel writing every output, and errors naming the op and the dims.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/factories.h"
#include "kernels/cpu/transpose.h"
#include "ops/shape.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::gradcheck;
using testing::leaf;
using testing::throws_with;

TEST(Transpose, HandComputed2D) {
  const Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor y = ops::transpose(x, 0, 1);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(ops::transpose(x, -1, -2).to_vector<double>(), y.to_vector<double>());
  EXPECT_EQ(ops::transpose(y, 1, 0).to_vector<double>(), x.to_vector<double>()) << "twice is the identity";
}

TEST(Transpose, BatchedMatricesAndOuterDims) {
  // [B, M, N] -> [B, N, M]: y[b, j, i] = x[b, i, j].
  const Tensor x = arange(0.0, 24.0, 1.0, DType::F32).reshape({2, 3, 4});
  const Tensor y = ops::transpose(x, 1, 2);
  ASSERT_EQ(y.shape(), (Shape{2, 4, 3}));
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 4; ++j) EXPECT_EQ(y.at<float>({b, j, i}), x.at<float>({b, i, j}));
  EXPECT_EQ(ops::transpose(x, -1, 1).to_vector<float>(), y.to_vector<float>());
  // Outer dims swapped, a dim in between and one after: [2, 3, 4, 5] dims 0 and 2.
  const Tensor z = arange(0.0, 120.0, 1.0, DType::F64).reshape({2, 3, 4, 5});
  const Tensor w = ops::transpose(z, 2, 0);
  ASSERT_EQ(w.shape(), (Shape{4, 3, 2, 5}));
  for (std::int64_t a = 0; a < 2; ++a)
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t c = 0; c < 4; ++c)
        for (std::int64_t d = 0; d < 5; ++d) EXPECT_EQ(w.at<double>({c, b, a, d}), z.at<double>({a, b, c, d}));
}

TEST(Transpose, SameDimIsACopy) {
  const Tensor x = from_vector<double>({1, 2, 3}, {3});
  const Tensor y = ops::transpose(x, 0, -1);
  EXPECT_FALSE(y.is_same(x));
  EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(y.shape(), x.shape());
}

TEST(TransposeGrad, TwoThreeAndFourDims) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::transpose(in[0], 0, 1); }, {leaf({3, 4}, 1)}));
  const Tensor x3 = leaf({2, 3, 4}, 2);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::transpose(in[0], 1, 2); }, {x3}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::transpose(in[0], -3, -1); }, {x3}));
  EXPECT_TRUE(
      gradcheck([](const std::vector<Tensor>& in) { return ops::transpose(in[0], 3, 1); }, {leaf({2, 3, 2, 4}, 3)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::transpose(in[0], 1, 1); }, {x3}));
}

TEST(Transpose, KernelWritesEveryOutput) {
  const std::int64_t outer = 2, a = 3, mid = 2, b = 4, inner = 3, n = outer * a * mid * b * inner;
  std::vector<float> x(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
  std::vector<float> y(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN()), back(y);
  kernels::cpu::transpose(x.data(), y.data(), outer, a, mid, b, inner);
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
  kernels::cpu::transpose(y.data(), back.data(), outer, b, mid, a, inner);  // the backward's call
  EXPECT_EQ(back, x);
}

TEST(Transpose, ErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 3});
  EXPECT_TRUE(
      throws_with<ShapeError>([&] { ops::transpose(x, 0, 2); },
                              "transpose: dim 2 is out of range for a tensor with 2 dims (expected -2 <= dim < 2)"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::transpose(x, -3, 1); }, "transpose: dim -3 is out of range"));
  EXPECT_TRUE(throws_with<DTypeError>([] { ops::transpose(arange(6).reshape({2, 3}), 0, 1); }, "transpose"));
  EXPECT_TRUE(throws_with<ValueError>([] { ops::transpose(Tensor(), 0, 1); }, "transpose: x is an undefined tensor"));
}

}  // namespace
}  // namespace kdcu
