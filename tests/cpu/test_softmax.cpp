// softmax / log_softmax: closed forms, rows summing to 1 at extreme temperatures and logits,
// temperature fused = dividing first, f64 gradient checks over the last and a middle dim,
// f32 against f64, poisoned kernel outputs, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/factories.h"
#include "kernels/cpu/softmax.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::leaf;

using testing::throws_with;

using testing::gradcheck;

TEST(Softmax, ClosedForms) {
  const double ln2 = std::log(2.0);
  const Tensor x = from_vector<double>({0.0, ln2});
  EXPECT_TRUE(testing::all_close(ops::softmax(x), from_vector<double>({1.0 / 3, 2.0 / 3})));
  EXPECT_TRUE(testing::all_close(ops::log_softmax(x), from_vector<double>({std::log(1.0 / 3), std::log(2.0 / 3)})));
  // T = 2 halves the logits: [0, 2 ln 2] / 2 = [0, ln 2].
  const Tensor x2 = from_vector<double>({0.0, 2 * ln2});
  EXPECT_TRUE(testing::all_close(ops::softmax(x2, -1, 2.0), from_vector<double>({1.0 / 3, 2.0 / 3})));
  // A middle dim of [2, 2, 2]: rows (o, k) are {x[o, 0, k], x[o, 1, k]}.
  const Tensor m = from_vector<double>({0, 5, ln2, 5, 1, 0, 1, std::log(3.0)}, {2, 2, 2});
  EXPECT_TRUE(testing::all_close(ops::softmax(m, 1),
                                 from_vector<double>({1.0 / 3, 0.5, 2.0 / 3, 0.5, 0.5, 0.25, 0.5, 0.75}, {2, 2, 2})));
  EXPECT_EQ(ops::softmax(scalar(3.0, DType::F64), 0).item<double>(), 1.0);  // a 0-d tensor is one-element row
}

TEST(Softmax, TemperatureIsTheSameAsDividingFirst) {
  const Tensor x = leaf({4, 6}, 1, -5.0, 5.0).detach();
  for (double t : {0.5, 3.0, 7.5}) {
    EXPECT_TRUE(testing::all_close(ops::softmax(x, 1, t), ops::softmax(x / t, 1))) << t;
    EXPECT_TRUE(testing::all_close(ops::log_softmax(x, 0, t), ops::log_softmax(x / t, 0))) << t;
  }
}

TEST(Softmax, RowsSumToOneAndStayFinite) {
  // Logits up to +-1e4 overflow exp() unless the row max is subtracted.
  const Tensor x = from_vector<float>({1e4f, -1e4f, 0.0f, 3.0f,     //
                                       50.0f, 49.0f, -50.0f, 0.5f,  //
                                       -1e4f, -1e4f, -1e4f, -1e4f},
                                      {3, 4});
  for (double t : {0.5, 20.0}) {
    for (std::int64_t dim : {0, 1}) {
      const Tensor p = ops::softmax(x, dim, t);
      for (float v : p.to_vector<float>()) EXPECT_TRUE(std::isfinite(v) && v >= 0.0f && v <= 1.0f) << v;
      const std::vector<float> sums = ops::sum(p, dim).to_vector<float>();
      for (float s : sums) EXPECT_NEAR(s, 1.0f, 1e-6f) << "T " << t << " dim " << dim;
      for (float v : ops::log_softmax(x, dim, t).to_vector<float>()) EXPECT_TRUE(std::isfinite(v) && v <= 0.0f) << v;
    }
  }
  // log_softmax([1e4, -1e4, 0]) = [0, -2e4, -1e4], no log of an underflowed probability.
  const std::vector<double> l = ops::log_softmax(from_vector<double>({1e4, -1e4, 0})).to_vector<double>();
  EXPECT_EQ(l, (std::vector<double>{0.0, -2e4, -1e4}));
}

TEST(Softmax, ExpOfLogSoftmaxIsSoftmax) {
  const Tensor x = leaf({3, 5, 2}, 2, -4.0, 4.0).detach();
  EXPECT_TRUE(testing::all_close(ops::exp(ops::log_softmax(x, 1, 4.0)), ops::softmax(x, 1, 4.0)));
}

