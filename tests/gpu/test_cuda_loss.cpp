// CUDA losses against the CPU reference on fresh random inputs: the fused KD loss for every
// reduction with and without a teacher gradient, cross-entropy with label smoothing, MSE, and the
// hard-label KD kernel against the CPU composition alpha kd_kl_div + (1 - alpha) cross_entropy.
// Class counts on both sides of every kernel path, odd batches, T in {0.5, 1, 4, 20}, logits of
// +-1e4 mixed in. Every device allocation starts as NaN, so an unwritten element fails. Bad
// labels: NaN rows at the call and the CPU's error from the deferred check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "kernels/cuda/kd_loss.h"
#include "kernels/cuda/loss.h"
#include "kernels/dispatch.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/random_inputs.h"

namespace kdcu {
namespace {

using ops::Reduction;

const Device kGpu = Device::cuda();
const std::vector<std::int64_t> kClasses = {1, 2, 10, 31, 32, 33, 100, 1000, 1024, 1025, 32000};
const std::vector<std::int64_t> kBatches = {1, 3, 7, 129};
const std::vector<double> kTemperatures = {0.5, 1.0, 4.0, 20.0};

// Per-term rounding of f32 exponentials and log-sum-exps, amplified by T^2 up to 400 in the KD loss.
// (On these cases the CPU's own f32 loss and d(student) stay within 0.04 of this of its f64 ones.)
testing::Tolerance kd_tol() {
  return testing::tolerance_for(DType::F32, 10.0);
}
// d(teacher) with logits of +-1e4 is ill-conditioned in f32: dt_j = T p_t,j (g_j (l_j + 1) - sum_c
// g_c p_t,c (l_c + 1)) subtracts terms of size |l| ~ 2e4 / T, so an f32 rounding of p_t (1e-7) is
// amplified ~1e3 times; the CPU's own f32 d(teacher) is up to 20x kd_tol() away from its f64 one
// on these inputs. There the check is finiteness and agreement at this looser level.
testing::Tolerance kd_teacher_outlier_tol() {
  return testing::tolerance_for(DType::F32, 2000.0);
}
testing::Tolerance tol() {
  return testing::tolerance_for(DType::F32, 4.0);
}

Tensor logits(const Shape& shape, Generator& g, bool outliers) {
  return testing::outlier_logits(shape, g, outliers);
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

Tensor labels(std::int64_t N, std::int64_t C, Generator& g) {
  return testing::class_labels(N, C, g);
}

struct Case {
  std::int64_t B, C;
  double T;
  bool outliers;
  std::string str() const {
    return "B " + std::to_string(B) + " C " + std::to_string(C) + " T " + std::to_string(T) +
           (outliers ? " outliers" : "");
  }
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (size_t i = 0; i < kClasses.size(); ++i) {
    out.push_back({kBatches[i % 4], kClasses[i], kTemperatures[i % 4], i % 2 == 0});
    out.push_back({kBatches[(i + 2) % 4], kClasses[i], kTemperatures[(i + 1) % 4], i % 2 == 1});
  }
  return out;
}

// A leaf copy of `host` on `device` (requires grad when asked).
Tensor leaf_on(const Tensor& host, const Device& device, bool grad) {
  Tensor t = host.detach().to(device);
  if (grad) t.requires_grad_();
  return t;
}

// loss.backward() for a scalar, else with the given upstream gradient (copied to the loss's device).
void run_backward(const Tensor& loss, const Tensor& seed_host) {
  if (loss.dim() == 0)
    loss.backward();
  else
    loss.backward(seed_host.to(loss.device()));
}

TEST(CudaLoss, KdKlDivMatchesCpuForEveryReductionAndTeacherGrad) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(41);
  for (const Case& c : cases()) {
    const Tensor s = logits({c.B, c.C}, g, c.outliers), t = logits({c.B, c.C}, g, c.outliers);
    const Tensor seed = randn({c.B, c.C}, g);
    for (Reduction r : {Reduction::BatchMean, Reduction::Sum, Reduction::Mean, Reduction::None}) {
      for (bool teacher_grad : {false, true}) {
        const std::string what = c.str() + " " + ops::reduction_name(r) + (teacher_grad ? " teacher grad" : "");
        const Tensor sc = leaf_on(s, Device::cpu(), true), tc = leaf_on(t, Device::cpu(), teacher_grad);
        const Tensor sd = leaf_on(s, kGpu, true), td = leaf_on(t, kGpu, teacher_grad);
        const Tensor lc = ops::kd_kl_div(sc, tc, c.T, r), ld = ops::kd_kl_div(sd, td, c.T, r);
        EXPECT_TRUE(testing::all_close(ld, lc, kd_tol())) << what << " loss";
        run_backward(lc, seed);
        run_backward(ld, seed);
        EXPECT_TRUE(testing::all_close(sd.grad(), sc.grad(), kd_tol())) << what << " d(student)";
        if (teacher_grad) {
          const testing::Tolerance dt_tol = c.outliers ? kd_teacher_outlier_tol() : kd_tol();
          EXPECT_TRUE(all_finite(td.grad())) << what << " d(teacher)";
          EXPECT_TRUE(testing::all_close(td.grad(), tc.grad(), dt_tol)) << what << " d(teacher)";
        }
      }
    }
  }
}

TEST(CudaLoss, KdKlDivWithoutGradWritesNoStats) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(42);
  const Tensor s = logits({7, 1025}, g, true), t = logits({7, 1025}, g, false);
  autograd::NoGradGuard guard;
  EXPECT_TRUE(testing::all_close(ops::kd_kl_div(s.to(kGpu), t.to(kGpu), 4.0), ops::kd_kl_div(s, t, 4.0), kd_tol()));
}

TEST(CudaLoss, CrossEntropyMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(43);
  for (const Case& c : cases()) {
    const Tensor x = logits({c.B, c.C}, g, c.outliers), y = labels(c.B, c.C, g), seed = randn({c.B}, g);
    for (double e : {0.0, 0.1}) {
      for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
        const std::string what = c.str() + " smoothing " + std::to_string(e) + " " + ops::reduction_name(r);
        const Tensor xc = leaf_on(x, Device::cpu(), true), xd = leaf_on(x, kGpu, true);
        const Tensor lc = ops::cross_entropy(xc, y, e, r), ld = ops::cross_entropy(xd, y.to(kGpu), e, r);
        EXPECT_TRUE(testing::all_close(ld, lc, tol())) << what << " loss";
        run_backward(lc, seed);
        run_backward(ld, seed);
        EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), tol())) << what << " d(logits)";
      }
    }
  }
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "clean calls leave no label error";
}

