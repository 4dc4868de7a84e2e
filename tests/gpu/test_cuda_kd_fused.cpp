// The fused CUDA KD path (kernels/cuda/kd_loss.h's kd_fused: one launch for the loss and the
// student's gradient, the last block adding the rows) against the CPU's fused path, on fresh
// random inputs: awkward class counts, odd and large batches (many blocks, so the last-block sum is
// exercised), T in {0.5, 1, 4, 20}, logits of +-1e4 mixed in, every upstream kind, outputs poisoned
// (NaN) before the run. Also the launch count the issue fixes (one for the loss and gradient), the
// bitwise reproducibility of the last-block sum, and kd_hard_loss_parts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/random_inputs.h"

namespace kdcu {
namespace {

using ops::Reduction;

const Device kGpu = Device::cuda();

testing::Tolerance kd_tol() {  // as in test_cuda_loss.cpp: f32 rounding amplified by T^2 <= 400
  return testing::tolerance_for(DType::F32, 10.0);
}

Tensor logits(const Shape& shape, Generator& g, bool outliers) {
  return testing::outlier_logits(shape, g, outliers);
}

Tensor labels(std::int64_t N, std::int64_t C, Generator& g) {
  return testing::class_labels(N, C, g);
}

Tensor leaf_on(const Tensor& host, const Device& device) {
  Tensor t = host.detach().to(device);
  t.requires_grad_();
  return t;
}

enum class Upstream { Seed, Weight, Explicit };

void backward(const Tensor& loss, Upstream u) {
  if (u == Upstream::Seed) loss.backward();
  if (u == Upstream::Weight) (loss * 0.37).backward();
  if (u == Upstream::Explicit) loss.backward(scalar(-1.7, DType::F32, loss.device()));
}

struct Case {
  std::int64_t B, C;
  double T;
  bool outliers;
  Upstream up;
  std::string str() const {
    return "B " + std::to_string(B) + " C " + std::to_string(C) + " T " + std::to_string(T) +
           (outliers ? " outliers" : "") + " upstream " + std::to_string(static_cast<int>(up));
  }
};

std::vector<Case> cases() {
  const std::vector<std::int64_t> classes = {1, 2, 10, 31, 32, 33, 100, 1000, 1024, 1025, 32000};
  const std::vector<std::int64_t> batches = {1, 7, 129, 4099};
  const std::vector<double> temps = {0.5, 1.0, 4.0, 20.0};
  std::vector<Case> out;
  for (size_t i = 0; i < classes.size(); ++i) {
    for (size_t k = 0; k < 3; ++k) {
      std::int64_t B = batches[(i + k) % 4];
      if (classes[i] >= 1000 && B > 129) B = 131;  // keep the biggest cases small enough to check on the CPU
      out.push_back({B, classes[i], temps[(i + k) % 4], (i + k) % 2 == 0, static_cast<Upstream>(k)});
    }
  }
  return out;
}

TEST(CudaKdFused, KdKlDivMatchesTheCpuForEveryUpstream) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(61);
  for (const Case& c : cases()) {
    const Tensor s = logits({c.B, c.C}, g, c.outliers), t = logits({c.B, c.C}, g, c.outliers), td = t.to(kGpu);
    for (Reduction r : {Reduction::BatchMean, Reduction::Sum, Reduction::Mean}) {
      const std::string what = c.str() + " " + ops::reduction_name(r);
      const Tensor sc = leaf_on(s, Device::cpu()), sd = leaf_on(s, kGpu);
      const Tensor lc = ops::kd_kl_div(sc, t, c.T, r), ld = ops::kd_kl_div(sd, td, c.T, r);
      EXPECT_TRUE(testing::all_close(ld, lc, kd_tol())) << what << " loss";
      backward(lc, c.up);
      backward(ld, c.up);
      EXPECT_TRUE(testing::all_close(sd.grad(), sc.grad(), kd_tol())) << what << " d(student)";
    }
  }
}

TEST(CudaKdFused, KdHardLossAndItsPartsMatchTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(62);
  for (const Case& c : cases()) {
    const Tensor s = logits({c.B, c.C}, g, c.outliers), t = logits({c.B, c.C}, g, c.outliers), td = t.to(kGpu);
    const Tensor y = labels(c.B, c.C, g), yd = y.to(kGpu);
    for (double alpha : {0.0, 0.3, 1.0}) {
      const std::string what = c.str() + " alpha " + std::to_string(alpha);
      const Tensor sc = leaf_on(s, Device::cpu()), sd = leaf_on(s, kGpu);
      const ops::KdHardParts pc = ops::kd_hard_loss_parts(sc, t, y, c.T, alpha);
      const ops::KdHardParts pd = ops::kd_hard_loss_parts(sd, td, yd, c.T, alpha);
      EXPECT_TRUE(testing::all_close(pd.total, pc.total, kd_tol())) << what << " total";
      EXPECT_TRUE(testing::all_close(pd.kd, pc.kd, kd_tol())) << what << " kd";
      EXPECT_TRUE(testing::all_close(pd.ce, pc.ce, kd_tol())) << what << " ce";
      backward(pc.total, c.up);
      backward(pd.total, c.up);
      EXPECT_TRUE(testing::all_close(sd.grad(), sc.grad(), kd_tol())) << what << " d(student)";
    }
  }
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "valid labels leave no label error";
}

TEST(CudaKdFused, OneLaunchForTheLossAndTheGradient) {
  KDCU_REQUIRE_GPU();
  Generator g(63);
  for (const Shape& shape : {Shape{256, 10}, Shape{4096, 1000}, Shape{3, 32000}}) {
    const Tensor s = leaf_on(logits(shape, g, false), kGpu), t = logits(shape, g, false).to(kGpu);
    const Tensor y = labels(shape[0], shape[1], g).to(kGpu);
    long long before = cuda::launch_count();
    const Tensor loss = ops::kd_kl_div(s, t, 4.0);
    EXPECT_EQ(cuda::launch_count() - before, 1) << shape_str(shape) << ": kd_kl_div forward with the gradient";
    before = cuda::launch_count();
    loss.backward();
    EXPECT_LE(cuda::launch_count() - before, 1) << shape_str(shape) << ": at most the seed's fill";
    before = cuda::launch_count();
    const Tensor hard = ops::kd_hard_loss(s.detach(), t, y, 4.0, 0.9);
    EXPECT_EQ(cuda::launch_count() - before, 1) << shape_str(shape) << ": kd_hard_loss";
    EXPECT_TRUE(std::isfinite(hard.item<double>()));
  }
}

TEST(CudaKdFused, TheLastBlockSumIsBitwiseReproducible) {
  KDCU_REQUIRE_GPU();
  Generator g(64);
  const Tensor s = logits({5000, 37}, g, true).to(kGpu), t = logits({5000, 37}, g, true).to(kGpu);
  const std::string first = testing::bytes_of(ops::kd_kl_div(s, t, 4.0));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(testing::bytes_of(ops::kd_kl_div(s, t, 4.0)), first) << "run " << i;
}

TEST(CudaKdFused, ABadLabelGivesNaNTotalAndCeAndDefersTheError) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(65);
  const Tensor s = leaf_on(logits({4, 12}, g, false), kGpu), t = logits({4, 12}, g, false).to(kGpu);
  const Tensor y = from_vector<std::int64_t>({3, 0, 12, 1}).to(kGpu);
  const ops::KdHardParts p = ops::kd_hard_loss_parts(s, t, y, 2.0, 0.5);
  EXPECT_TRUE(std::isnan(p.total.item<double>()));
  EXPECT_TRUE(std::isnan(p.ce.item<double>()));
  EXPECT_TRUE(std::isfinite(p.kd.item<double>())) << "the KD part does not read labels";
  EXPECT_TRUE(testing::throws_with<ValueError>([&] { ops::check_deferred_label_errors(kGpu); },
                                               "label 12 in row 2 is out of range for 12 classes"));
}

}  // namespace
}  // namespace kdcu
