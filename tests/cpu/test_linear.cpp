// matmul and linear: values against naive triple loops (2-D and batched, with and without bias,
// empty inner dim), f64 gradient checks for every input, f32 against f64, and argument errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/factories.h"
#include "ops/linear.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::random;

using testing::throws_with;

using testing::all_close;
using testing::gradcheck;

// c[b, i, j] = sum_k a[b, i, k] * bm[b, k, j], on the host.
Tensor naive_matmul(const Tensor& a, const Tensor& bm, std::int64_t batch, std::int64_t m, std::int64_t k,
                    std::int64_t n, const Shape& out_shape) {
  const std::vector<double> va = a.to_vector<double>(), vb = bm.to_vector<double>();
  std::vector<double> c(static_cast<size_t>(batch * m * n), 0.0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (std::int64_t p = 0; p < k; ++p) s += va[(b * m + i) * k + p] * vb[(b * k + p) * n + j];
        c[(b * m + i) * n + j] = s;
      }
  return from_vector<double>(c, out_shape);
}

TEST(Matmul, MatchesNaiveLoop) {
  const Tensor a = random({5, 7}, 1), b = random({7, 3}, 2);
  EXPECT_TRUE(all_close(ops::matmul(a, b), naive_matmul(a, b, 1, 5, 7, 3, {5, 3})));
  const Tensor ab = random({4, 3, 6}, 3), bb = random({4, 6, 2}, 4);
  EXPECT_TRUE(all_close(ops::matmul(ab, bb), naive_matmul(ab, bb, 4, 3, 6, 2, {4, 3, 2})));
}

TEST(Matmul, BatchedLargeEnoughToThreadEqualsPerMatrixProducts) {
  // 8 products of 20x20x20: enough work for the batch to be split across threads. Each slice's
  // value and gradients must equal the plain 2-D op's (which the gradient checks cover).
  Tensor a = random({8, 20, 20}, 40, true), b = random({8, 20, 20}, 41, true);
  const Tensor g = random({8, 20, 20}, 42);
  const Tensor c = ops::matmul(a, b);
  EXPECT_TRUE(all_close(c, naive_matmul(a, b, 8, 20, 20, 20, {8, 20, 20})));
  c.backward(g);
  for (std::int64_t i = 0; i < 8; ++i) {
    const auto slice = [i](const Tensor& t) { return t.detach().slice(i, i + 1).reshape({20, 20}).clone(); };
    Tensor ai = slice(a), bi = slice(b);
    ai.requires_grad_();
    bi.requires_grad_();
    ops::matmul(ai, bi).backward(slice(g));
    EXPECT_TRUE(all_close(slice(a.grad()), ai.grad())) << "batch " << i;
    EXPECT_TRUE(all_close(slice(b.grad()), bi.grad())) << "batch " << i;
  }
}

TEST(Matmul, EmptyInnerDimGivesZeros) {
  // The output is fresh (uninitialised) memory: the k == 0 path must write every element.
  const Tensor c = ops::matmul(zeros({3, 0}, DType::F64), zeros({0, 4}, DType::F64));
  EXPECT_TRUE(all_close(c, zeros({3, 4}, DType::F64)));
}

TEST(Linear, MatchesNaiveLoop) {
  const Tensor x = random({6, 5}, 5), w = random({4, 5}, 6), b = random({4}, 7);
  const std::vector<double> vx = x.to_vector<double>(), vw = w.to_vector<double>(), vb = b.to_vector<double>();
  std::vector<double> with_bias(24), without(24);
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 4; ++o) {
      double s = 0.0;
      for (int i = 0; i < 5; ++i) s += vx[r * 5 + i] * vw[o * 5 + i];
      without[r * 4 + o] = s;
      with_bias[r * 4 + o] = s + vb[o];
    }
  EXPECT_TRUE(all_close(ops::linear(x, w, b), from_vector<double>(with_bias, {6, 4})));
  EXPECT_TRUE(all_close(ops::linear(x, w, Tensor()), from_vector<double>(without, {6, 4})));
}

TEST(LinearGrad, MatmulPlainAndBatched) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); },
                        {random({4, 3}, 10, true), random({3, 5}, 11, true)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); },
                        {random({2, 3, 4}, 12, true), random({2, 4, 3}, 13, true)}));
  // Only one side wanting a gradient: the other operand is not even kept for backward.
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); },
                        {random({3, 4}, 14, true), random({4, 2}, 15)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); },
                        {random({3, 4}, 16), random({4, 2}, 17, true)}));
}

TEST(LinearGrad, WithAndWithoutBias) {
  const Tensor x = random({5, 4}, 20, true), w = random({3, 4}, 21, true), b = random({3}, 22, true);
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], in[2]); }, {x, w, b}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], Tensor()); }, {x, w}));
  // Frozen weight (a teacher layer): only x and the bias are differentiated.
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], in[2]); },
                        {x, random({3, 4}, 23), b}));
}

TEST(Linear, F32MatchesF64) {
  const Tensor x = random({9, 17}, 30).to(DType::F32), w = random({6, 17}, 31).to(DType::F32);
  const Tensor b = random({6}, 32).to(DType::F32);
  const Tensor x64 = x.to(DType::F64), w64 = w.to(DType::F64), b64 = b.to(DType::F64);
  EXPECT_TRUE(
      all_close(ops::linear(x, w, b).to(DType::F64), ops::linear(x64, w64, b64), testing::tolerance_for(DType::F32)));
  const Tensor a = random({3, 5, 17}, 33).to(DType::F32), c = random({3, 17, 4}, 34).to(DType::F32);
  EXPECT_TRUE(all_close(ops::matmul(a, c).to(DType::F64), ops::matmul(a.to(DType::F64), c.to(DType::F64)),
                        testing::tolerance_for(DType::F32)));
}

TEST(Linear, ArgumentErrorsNameExpectedAndFound) {
  const Tensor a = zeros({2, 3}), b = zeros({4, 5});
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::matmul(a, b); }, "inner dims differ: [2, 3] x [4, 5]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::matmul(zeros({3}), zeros({3, 2}));
      },
      "expected [M, K] x [K, N] or [B, M, K] x [B, K, N], found [3] x [3, 2]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::matmul(zeros({2, 2, 3}), zeros({3, 3, 4}));
      },
      "batch sizes differ: [2, 2, 3] x [3, 3, 4]"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::matmul(a, zeros({3, 2}, DType::F64));
      },
      "dtypes differ (f32 and f64)"));
  const Tensor x = zeros({2, 3});
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::linear(x, zeros({4, 5}), Tensor());
      },
      "x [2, 3] has 3 features but weight [4, 5] expects 5"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::linear(x, zeros({4, 3}), zeros({3}));
      },
      "expected bias of shape [4], found [3]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::linear(zeros({2, 3, 1}), zeros({4, 3}), Tensor());
      },
      "expected x of shape [N, in], found [2, 3, 1]"));
  EXPECT_TRUE(throws_with<ValueError>([&] { ops::linear(Tensor(), zeros({4, 3}), Tensor()); }, "x is an undefined"));
}

}  // namespace
}  // namespace kdcu