// Rows [begin, end) of a tensor, on the host.
Tensor rows_of(const Tensor& t, std::int64_t begin, std::int64_t end) {
  return t.to(Device::cpu()).slice(begin, end);
}

// On CUDA a bad label is not checked at the call (that would wait for the device): its row's loss
// and gradient are NaN, the other rows are the CPU's, and the deferred check raises the CPU's
// error, once.
TEST(CudaLoss, CrossEntropyGivesABadLabelANanRowAndDefersTheError) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(46);
  const Tensor x = logits({5, 3}, g, false);
  // Rows 2 and 3 are out of range; the CPU reference has valid labels there (the other rows'
  // losses and, for the mean, gradients do not depend on them).
  const Tensor y_bad = from_vector<std::int64_t>({0, 2, 3, -1, 1}).to(kGpu);
  const Tensor y_ref = from_vector<std::int64_t>({0, 2, 0, 0, 1});
  for (double e : {0.0, 0.1}) {
    const std::string what = "smoothing " + std::to_string(e);
    const Tensor xc = leaf_on(x, Device::cpu(), true), xd = leaf_on(x, kGpu, true);
    const Tensor rows = ops::cross_entropy(xd, y_bad, e, Reduction::None);
    const Tensor ref = ops::cross_entropy(xc, y_ref, e, Reduction::None);
    for (double v : rows_of(rows, 2, 4).to_vector<double>()) EXPECT_TRUE(std::isnan(v)) << what << " bad row";
    for (std::int64_t i : {0, 4}) {
      const std::int64_t end = i == 0 ? 2 : 5;
      EXPECT_TRUE(testing::all_close(rows_of(rows, i, end), ref.slice(i, end), tol())) << what << " rows " << i;
    }
    const Tensor mean = ops::cross_entropy(xd, y_bad, e);
    EXPECT_TRUE(std::isnan(mean.item<double>())) << what << " mean";
    mean.backward();
    ops::cross_entropy(xc, y_ref, e).backward();
    for (double v : rows_of(xd.grad(), 2, 4).to_vector<double>()) EXPECT_TRUE(std::isnan(v)) << what << " d(bad row)";
    for (std::int64_t i : {0, 4}) {
      const std::int64_t end = i == 0 ? 2 : 5;
      EXPECT_TRUE(testing::all_close(rows_of(xd.grad(), i, end), xc.grad().slice(i, end), tol()))
          << what << " d(rows " << i << ")";
    }
    // Two calls saw the bad labels; the record names the first, at its smallest bad row.
    EXPECT_TRUE(testing::throws_with<ValueError>(
        [&] { ops::check_deferred_label_errors(kGpu); },
        "cross_entropy: label 3 in row 2 is out of range for 3 classes (expected 0 <= label < 3)"))
        << what;
    EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << what << ": the check clears the record";
  }
}

