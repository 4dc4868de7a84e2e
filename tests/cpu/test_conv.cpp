// conv2d: forward and all three gradients against a naive 7-loop direct convolution (a different
// algorithm from im2col + GEMM), including a batch large enough for the threaded path; f64
// gradient checks over strides, paddings, dilation, 1x1 kernels and odd sizes; reproducibility;
// f32 against f64; argument errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/factories.h"
#include "ops/conv.h"
#include "tests/support/checks.h"
#include "tests/support/gradcheck.h"

namespace kdcu {
namespace {

using testing::random;

using testing::throws_with;

using ops::Pair;
using testing::all_close;
using testing::gradcheck;

struct ConvCase {
  std::int64_t n, cin, cout, h, w, kh, kw;
  Pair stride{1, 1}, padding{0, 0}, dilation{1, 1};
  bool bias = true;
  std::int64_t oh() const { return (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1; }
  std::int64_t ow() const { return (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1; }
};

// The direct definition, one output (or one gradient contribution) per innermost iteration.
struct Naive {
  std::vector<double> y, dx, dw, db;
};
Naive naive_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g) {
  const std::vector<double> vx = x.to_vector<double>(), vw = w.to_vector<double>(), vg = g.to_vector<double>();
  const std::vector<double> vb = c.bias ? b.to_vector<double>() : std::vector<double>(c.cout, 0.0);
  const std::int64_t oh = c.oh(), ow = c.ow();
  Naive r{std::vector<double>(c.n * c.cout * oh * ow), std::vector<double>(vx.size(), 0.0),
          std::vector<double>(vw.size(), 0.0), std::vector<double>(c.cout, 0.0)};
  for (std::int64_t n = 0; n < c.n; ++n)
    for (std::int64_t o = 0; o < c.cout; ++o)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          const std::int64_t yi = ((n * c.cout + o) * oh + i) * ow + j;
          double acc = vb[o];
          r.db[o] += vg[yi];
          for (std::int64_t ci = 0; ci < c.cin; ++ci)
            for (std::int64_t a = 0; a < c.kh; ++a)
              for (std::int64_t bb = 0; bb < c.kw; ++bb) {
                const std::int64_t iy = i * c.stride[0] - c.padding[0] + a * c.dilation[0];
                const std::int64_t ix = j * c.stride[1] - c.padding[1] + bb * c.dilation[1];
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                const std::int64_t xi = ((n * c.cin + ci) * c.h + iy) * c.w + ix;
                const std::int64_t wi = ((o * c.cin + ci) * c.kh + a) * c.kw + bb;
                acc += vw[wi] * vx[xi];
                r.dx[xi] += vw[wi] * vg[yi];
                r.dw[wi] += vx[xi] * vg[yi];
              }
          r.y[yi] = acc;
        }
  return r;
}

const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> all = {
      {2, 3, 4, 7, 5, 3, 3},                                 // odd sizes, stride 1, no padding
      {2, 3, 4, 7, 5, 3, 3, {2, 2}, {1, 1}},                 // stride 2, padding 1
      {2, 3, 4, 7, 5, 3, 3, {1, 1}, {2, 2}, {2, 2}, false},  // dilation 2, no bias
      {2, 3, 4, 7, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, false},  // pointwise: no im2col
      {2, 3, 4, 7, 5, 1, 1, {2, 2}},                         // 1x1 stride 2 (a ResNet shortcut)
      {1, 2, 3, 6, 7, 2, 3, {2, 1}, {1, 0}, {1, 2}},         // non-square everything
      {8, 4, 8, 12, 10, 3, 3, {1, 1}, {1, 1}},               // enough work for the threaded path
  };
  return all;
}

TEST(Conv2d, ForwardAndGradientsMatchNaiveLoops) {
  std::uint64_t seed = 100;
  for (const ConvCase& c : cases()) {
    SCOPED_TRACE(::testing::Message() << "x [" << c.n << ", " << c.cin << ", " << c.h << ", " << c.w << "], k " << c.kh
                                      << "x" << c.kw << ", stride " << c.stride[0] << "," << c.stride[1]);
    const Tensor x = random({c.n, c.cin, c.h, c.w}, ++seed, true),
                 w = random({c.cout, c.cin, c.kh, c.kw}, ++seed, true);
    const Tensor b = c.bias ? random({c.cout}, ++seed, true) : Tensor();
    const Tensor y = ops::conv2d(x, w, b, c.stride, c.padding, c.dilation);
    ASSERT_EQ(y.shape(), (Shape{c.n, c.cout, c.oh(), c.ow()}));
    const Tensor g = random(y.shape(), ++seed);
    y.backward(g);
    const Naive ref = naive_conv(c, x, w, b, g);
    EXPECT_TRUE(all_close(y, from_vector<double>(ref.y, y.shape())));
    EXPECT_TRUE(all_close(x.grad(), from_vector<double>(ref.dx, x.shape())));
    EXPECT_TRUE(all_close(w.grad(), from_vector<double>(ref.dw, w.shape())));
    if (c.bias) {
      EXPECT_TRUE(all_close(b.grad(), from_vector<double>(ref.db, b.shape())));
    }
  }
}

TEST(Conv2dGrad, EveryConfiguration) {
  // The threaded case is left to the naive comparison above: a gradient check of it is slow.
  for (size_t k = 0; k + 1 < cases().size(); ++k) {
    const ConvCase& c = cases()[k];
    SCOPED_TRACE(::testing::Message() << "case " << k);
    const Tensor x = random({c.n, c.cin, c.h, c.w}, 200 + k, true);
    const Tensor w = random({c.cout, c.cin, c.kh, c.kw}, 300 + k, true);
    const Tensor b = c.bias ? random({c.cout}, 400 + k, true) : Tensor();
    EXPECT_TRUE(gradcheck(
        [&c](const std::vector<Tensor>& in) {
          return ops::conv2d(in[0], in[1], in[2], c.stride, c.padding, c.dilation);
        },
        {x, w, b}));
  }
}

TEST(Conv2dGrad, OnlySomeInputsWantGradients) {
  // A frozen weight (teacher) or a constant input: the other operand is not kept for backward.
  const auto f = [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2], {2, 1}, {1, 1}); };
  EXPECT_TRUE(gradcheck(f, {random({2, 2, 5, 4}, 50, true), random({3, 2, 3, 3}, 51), random({3}, 52)}));
  EXPECT_TRUE(gradcheck(f, {random({2, 2, 5, 4}, 53), random({3, 2, 3, 3}, 54, true), random({3}, 55, true)}));
}