TEST(Softmax, KernelsWriteEveryOutput) {
  const std::int64_t outer = 2, n = 5, inner = 3, total = outer * n * inner;
  std::vector<float> x(static_cast<size_t>(total)), dy(static_cast<size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) {
    x[static_cast<size_t>(i)] = std::cos(static_cast<float>(i));
    dy[static_cast<size_t>(i)] = std::sin(static_cast<float>(i));
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  using Forward = void (*)(const float*, float*, std::int64_t, std::int64_t, std::int64_t, float);
  using Backward = void (*)(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t, float);
  const std::vector<std::pair<Forward, Backward>> kernels = {
      {kernels::cpu::softmax_forward<float>, kernels::cpu::softmax_backward<float>},
      {kernels::cpu::log_softmax_forward<float>, kernels::cpu::log_softmax_backward<float>}};
  for (const auto& [forward, backward] : kernels) {
    std::vector<float> y(static_cast<size_t>(total), nan), dx(static_cast<size_t>(total), nan);
    forward(x.data(), y.data(), outer, n, inner, 0.5f);
    backward(y.data(), dy.data(), dx.data(), outer, n, inner, 0.5f);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(std::isfinite(y[i]) && std::isfinite(dx[i])) << i;
  }
}

TEST(SoftmaxGrad, LastAndMiddleDimAtSeveralTemperatures) {
  const Tensor x = leaf({3, 4, 5}, 3);
  for (double t : {0.5, 1.0, 4.0}) {
    for (std::int64_t dim : {-1, 1}) {
      EXPECT_TRUE(gradcheck([=](const std::vector<Tensor>& in) { return ops::softmax(in[0], dim, t); }, {x}))
          << "softmax T " << t << " dim " << dim;
      EXPECT_TRUE(gradcheck([=](const std::vector<Tensor>& in) { return ops::log_softmax(in[0], dim, t); }, {x}))
          << "log_softmax T " << t << " dim " << dim;
    }
  }
}

TEST(Softmax, F32MatchesF64) {
  Generator g(4);
  const Tensor x32 = rand({5, 7, 3}, g, DType::F32, Device::cpu(), -6.0, 6.0);
  const Tensor w32 = rand({5, 7, 3}, g, DType::F32, Device::cpu(), -1.0, 1.0);
  const testing::Tolerance tol = testing::tolerance_for(DType::F32);
  for (double t : {0.5, 1.0, 4.0}) {
    for (std::int64_t dim : {0, 1, 2}) {
      for (bool log : {false, true}) {
        // Forward values and the gradient of sum(w * f(x)), each computed in f32 and in f64 from
        // the same (exactly representable) inputs.
        const auto run = [&](DType dtype, Tensor* grad) {
          Tensor x = x32.to(dtype).detach();  // to() of the same dtype is the same handle
          x.requires_grad_();
          const Tensor y = log ? ops::log_softmax(x, dim, t) : ops::softmax(x, dim, t);
          ops::sum(y * w32.to(dtype)).backward();
          *grad = x.grad();
          return y;
        };
        Tensor g32, g64;
        const Tensor y32 = run(DType::F32, &g32), y64 = run(DType::F64, &g64);
        EXPECT_TRUE(testing::all_close(y32.to(DType::F64), y64, tol)) << "T " << t << " dim " << dim << " log " << log;
        EXPECT_TRUE(testing::all_close(g32.to(DType::F64), g64, tol)) << "T " << t << " dim " << dim << " log " << log;
      }
    }
  }
}

TEST(Softmax, ErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 3});
  for (double bad : {0.0, -1.0}) {
    EXPECT_TRUE(throws_with<ValueError>([&] { ops::softmax(x, -1, bad); },
                                        "softmax: temperature must be finite and > 0, found " + cat(bad)));
  }
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::log_softmax(x, -1, std::numeric_limits<double>::infinity()); },
                                      "log_softmax: temperature must be finite and > 0, found inf"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::softmax(x, -1, std::nan("")); }, "found nan"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { ops::softmax(x, 2); }, "softmax: dim 2 is out of range for a tensor with 2 dims (expected -2 <= dim < 2)"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::log_softmax(x, -3); }, "log_softmax: dim -3 is out of range"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::softmax(arange(3)); },
                                      "softmax: expected a floating tensor (f32 or f64), found i64"));
}

}  // namespace
}  // namespace kdcu