TEST(CudaLoss, DeferredLabelCheckReportsTheFirstCallWithABadLabel) {
  KDCU_REQUIRE_GPU();
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  const Tensor x = zeros({4, 10}, DType::F32, kGpu);
  (void)ops::cross_entropy(x, from_vector<std::int64_t>({0, 1, 9, 3}).to(kGpu));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a clean call leaves no record";
  (void)ops::cross_entropy(x, from_vector<std::int64_t>({0, 1, 12, 3}).to(kGpu));
  (void)ops::cross_entropy(x, from_vector<std::int64_t>({-5, 1, 2, 3}).to(kGpu));  // a smaller row, a later call
  EXPECT_TRUE(testing::throws_with<ValueError>([&] { ops::check_deferred_label_errors(kGpu); },
                                               "label 12 in row 2 is out of range for 10 classes"));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu));
  // Every row from 1000 on is bad, several rows to a warp (and rows of a block-per-row plan), all
  // contending for the record: the smallest bad row wins, whatever order the rows arrive in.
  for (std::int64_t C : {10, 2000}) {
    const std::int64_t N = C == 10 ? 4099 : 1100;
    std::vector<std::int64_t> y;
    for (std::int64_t i = 0; i < N; ++i) y.push_back(i < 1000 ? i % C : C + i);
    const Tensor rows = ops::cross_entropy(zeros({N, C}, DType::F32, kGpu), from_vector<std::int64_t>(y).to(kGpu), 0.0,
                                           Reduction::None);
    const std::vector<double> v = rows.to_vector<double>();
    EXPECT_TRUE(std::isfinite(v[999]) && std::isnan(v[1000]) && std::isnan(v[N - 1])) << "C " << C;
    EXPECT_TRUE(testing::throws_with<ValueError>(
        [&] { ops::check_deferred_label_errors(kGpu); },
        "label " + std::to_string(C + 1000) + " in row 1000 is out of range for " + std::to_string(C) + " classes"))
        << "C " << C;
    EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "C " << C;
  }
}

TEST(CudaLoss, MseMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(44);
  for (DType dt : {DType::F32, DType::F64}) {
    for (std::int64_t n : {1, 33, 1025, 32769, 100003}) {
      const Tensor x = randn({n}, g, dt), t = randn({n}, g, dt), seed = randn({n}, g, dt);
      for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
        const std::string what = std::string(dtype_name(dt)) + " n " + std::to_string(n) + " " + ops::reduction_name(r);
        const Tensor xc = leaf_on(x, Device::cpu(), true), tc = leaf_on(t, Device::cpu(), true);
        const Tensor xd = leaf_on(x, kGpu, true), td = leaf_on(t, kGpu, true);
        const Tensor lc = ops::mse_loss(xc, tc, r), ld = ops::mse_loss(xd, td, r);
        EXPECT_TRUE(testing::all_close(ld, lc, testing::tolerance_for(dt))) << what << " loss";
        run_backward(lc, seed);
        run_backward(ld, seed);
        EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), testing::tolerance_for(dt))) << what << " d(input)";
        EXPECT_TRUE(testing::all_close(td.grad(), tc.grad(), testing::tolerance_for(dt))) << what << " d(target)";
      }
    }
  }
}

