// dropout: the kept fraction on 100k elements, the 1/(1-p) scale, determinism per seed and per
// thread count, the same mask for f32 and f64, generator bookkeeping, identity in eval and for
// p = 0, zeros for p = 1, the gradient (the mask), and argument errors.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/philox.h"
#include "ops/dropout.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::throws_with;

using testing::all_close;
using testing::gradcheck;

TEST(Dropout, KeepsAboutOneMinusPAndScalesTheKept) {
  const std::int64_t n = 100000;
  for (double p : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE(p);
    Generator gen(42);
    const Tensor x = full({n}, 3.0);
    const std::vector<float> y = ops::dropout(x, p, true, gen).to_vector<float>();
    const float kept_value = 3.0f * (1.0f / static_cast<float>(1.0 - p));
    std::int64_t kept = 0;
    for (float v : y) {
      if (v != 0.0f) {
        ++kept;
        ASSERT_EQ(v, kept_value);  // exactly x * (1 / (1 - p)), as PyTorch computes it
      }
    }
    // The kept count is Binomial(n, 1 - p): allow 5 standard deviations.
    const double expected = static_cast<double>(n) * (1 - p), sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(kept), expected, 5 * sd);
  }
}

TEST(Dropout, DeterministicPerSeedAndAdvancesTheGenerator) {
  const Tensor x = ones({1001}, DType::F64);
  Generator a(7), b(7), c(8);
  const std::vector<double> ya = ops::dropout(x, 0.5, true, a).to_vector<double>();
  EXPECT_EQ(ops::dropout(x, 0.5, true, b).to_vector<double>(), ya);
  EXPECT_NE(ops::dropout(x, 0.5, true, c).to_vector<double>(), ya);
  EXPECT_EQ(a.offset(), philox::blocks_uniform_f32(1001));           // one reservation: ceil(1001 / 4) blocks
  EXPECT_NE(ops::dropout(x, 0.5, true, a).to_vector<double>(), ya);  // the next call draws fresh numbers
  // The same seed masks f32 and f64 tensors alike.
  Generator d(7);
  EXPECT_TRUE(all_close(ops::dropout(ones({1001}), 0.5, true, d).to(DType::F64), from_vector<double>(ya),
                        testing::tolerance_for(DType::F32)));
}

TEST(Dropout, MaskDoesNotDependOnTheThreadCount) {
  const Tensor x = ones({200000});  // above the parallel threshold
  const int threads = omp_get_max_threads();
  Generator a(9), b(9);
  omp_set_num_threads(1);
  const std::vector<float> serial = ops::dropout(x, 0.3, true, a).to_vector<float>();
  omp_set_num_threads(std::max(threads, 2));
  const std::vector<float> threaded = ops::dropout(x, 0.3, true, b).to_vector<float>();
  omp_set_num_threads(threads);
  EXPECT_EQ(serial, threaded);
}

TEST(Dropout, IdentityInEvalAndForPZeroZerosForPOne) {
  Generator gen(3);
  const Tensor x = from_vector<float>({1.0f, -2.0f, 3.0f, 4.0f});
  EXPECT_TRUE(ops::dropout(x, 0.5, false, gen).is_same(x));
  EXPECT_TRUE(ops::dropout(x, 0.0, true, gen).is_same(x));
  Tensor leaf = x.to(DType::F64);
  leaf.requires_grad_();
  const Tensor y = ops::dropout(leaf, 1.0, true, gen);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0, 0, 0, 0}));
  y.backward(ones({4}, DType::F64));
  EXPECT_EQ(leaf.grad().to_vector<double>(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(gen.offset(), 0u);  // none of these needed random numbers
}

TEST(DropoutGrad, GradientIsTheScaledMask) {
  Generator g(11);
  Tensor x = rand({4, 6}, g, DType::F64, Device::cpu(), -1.0, 1.0);
  x.requires_grad_();
  // A fresh generator inside the function: every evaluation draws the same mask.
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        Generator gen(5);
        return ops::dropout(in[0], 0.4, true, gen);
      },
      {x}));
  // And the gradient is y / x elementwise: 0 where dropped, 1 / (1 - p) where kept.
  Generator gen(5);
  const Tensor y = ops::dropout(x, 0.4, true, gen);
  x.zero_grad();
  y.backward(ones({4, 6}, DType::F64));
  const std::vector<double> dx = x.grad().to_vector<double>(), vy = y.to_vector<double>(), vx = x.to_vector<double>();
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_DOUBLE_EQ(dx[i], vy[i] == 0.0 ? 0.0 : vy[i] / vx[i]) << i;
  // Under no-grad no mask is kept; the output is the same.
  autograd::NoGradGuard no_grad;
  Generator again(5);
  EXPECT_EQ(ops::dropout(x, 0.4, true, again).to_vector<double>(), vy);
}

TEST(Dropout, ArgumentErrorsNameExpectedAndFound) {
  Generator gen(0);
  const Tensor x = ones({4});
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::dropout(x, 1.5, true, gen); },
                                      "dropout: expected a probability p in [0, 1], found 1.5"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::dropout(x, -0.1, false, gen); }, "found -0.1"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::dropout(x, std::numeric_limits<double>::quiet_NaN(), true, gen); },
                                      "found nan"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { ops::dropout(arange(4), 0.5, true, gen); }, "expected a floating tensor"));
}

}  // namespace
}  // namespace kdcu