TEST(Conv2d, BackwardIsBitwiseReproducible) {
  const ConvCase& c = cases().back();
  Tensor x = random({c.n, c.cin, c.h, c.w}, 60, true), w = random({c.cout, c.cin, c.kh, c.kw}, 61, true);
  const Tensor g = random({c.n, c.cout, c.oh(), c.ow()}, 62);
  ops::conv2d(x, w, Tensor(), c.stride, c.padding).backward(g);
  const std::vector<double> dw1 = w.grad().to_vector<double>(), dx1 = x.grad().to_vector<double>();
  w.zero_grad();
  x.zero_grad();
  ops::conv2d(x, w, Tensor(), c.stride, c.padding).backward(g);
  EXPECT_EQ(w.grad().to_vector<double>(), dw1);
  EXPECT_EQ(x.grad().to_vector<double>(), dx1);
}

TEST(Conv2d, F32MatchesF64) {
  // The f64 reference runs on the f32 inputs widened, so only the f32 arithmetic differs.
  const Tensor x = random({3, 5, 9, 8}, 70).to(DType::F32), w = random({6, 5, 3, 3}, 71).to(DType::F32);
  const Tensor b = random({6}, 72).to(DType::F32);
  const Tensor y = ops::conv2d(x, w, b, {2, 1}, {1, 1});
  const Tensor ref = ops::conv2d(x.to(DType::F64), w.to(DType::F64), b.to(DType::F64), {2, 1}, {1, 1});
  EXPECT_TRUE(all_close(y.to(DType::F64), ref, testing::tolerance_for(DType::F32)));
}

TEST(Conv2d, OutputSizeFollowsPyTorch) {
  EXPECT_EQ(ops::conv2d(zeros({1, 1, 28, 28}), zeros({4, 1, 3, 3}), Tensor(), {1, 1}, {1, 1}).shape(),
            (Shape{1, 4, 28, 28}));
  EXPECT_EQ(ops::conv2d(zeros({1, 1, 32, 31}), zeros({2, 1, 3, 3}), Tensor(), {2, 2}, {1, 1}).shape(),
            (Shape{1, 2, 16, 16}));
  EXPECT_EQ(ops::conv2d(zeros({1, 1, 7, 7}), zeros({2, 1, 3, 3}), Tensor(), {1, 1}, {0, 0}, {3, 3}).shape(),
            (Shape{1, 2, 1, 1}));
  EXPECT_EQ(ops::conv_output_size(8, 1, 2, 0), 4);
}

TEST(Conv2d, ArgumentErrorsNameExpectedAndFound) {
  const Tensor x = zeros({2, 5, 7, 5}), w = zeros({4, 3, 3, 3});
  EXPECT_TRUE(throws_with<ShapeError>([&] { ops::conv2d(x, w); },
                                      "x [2, 5, 7, 5] has 5 channels but weight [4, 3, 3, 3] expects 3"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::conv2d(zeros({5, 7, 5}), w);
      },
      "expected x of shape [N, Cin, H, W], found [5, 7, 5]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}), zeros({4, 3, 3}));
      },
      "expected weight of shape [Cout, Cin, kh, kw] (OIHW), found [4, 3, 3]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}), w, zeros({3}));
      },
      "expected bias of shape [4] (one per output channel), found [3]"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        ops::conv2d(zeros({2, 3, 4, 5}), w, Tensor(), {1, 1}, {0, 0}, {2, 2});
      },
      "the (dilated) kernel is 5x5 but the padded input is only 4x5"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}), w, Tensor(), {0, 1});
      },
      "expected stride >= 1, found (0, 1)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}), w, Tensor(), {1, 1}, {-1, 0});
      },
      "expected padding >= 0, found (-1, 0)"));
  EXPECT_TRUE(throws_with<ValueError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}), w, Tensor(), {1, 1}, {0, 0}, {1, 0});
      },
      "expected dilation >= 1, found (1, 0)"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        ops::conv2d(zeros({2, 3, 7, 5}, DType::F64), w);
      },
      "dtypes differ (f64 and f32)"));
}

}  // namespace
}  // namespace kdcu