// The fused hard-label kernel (ops::kd_hard_loss uses it; tested below) against alpha KD + (1 - alpha) CE on the CPU:
// per-row losses, then d(student) for the batch mean (scalar upstream) and for weighted rows.
TEST(CudaLoss, HardLabelKdKernelMatchesTheCpuComposition) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(45);
  const double alpha = 0.7;
  for (const Case& c : cases()) {
    const std::int64_t B = c.B, C = c.C;
    const Tensor s = logits({B, C}, g, c.outliers), t = logits({B, C}, g, c.outliers), y = labels(B, C, g);
    const Tensor w = rand({B}, g, DType::F32, Device::cpu(), 0.5, 2.0);
    const Tensor sd = s.to(kGpu), td = t.to(kGpu), yd = y.to(kGpu), wd = w.to(kGpu);
    const Tensor one = ones({1}, DType::F32, kGpu);
    Tensor rows = empty({B}, DType::F32, kGpu), stats = empty({B, 5}, DType::F64, kGpu);
    Tensor ds_mean = empty({B, C}, DType::F32, kGpu), ds_rows = empty({B, C}, DType::F32, kGpu);
    for (const Tensor* out : {&rows, &stats, &ds_mean, &ds_rows}) testing::poison(*out);
    const float T = static_cast<float>(c.T), a = static_cast<float>(alpha);
    kernels::on_device(
        kGpu, [&](auto) {},
        [&](auto) {
          const std::int64_t* lab = yd.data<std::int64_t>();
          kernels::cuda::kd_hard_forward(sd.data<float>(), td.data<float>(), lab, rows.data<float>(),
                                         stats.data<double>(), B, C, T, a, kGpu.index);
          kernels::cuda::kd_hard_backward(sd.data<float>(), td.data<float>(), lab, stats.data<double>(),
                                          one.data<float>(), 0, 1.0f / static_cast<float>(B), ds_mean.data<float>(), B,
                                          C, T, a, kGpu.index);
          kernels::cuda::kd_hard_backward(sd.data<float>(), td.data<float>(), lab, stats.data<double>(),
                                          wd.data<float>(), 1, 1.0f, ds_rows.data<float>(), B, C, T, a, kGpu.index);
        });
    const Tensor sc = leaf_on(s, Device::cpu(), true);
    const Tensor rows_ref = alpha * ops::sum(ops::kd_kl_div(sc, t, c.T, Reduction::None), 1) +
                            (1.0 - alpha) * ops::cross_entropy(sc, y, 0.0, Reduction::None);
    EXPECT_TRUE(testing::all_close(rows, rows_ref.detach(), kd_tol())) << c.str() << " rows";
    (alpha * ops::kd_kl_div(sc, t, c.T) + (1.0 - alpha) * ops::cross_entropy(sc, y)).backward();
    EXPECT_TRUE(testing::all_close(ds_mean, sc.grad(), kd_tol())) << c.str() << " d(student), batch mean";
    const Tensor sc2 = leaf_on(s, Device::cpu(), true);
    const Tensor rows2 = alpha * ops::sum(ops::kd_kl_div(sc2, t, c.T, Reduction::None), 1) +
                         (1.0 - alpha) * ops::cross_entropy(sc2, y, 0.0, Reduction::None);
    ops::sum(rows2 * w).backward();
    EXPECT_TRUE(testing::all_close(ds_rows, sc2.grad(), kd_tol())) << c.str() << " d(student), weighted rows";
  }
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "valid labels leave no label error";
}

