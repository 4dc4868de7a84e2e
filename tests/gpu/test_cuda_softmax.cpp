// CUDA softmax / log-softmax (temperature fused) against the CPU reference on fresh random inputs:
// row lengths on both sides of every kernel path (sub-warp, warp, block, float4 / scalar loads),
// odd batch sizes, T in {0.5, 1, 4, 20}, logits of +-1e4 mixed in, softmax over a middle dim, and
// gradients through backward. Every device allocation starts as NaN, so an unwritten element fails.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "core/storage.h"
#include "ops/softmax.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();
const std::vector<std::int64_t> kClasses = {1, 2, 10, 31, 32, 33, 100, 1000, 1024, 1025, 32000};
const std::vector<std::int64_t> kBatches = {1, 3, 7, 129};
const std::vector<double> kTemperatures = {0.5, 1.0, 4.0, 20.0};

// exp and the log-sum-exp in f32 on the device vs double on the CPU: a few ulps of each term.
testing::Tolerance tol() {
  return testing::tolerance_for(DType::F32, 4.0);
}

// N(0, 3) logits; with `outliers`, about 2 % of them replaced by +-1e4.
Tensor logits(const Shape& shape, Generator& g, bool outliers) {
  const Tensor x = randn(shape, g, DType::F32, Device::cpu(), 0.0, 3.0);
  if (!outliers) return x;
  std::vector<float> v = x.to_vector<float>();
  const std::vector<float> u = rand(shape, g).to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i)
    if (u[i] < 0.02f) v[i] = (i % 2 == 0) ? 1e4f : -1e4f;
  return from_vector<float>(v, shape);
}

struct Case {
  std::int64_t B, C;
  double T;
  bool outliers;
};

// Every C twice, with the batch sizes and temperatures rotating, outliers in every other case.
std::vector<Case> cases() {
  std::vector<Case> out;
  for (size_t i = 0; i < kClasses.size(); ++i) {
    out.push_back({kBatches[i % 4], kClasses[i], kTemperatures[i % 4], i % 2 == 0});
    out.push_back({kBatches[(i + 2) % 4], kClasses[i], kTemperatures[(i + 1) % 4], i % 2 == 1});
  }
  return out;
}

// f(x) and dx on the CPU and on the GPU for the same x and upstream gradient.
template <class F>
void expect_same(const Tensor& x_host, const F& f, Generator& g, const std::string& what) {
  Tensor x = x_host.detach(), xd = x_host.detach().to(kGpu);
  x.requires_grad_();
  xd.requires_grad_();
  const Tensor y = f(x), yd = f(xd);
  EXPECT_TRUE(yd.device().is_cuda()) << what;
  EXPECT_TRUE(testing::all_close(yd, y, tol())) << what << " forward";
  const Tensor seed = randn(y.shape(), g);
  y.backward(seed);
  yd.backward(seed.to(kGpu));
  EXPECT_TRUE(testing::all_close(xd.grad(), x.grad(), tol())) << what << " backward";
}

TEST(CudaSoftmax, LastDimMatchesCpuForwardAndBackward) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(31);
  for (const Case& c : cases()) {
    const Tensor x = logits({c.B, c.C}, g, c.outliers);
    const std::string what = "B " + std::to_string(c.B) + " C " + std::to_string(c.C) + " T " + std::to_string(c.T) +
                             (c.outliers ? " outliers" : "");
    expect_same(
        x, [&](const Tensor& t) { return ops::softmax(t, -1, c.T); }, g, "softmax " + what);
    expect_same(
        x, [&](const Tensor& t) { return ops::log_softmax(t, 1, c.T); }, g, "log_softmax " + what);
  }
}

TEST(CudaSoftmax, MiddleAndFirstDimsMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(32);
  for (std::int64_t n : {1, 10, 33, 1000}) {
    for (double T : {0.5, 4.0}) {
      const Tensor x = logits({3, n, 5}, g, n == 33);
      const std::string what = "n " + std::to_string(n) + " T " + std::to_string(T);
      expect_same(
          x, [&](const Tensor& t) { return ops::softmax(t, 1, T); }, g, "softmax dim 1 " + what);
      expect_same(
          x, [&](const Tensor& t) { return ops::log_softmax(t, 1, T); }, g, "log_softmax dim 1 " + what);
      expect_same(
          x, [&](const Tensor& t) { return ops::softmax(t, 0, T); }, g, "softmax dim 0 " + what);
      expect_same(
          x, [&](const Tensor& t) { return ops::log_softmax(t, 0, T); }, g, "log_softmax dim 0 " + what);
    }
  }
}

TEST(CudaSoftmax, RowsThatStartOffAlignmentUseTheScalarPath) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(33);
  // Rows of 2048 (a multiple of 4) that start one float past a 16-byte boundary: a view of a
  // flat tensor from element 1, so the block path must not take float4 loads.
  const std::int64_t B = 5, C = 2048;
  const Tensor flat = logits({1 + B * C}, g, false);
  const Tensor x = flat.slice(1, 1 + B * C).reshape({B, C}), xd = flat.to(kGpu).slice(1, 1 + B * C).reshape({B, C});
  for (double T : {0.5, 2.0}) {
    EXPECT_TRUE(testing::all_close(ops::softmax(xd, -1, T), ops::softmax(x, -1, T), tol())) << T;
    EXPECT_TRUE(testing::all_close(ops::log_softmax(xd, -1, T), ops::log_softmax(x, -1, T), tol())) << T;
  }
}

TEST(CudaSoftmax, F64IsAClearError) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  const Tensor x = zeros({2, 3}, DType::F64, kGpu);
  EXPECT_TRUE(testing::throws_with<DTypeError>([&] { ops::softmax(x); }, "softmax: the CUDA kernel supports f32 only"));
}

}  // namespace
}  // namespace kdcu
