// Device memory in the steady state of GPU training: cnn_small and resnet20 take a few SGD steps
// (forward, cross-entropy, backward, step) on the GPU; after warm-up (cuDNN's algorithm searches,
// the cuBLAS workspace, the optimizer's buffers) every step must
//   - leave the pool's reservation from the driver unchanged (no cudaMalloc behind the pool),
//   - make the same number of pool allocations as the step before (nothing grows per step; note
//     that cuda::allocation_count() counts every cudaMallocAsync, served from the pool, so it
//     rises by the same amount each step rather than staying flat),
//   - end with the same live device bytes (nothing leaks from one step to the next).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "kernels/cuda/handles.h"
#include "kernels/dispatch.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

long long reserved_bytes() {
  return kernels::on_device(
      kGpu, [](auto) -> long long { return 0; },
      [](auto) -> long long { return kernels::cuda::pool_reserved_bytes(0); });
}

struct StepMemory {
  long long allocations;  // pool allocations made during the step
  long long live;         // live device bytes after the step
  long long reserved;     // pool bytes held from the driver after the step
};

void check_steady_state(const std::string& name, nn::ModelConfig cfg, std::int64_t batch) {
  SCOPED_TRACE(name);
  Generator gen(71);
  const nn::ModelPtr model = nn::create_model(name, cfg, gen);
  model->to(kGpu);
  model->train();
  nn::SGD opt(model->named_parameters(), 0.01, 0.9, 0.0, 5e-4, true);
  const Tensor x = randn({batch, cfg.in_channels, cfg.image_size, cfg.image_size}, gen, DType::F32, kGpu);
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < batch; ++i) labels.push_back((i * 7) % cfg.num_classes);
  const Tensor y = from_vector<std::int64_t>(labels, {batch}, kGpu);

  constexpr int kWarmup = 3, kMeasured = 4;
  std::vector<StepMemory> steps;
  for (int step = 0; step < kWarmup + kMeasured; ++step) {
    const long long before = cuda::allocation_count();
    {
      opt.zero_grad();
      const Tensor loss = ops::cross_entropy((*model)(x), y);
      loss.backward();
      opt.step();
      EXPECT_TRUE(std::isfinite(loss.item<double>())) << "step " << step;  // also waits for the step
    }
    cuda::synchronize(0);
    if (step >= kWarmup) steps.push_back({cuda::allocation_count() - before, cuda::live_bytes(), reserved_bytes()});
  }
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].reserved, steps[0].reserved) << "measured step " << i << ": the pool asked the driver for more";
    EXPECT_EQ(steps[i].allocations, steps[0].allocations) << "measured step " << i;
    EXPECT_EQ(steps[i].live, steps[0].live) << "measured step " << i << ": device bytes leak per step";
  }
  std::printf("[ %-9s ] per step: %lld pool allocations; live %lld bytes, pool reserved %lld bytes\n", name.c_str(),
              steps[0].allocations, steps[0].live, steps[0].reserved);
}

TEST(CudaMemory, CnnSmallSteadyStateAllocatesNothingNew) {
  KDCU_REQUIRE_GPU();
  nn::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  cfg.num_classes = 10;
  check_steady_state("cnn_small", cfg, 17);
}

TEST(CudaMemory, Resnet20SteadyStateAllocatesNothingNew) {
  KDCU_REQUIRE_GPU();
  nn::ModelConfig cfg;
  cfg.in_channels = 3;
  cfg.image_size = 32;
  cfg.num_classes = 10;
  check_steady_state("resnet20", cfg, 9);
}

}  // namespace
}  // namespace kdcu