// A bad label in the hard-label kernel: NaN for that row's loss and d(student) (no read outside
// the row), finite elsewhere, and the same deferred error as cross-entropy's.
TEST(CudaLoss, HardLabelKdKernelGivesABadLabelNanRows) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(47);
  const std::int64_t B = 4, C = 33;
  const Tensor sd = logits({B, C}, g, false).to(kGpu), td = logits({B, C}, g, false).to(kGpu);
  const Tensor yd = from_vector<std::int64_t>({1, 40, 0, 5}).to(kGpu), one = ones({1}, DType::F32, kGpu);
  Tensor rows = empty({B}, DType::F32, kGpu), stats = empty({B, 5}, DType::F64, kGpu);
  Tensor ds = empty({B, C}, DType::F32, kGpu);
  kernels::on_device(
      kGpu, [&](auto) {},
      [&](auto) {
        const std::int64_t* lab = yd.data<std::int64_t>();
        kernels::cuda::kd_hard_forward(sd.data<float>(), td.data<float>(), lab, rows.data<float>(),
                                       stats.data<double>(), B, C, 4.0f, 0.7f, kGpu.index);
        kernels::cuda::kd_hard_backward(sd.data<float>(), td.data<float>(), lab, stats.data<double>(),
                                        one.data<float>(), 0, 1.0f / static_cast<float>(B), ds.data<float>(), B, C,
                                        4.0f, 0.7f, kGpu.index);
      });
  const std::vector<double> r = rows.to_vector<double>();
  for (std::int64_t b = 0; b < B; ++b) {
    EXPECT_EQ(std::isnan(r[b]), b == 1) << "row " << b;
    for (double v : rows_of(ds, b, b + 1).to_vector<double>())
      EXPECT_TRUE(b == 1 ? std::isnan(v) : std::isfinite(v)) << "d(student) row " << b;
  }
  EXPECT_TRUE(testing::throws_with<ValueError>([&] { ops::check_deferred_label_errors(kGpu); },
                                               "label 40 in row 1 is out of range for 33 classes"));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu));
}

// ops::kd_hard_loss (the fused hard-label KD op) on CUDA against the op on the CPU (its f32 reference):
// every class count, odd batches, each reduction and alpha, value and d(student), outputs poisoned.
TEST(CudaLoss, KdHardLossOpMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(48);
  for (const Case& c : cases()) {
    const Tensor s = logits({c.B, c.C}, g, c.outliers), t = logits({c.B, c.C}, g, c.outliers);
    const Tensor y = labels(c.B, c.C, g), yd = y.to(kGpu), td = t.to(kGpu), seed = randn({c.B}, g);
    for (double alpha : {0.0, 0.3, 1.0}) {
      for (Reduction r : {Reduction::BatchMean, Reduction::Sum, Reduction::None}) {
        const std::string what = c.str() + " alpha " + std::to_string(alpha) + " " + ops::reduction_name(r);
        const Tensor sc = leaf_on(s, Device::cpu(), true), sd = leaf_on(s, kGpu, true);
        const Tensor lc = ops::kd_hard_loss(sc, t, y, c.T, alpha, r), ld = ops::kd_hard_loss(sd, td, yd, c.T, alpha, r);
        EXPECT_EQ(ld.device(), kGpu) << what;
        EXPECT_EQ(ld.shape(), lc.shape()) << what;
        EXPECT_TRUE(all_finite(ld)) << what << " loss";
        EXPECT_TRUE(testing::all_close(ld, lc, kd_tol())) << what << " loss";
        run_backward(lc, seed);
        run_backward(ld, seed);
        EXPECT_TRUE(all_finite(sd.grad())) << what << " d(student)";
        EXPECT_TRUE(testing::all_close(sd.grad(), sc.grad(), kd_tol())) << what << " d(student)";
      }
    }
    autograd::NoGradGuard guard;  // no graph: the forward gets no stats buffer
    EXPECT_TRUE(testing::all_close(ops::kd_hard_loss(s.to(kGpu), td, yd, c.T, 0.3),
                                   ops::kd_hard_loss(s, t, y, c.T, 0.3), kd_tol()))
        << c.str() << " no grad";
  }
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "valid labels leave no label error";
}

