// Elementwise ops: values against closed forms, f64 gradient checks (broadcast shapes included),
// f32 and f64 agreement, and errors for mismatched operands.
#include <gtest/gtest.h>

#include <cmath>

#include "core/factories.h"
#include "ops/elementwise.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::leaf;

using testing::gradcheck;

TEST(Elementwise, BinaryValuesWithBroadcast) {
  const Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = from_vector<float>({10, 20, 30}, {3});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ((a - b).to_vector<float>(), (std::vector<float>{-9, -18, -27, -6, -15, -24}));
  EXPECT_EQ((a * b).to_vector<float>(), (std::vector<float>{10, 40, 90, 40, 100, 180}));
  const Tensor col = from_vector<float>({2, 4}, {2, 1});
  EXPECT_EQ((a / col).to_vector<float>(), (std::vector<float>{0.5f, 1, 1.5f, 1, 1.25f, 1.5f}));
  // [N,C,H,W] + [1,C,1,1]
  const Tensor x = zeros({2, 3, 2, 2});
  const Tensor bias = from_vector<float>({1, 2, 3}, {1, 3, 1, 1});
  const std::vector<float> y = (x + bias).to_vector<float>();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 4; ++i) EXPECT_EQ(y[static_cast<size_t>((n * 3 + c) * 4 + i)], static_cast<float>(c + 1));
}

TEST(Elementwise, UnaryValues) {
  const Tensor x = from_vector<double>({-1.0, 0.0, 0.5, 2.0});
  const std::vector<double> v = {-1.0, 0.0, 0.5, 2.0};
  const auto check = [&](const Tensor& y, double (*f)(double)) {
    const std::vector<double> got = y.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(got[i], f(v[i]), 1e-15) << i;
  };
  check(ops::exp(x), [](double a) { return std::exp(a); });
  check(ops::tanh(x), [](double a) { return std::tanh(a); });
  check(ops::sigmoid(x), [](double a) { return 1.0 / (1.0 + std::exp(-a)); });
  check(ops::relu(x), [](double a) { return a > 0 ? a : 0.0; });
  check(-x, [](double a) { return -a; });
  check(ops::pow(x, 2.0), [](double a) { return a * a; });
  check(2.0 - x * 3.0 + 1.0, [](double a) { return 3.0 - 3.0 * a; });
  const Tensor p = from_vector<double>({0.25, 4.0});
  EXPECT_EQ(ops::sqrt(p).to_vector<double>(), (std::vector<double>{0.5, 2.0}));
  EXPECT_NEAR(ops::log(p).to_vector<double>()[1], std::log(4.0), 1e-15);
  EXPECT_EQ((1.0 / p).to_vector<double>(), (std::vector<double>{4.0, 0.25}));
}

TEST(Elementwise, SigmoidIsStableAtExtremes) {
  const std::vector<float> y = ops::sigmoid(from_vector<float>({-1000.0f, 1000.0f})).to_vector<float>();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 1.0f);
}

TEST(ElementwiseGrad, BinaryOpsSameShape) {
  const Tensor a = leaf({3, 4}, 1), b = leaf({3, 4}, 2, 0.5, 2.0);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] + in[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] - in[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] / in[1]; }, {a, b}));
}

TEST(ElementwiseGrad, BinaryOpsBroadcast) {
  const Tensor x = leaf({2, 3, 2, 2}, 3), c = leaf({1, 3, 1, 1}, 4, 0.5, 2.0), v = leaf({2}, 5, 0.5, 2.0);
  const Tensor row = leaf({3, 1, 1}, 6, 0.5, 2.0);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] + in[1]; }, {x, c}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {x, c}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[0] / in[1]; }, {x, v}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return in[1] - in[0]; }, {x, row}));
  EXPECT_TRUE(
      gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {row, v}));  // [3,1,1]*[2] -> [3,1,2]
}

TEST(ElementwiseGrad, UnaryOps) {
  const Tensor x = leaf({5, 3}, 7), pos = leaf({5, 3}, 8, 0.2, 3.0);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return -in[0]; }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::exp(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::log(in[0]); }, {pos}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::sqrt(in[0]); }, {pos}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::sigmoid(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::tanh(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::pow(in[0], 3.0); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::pow(in[0], -1.5); }, {pos}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return 2.0 / in[0] - 3.0 * in[0] + 1.0; }, {pos}));
}

TEST(ElementwiseGrad, ReluIncludingTheKink) {
  const Tensor x = leaf({4, 5}, 9);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::relu(in[0]); }, {x}));
  // One exact zero among 20 points: a kink, where any subgradient in [0, 1] is accepted.
  Tensor k = from_vector<double>({0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.25, -0.25, 3.0, 1.5, -1.5});
  k.requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::relu(in[0]); }, {k}));
}

TEST(ElementwiseGrad, CheckerCatchesAWrongGradient) {
  // A deliberately wrong backward must fail the checker (guards against a check that cannot fail).
  const Tensor x = leaf({3}, 10);
  const auto wrong = [](const std::vector<Tensor>& in) {
    return in[0] * in[0].detach() * 1.0;  // value x^2, but the gradient only sees one factor: x instead of 2x
  };
  EXPECT_FALSE(gradcheck(wrong, {x}));
}

TEST(Elementwise, F32MatchesF64) {
  Generator g(11);
  const Tensor a = rand({7, 5}, g, DType::F64, Device::cpu(), 0.5, 2.0),
               b = rand({5}, g, DType::F64, Device::cpu(), 0.5, 2.0);
  const Tensor ref = ops::sigmoid(a * b) / ops::sqrt(a + b) - ops::log(a);
  const Tensor a32 = a.to(DType::F32), b32 = b.to(DType::F32);
  const Tensor got = ops::sigmoid(a32 * b32) / ops::sqrt(a32 + b32) - ops::log(a32);
  EXPECT_TRUE(testing::all_close(got.to(DType::F64), ref, testing::tolerance_for(DType::F32, 2.0)));
}

TEST(Elementwise, MismatchesAreClearErrors) {
  const Tensor a = zeros({2, 3}), b = zeros({4});
  try {
    a + b;
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("add: shapes [2, 3] and [4] do not broadcast"), std::string::npos) << e.what();
  }
  EXPECT_THROW(a * zeros({2, 3}, DType::F64), DTypeError);
  EXPECT_THROW(ops::exp(arange(3)), DTypeError);
}

}  // namespace
}  // namespace kdcu
