// distill::fit on CUDA: a KD run (fused KD + CE term, data kept on the device) learns the
// synthetic quadrant task and logs what the same run on the CPU logs, to f32-on-two-devices
// rounding; a bad label left in the device's record by an earlier, unchecked CUDA loss call is
// reported at the start of fit, naming that it came before the run, and the next fit runs clean.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/factories.h"
#include "distill/distill_loss.h"
#include "distill/trainer.h"
#include "kernels/cuda/handles.h"
#include "nn/model.h"
#include "ops/loss.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/synthetic.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

nn::ModelPtr make(const std::string& name, std::uint64_t seed) {
  nn::ModelConfig c;
  c.in_channels = 1;
  c.image_size = 8;
  c.num_classes = 4;
  Generator gen(seed);
  return nn::create_model(name, c, gen);
}

distill::TrainConfig config(const Device& device) {
  distill::TrainConfig c;
  c.epochs = 3;
  c.batch_size = 16;
  c.eval_batch_size = 20;
  c.optim.optimizer = "sgd";
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  c.seed = 17;
  c.device = device;
  return c;
}

struct Data {
  datasets::Dataset train = testing::quadrant_set(128, 1, "synthetic/train");
  datasets::Dataset eval = testing::quadrant_set(64, 2, "synthetic/eval");
  datasets::Normalization norm = datasets::compute_normalization(train);
};

distill::TrainResult run_kd(const Data& d, const Device& device) {
  const auto student = make("cnn_small", 3), teacher = make("cnn_small", 4);
  distill::LossConfig kd;  // 0.9 kd + 0.1 ce at T = 4: the fused term
  Generator gen(0);
  distill::DistillLoss loss(kd, *student, {teacher.get()}, gen);
  return distill::fit(*student, {teacher.get()}, loss, d.train, d.eval, d.norm, config(device));
}

TEST(CudaTrainer, KdRunMatchesTheCpuRun) {
  KDCU_REQUIRE_GPU();
  const bool tf32 = kernels::cuda::tf32_enabled();
  kernels::cuda::set_tf32(false);  // full f32 products, as on the CPU
  const Data d;
  const distill::TrainResult gpu = run_kd(d, kGpu), cpu = run_kd(d, Device::cpu());
  kernels::cuda::set_tf32(tf32);
  ASSERT_EQ(gpu.history.size(), cpu.history.size());
  for (size_t e = 0; e < gpu.history.size(); ++e) {
    const distill::EpochRecord &g = gpu.history[e], &c = cpu.history[e];
    EXPECT_TRUE(std::isfinite(g.train_loss)) << "epoch " << e + 1;
    // Three epochs of SGD amplify per-step rounding differences; the runs must still agree closely.
    EXPECT_NEAR(g.train_loss, c.train_loss, 2e-3 * std::abs(c.train_loss) + 1e-4) << "epoch " << e + 1;
    EXPECT_NEAR(g.eval_loss, c.eval_loss, 5e-3 * std::abs(c.eval_loss) + 1e-3) << "epoch " << e + 1;
    ASSERT_EQ(g.train_terms.size(), c.train_terms.size());
    for (size_t k = 0; k < g.train_terms.size(); ++k) {
      EXPECT_EQ(g.train_terms[k].first, c.train_terms[k].first);
      EXPECT_NEAR(g.train_terms[k].second, c.train_terms[k].second, 2e-3 * std::abs(c.train_terms[k].second) + 1e-4)
          << g.train_terms[k].first << " epoch " << e + 1;
    }
  }
  // The teacher is untrained (the test is about the two devices agreeing, not about learning), so
  // the accuracy is whatever mimicking it gives: the same on both, within one of the 64 samples.
  EXPECT_NEAR(gpu.final_eval.accuracy, cpu.final_eval.accuracy, 1.0 / 64 + 1e-9);
}

// On CUDA the trainer reads the loss every few steps, not every step; a NaN loss still stops the
// run in its epoch and the error names the first NaN step, the one the CPU's run stops at.
std::string nan_stop(const Device& device) {
  const Data d;
  const auto student = make("cnn_small", 3);
  Generator gen(0);
  distill::LossConfig ce;
  ce.kd_weight = 0.0;
  ce.ce_weight = 1.0;
  distill::DistillLoss loss(ce, *student, {}, gen);
  distill::TrainConfig c = config(device);
  c.optim.schedule = "constant";
  c.optim.warmup_epochs = 0;
  c.optim.lr = 1e30;
  try {
    (void)distill::fit(*student, {}, loss, d.train, d.eval, d.norm, c);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no ValueError";
}

TEST(CudaTrainer, ANanLossStopsAtTheStepTheCpuStopsAt) {
  KDCU_REQUIRE_GPU();
  const bool tf32 = kernels::cuda::tf32_enabled();
  kernels::cuda::set_tf32(false);
  const std::string gpu = nan_stop(kGpu), cpu = nan_stop(Device::cpu());
  kernels::cuda::set_tf32(tf32);
  ASSERT_EQ(cpu.rfind("training stopped: the loss is ", 0), 0u) << cpu;
  ASSERT_EQ(gpu.rfind("training stopped: the loss is ", 0), 0u) << gpu;
  const auto step_of = [](const std::string& what) {
    const size_t at = what.find(", step ");
    return at == std::string::npos ? std::string() : what.substr(at, what.find('/', at) - at);
  };
  EXPECT_NE(step_of(cpu), "") << cpu;
  EXPECT_EQ(step_of(gpu), step_of(cpu)) << "gpu: " << gpu << "\ncpu: " << cpu;
  EXPECT_NE(gpu.find("at epoch 1,"), std::string::npos) << gpu;
}

TEST(CudaTrainer, AnUncheckedBadLabelFromBeforeTheRunIsReportedAtTheStart) {
  KDCU_REQUIRE_GPU();
  ASSERT_NO_THROW(ops::check_deferred_label_errors(kGpu)) << "a label error left by an earlier test";
  const Tensor logits = zeros({3, 5}, DType::F32, kGpu);
  (void)ops::cross_entropy(logits, from_vector<std::int64_t>({0, 7, 1}).to(kGpu));  // never checked
  const Data d;
  EXPECT_TRUE(testing::throws_with<ValueError>(
      [&] { (void)run_kd(d, kGpu); },
      "fit: before this run, a CUDA loss call on cuda:0 saw a bad label that was never checked"));
  EXPECT_NO_THROW((void)run_kd(d, kGpu)) << "the report cleared the record";
}

}  // namespace
}  // namespace kdcu