TEST(CudaLoss, KdHardLossOpErrorsOnCuda) {
  KDCU_REQUIRE_GPU();
  const Tensor s = zeros({3, 5}, DType::F64, kGpu), y = from_vector<std::int64_t>({0, 1, 4}).to(kGpu);
  EXPECT_TRUE(testing::throws_with<DTypeError>([&] { ops::kd_hard_loss(s, s, y, 2.0, 0.5); },
                                               "kd_hard_loss: the CUDA kernel supports f32 only, found f64"));
  const Tensor sf = zeros({3, 5}, DType::F32, kGpu);
  Tensor tf = zeros({3, 5}, DType::F32, kGpu);
  tf.requires_grad_();
  EXPECT_TRUE(testing::throws_with<AutogradError>([&] { ops::kd_hard_loss(sf, tf, y, 2.0, 0.5); },
                                                  "the teacher logits get no gradient"));
  EXPECT_TRUE(testing::throws_with<DeviceError>(
      [&] {
        ops::kd_hard_loss(sf, sf, from_vector<std::int64_t>({0, 1, 4}), 2.0, 0.5);
      },
      "kd_hard_loss"));
}

// A bad label through the op on CUDA: that row's loss and d(student) are NaN, the other rows are
// the CPU's, the batch mean is NaN, and check_deferred_label_errors raises the error once.
TEST(CudaLoss, KdHardLossOpGivesABadLabelNanRowsAndDefersTheError) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  Generator g(49);
  const std::int64_t B = 5, C = 33;
  const Tensor s = logits({B, C}, g, false), t = logits({B, C}, g, false), td = t.to(kGpu);
  const Tensor y_bad = from_vector<std::int64_t>({1, 40, 0, -2, 5}).to(kGpu);
  const Tensor y_ref = from_vector<std::int64_t>({1, 0, 0, 0, 5});
  const Tensor sd = leaf_on(s, kGpu, true), sc = leaf_on(s, Device::cpu(), true);
  const Tensor rows = ops::kd_hard_loss(sd.detach(), td, y_bad, 4.0, 0.7, Reduction::None);
  const Tensor ref = ops::kd_hard_loss(s, t, y_ref, 4.0, 0.7, Reduction::None);
  const std::vector<double> r = rows.to_vector<double>();
  for (std::int64_t b = 0; b < B; ++b) {
    const bool bad = b == 1 || b == 3;
    EXPECT_EQ(std::isnan(r[b]), bad) << "row " << b;
    if (!bad) {
      EXPECT_TRUE(testing::all_close(rows_of(rows, b, b + 1), ref.slice(b, b + 1), kd_tol())) << "row " << b;
    }
  }
  const Tensor mean = ops::kd_hard_loss(sd, td, y_bad, 4.0, 0.7);
  EXPECT_TRUE(std::isnan(mean.item<double>()));
  mean.backward();
  ops::kd_hard_loss(sc, t, y_ref, 4.0, 0.7).backward();
  for (std::int64_t b = 0; b < B; ++b) {
    const bool bad = b == 1 || b == 3;
    for (double v : rows_of(sd.grad(), b, b + 1).to_vector<double>())
      EXPECT_TRUE(bad ? std::isnan(v) : std::isfinite(v)) << "d(student) row " << b;
    if (!bad) {
      EXPECT_TRUE(testing::all_close(rows_of(sd.grad(), b, b + 1), sc.grad().slice(b, b + 1), kd_tol()))
          << "d(student) row " << b;
    }
  }
  // Two calls saw the bad labels; the record names the first, at its smallest bad row.
  EXPECT_TRUE(testing::throws_with<ValueError>([&] { ops::check_deferred_label_errors(kGpu); },
                                               "label 40 in row 1 is out of range for 33 classes"));
  EXPECT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "the check clears the record";
}

}  // namespace
}  // namespace kdcu
