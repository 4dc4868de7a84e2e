// CUDA optimizer steps and gradient clipping against the CPU: the same parameters and gradients on
// both devices, several steps (one parameter skipped on one step, so Adam's per-parameter step
// counts differ), every parameter and every state tensor compared after each step, in f32 and f64.
// The kernels round exactly where the CPU rounds (separately rounded multiplies and adds, IEEE
// sqrt and division, scalars rounded on the host as the CPU rounds them), so the comparison is bit
// for bit. Also the multi-tensor kernels directly, over more tensors than one launch carries, and
// clip_grad_norm (2, 1, 3 and inf norms; NaN left alone), whose f64 norms add in another order.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"
#include "kernels/dispatch.h"
#include "nn/clip.h"
#include "nn/optim.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();
const std::vector<Shape> kShapes = {{1}, {17}, {4097}, {3, 5, 7}, {70001}, {64, 16, 3, 3}, {8193}};

using Make = std::function<std::unique_ptr<nn::Optimizer>(const nn::NamedTensors&)>;

// Bit for bit (NaN equal to NaN), after moving both to the CPU.
::testing::AssertionResult same_bits(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "shape or dtype differs";
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (a[i] != e[i]) {
      return ::testing::AssertionFailure() << "element " << i << " of " << a.size() << ": " << a[i] << " vs the CPU's "
                                           << e[i] << " (difference " << a[i] - e[i] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

void check_optimizer(const std::string& name, const Make& make, DType dtype = DType::F32) {
  SCOPED_TRACE(name + (dtype == DType::F64 ? " f64" : " f32"));
  Generator gen(61);
  nn::NamedTensors cpu, gpu;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    const Tensor p = randn(kShapes[i], gen, dtype);
    cpu.emplace_back(cat("p", i), p.clone());
    gpu.emplace_back(cat("p", i), p.to(kGpu));
  }
  const auto oc = make(cpu), og = make(gpu);
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < kShapes.size(); ++i) {
      Tensor pc = cpu[i].second, pg = gpu[i].second;
      if (step == 1 && i % 3 == 2) {  // no gradient this step: skipped, its state does not advance
        pc.zero_grad();
        pg.zero_grad();
        continue;
      }
      const Tensor g = randn(kShapes[i], gen, dtype, Device::cpu(), 0.0, 0.5);
      pc.set_grad(g);
      Tensor gd = empty(kShapes[i], dtype, kGpu);
      copy_into(gd, g);
      pg.set_grad(gd);
    }
    oc->step();
    og->step();
    for (size_t i = 0; i < kShapes.size(); ++i) {
      EXPECT_TRUE(same_bits(gpu[i].second, cpu[i].second)) << "step " << step << ", " << cpu[i].first;
    }
  }
  const nn::OptimizerState sc = oc->state_dict(), sg = og->state_dict();
  ASSERT_EQ(sc.tensors.size(), sg.tensors.size());
  for (size_t i = 0; i < sc.tensors.size(); ++i) {
    EXPECT_EQ(sg.tensors[i].first, sc.tensors[i].first);
    EXPECT_TRUE(same_bits(sg.tensors[i].second, sc.tensors[i].second)) << sc.tensors[i].first;
  }
}

TEST(CudaOptim, SgdStepsEqualTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  check_optimizer("plain", [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.1); });
  check_optimizer("momentum, dampening, weight decay", [](const nn::NamedTensors& ps) {
    return std::make_unique<nn::SGD>(ps, 0.05, 0.9, 0.1, 1e-2, false);
  });
  check_optimizer("nesterov, weight decay",
                  [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.05, 0.9, 0.0, 5e-4, true); });
  check_optimizer(
      "momentum, dampening, weight decay",
      [](const nn::NamedTensors& ps) { return std::make_unique<nn::SGD>(ps, 0.05, 0.9, 0.1, 1e-2, false); },
      DType::F64);
}

TEST(CudaOptim, AdamAndAdamWStepsEqualTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  check_optimizer("Adam", [](const nn::NamedTensors& ps) { return std::make_unique<nn::Adam>(ps, 1e-2); });
  check_optimizer("Adam L2", [](const nn::NamedTensors& ps) {
    return std::make_unique<nn::Adam>(ps, 1e-2, std::make_pair(0.8, 0.99), 1e-6, 1e-2);
  });
  check_optimizer("AdamW", [](const nn::NamedTensors& ps) {
    return std::make_unique<nn::AdamW>(ps, 1e-2, std::make_pair(0.9, 0.999), 1e-8, 0.1);
  });
  check_optimizer(
      "Adam L2",
      [](const nn::NamedTensors& ps) {
        return std::make_unique<nn::Adam>(ps, 1e-2, std::make_pair(0.8, 0.99), 1e-6, 1e-2);
      },
      DType::F64);
  check_optimizer(
      "AdamW",
      [](const nn::NamedTensors& ps) {
        return std::make_unique<nn::AdamW>(ps, 1e-2, std::make_pair(0.9, 0.999), 1e-8, 0.1);
      },
      DType::F64);
}

// More tensors than one launch carries (kMaxTensorsPerLaunch), some empty, some crossing chunks.
std::vector<std::int64_t> multi_sizes() {
  std::vector<std::int64_t> sizes;
  for (int i = 0; i < 2 * kernels::cuda::kMaxTensorsPerLaunch + 3; ++i)
    sizes.push_back(i % 9 == 4 ? 0 : 1 + (i * 1237) % (3 * kernels::cuda::kChunk));
  return sizes;
}

TEST(CudaOptim, MultiTensorKernelsEqualTheCpuKernels) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(62);
  const std::vector<std::int64_t> sizes = multi_sizes();
  std::vector<Tensor> p, g, a, b;  // CPU; a = momentum buffer or m, b = v
  for (std::int64_t n : sizes) {
    p.push_back(randn({n}, gen));
    g.push_back(randn({n}, gen));
    a.push_back(randn({n}, gen, DType::F32, Device::cpu(), 0.0, 0.1));
    b.push_back(rand({n}, gen, DType::F32, Device::cpu(), 0.0, 0.01));
  }
  const auto to_gpu = [](const std::vector<Tensor>& ts) {
    std::vector<Tensor> out;
    for (const Tensor& t : ts) out.push_back(t.to(kGpu));
    return out;
  };
  // SGD: every other tensor on its first step.
  {
    std::vector<Tensor> pd = to_gpu(p), gd = to_gpu(g), bd = to_gpu(a), pc, bc;
    std::vector<kernels::cuda::SgdTensor<float>> list;
    for (size_t i = 0; i < sizes.size(); ++i) {
      pc.push_back(p[i].clone());
      bc.push_back(a[i].clone());
      kernels::cpu::sgd_step<float>(pc[i].data<float>(), g[i].data<float>(), bc[i].data<float>(), sizes[i], 0.05, 0.9,
                                    0.1, 1e-2, false, i % 2 == 0);
      list.push_back({pd[i].data<float>(), gd[i].data<float>(), bd[i].data<float>(), sizes[i], i % 2 == 0});
    }
    kernels::on_device(
        kGpu, [](auto) {},
        [&](auto) { kernels::cuda::sgd_step_multi<float>(list.data(), list.size(), 0.05, 0.9, 0.1, 1e-2, false, 0); });
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_TRUE(same_bits(pd[i], pc[i])) << "sgd tensor " << i;
      EXPECT_TRUE(same_bits(bd[i], bc[i])) << "sgd buffer " << i;
    }
  }
  // AdamW: a different step count per tensor (different bias corrections in one launch).
  {
    std::vector<Tensor> pd = to_gpu(p), gd = to_gpu(g), md = to_gpu(a), vd = to_gpu(b), pc, mc, vc;
    std::vector<kernels::cuda::AdamTensor<float>> list;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::int64_t step = 1 + static_cast<std::int64_t>(i % 5) * 7;
      pc.push_back(p[i].clone());
      mc.push_back(a[i].clone());
      vc.push_back(b[i].clone());
      kernels::cpu::adam_step<float>(pc[i].data<float>(), g[i].data<float>(), mc[i].data<float>(), vc[i].data<float>(),
                                     sizes[i], 1e-2, 0.9, 0.999, 1e-8, 0.1, true, step);
      list.push_back(
          {pd[i].data<float>(), gd[i].data<float>(), md[i].data<float>(), vd[i].data<float>(), sizes[i], step});
    }
    kernels::on_device(
        kGpu, [](auto) {},
        [&](auto) {
          kernels::cuda::adam_step_multi<float>(list.data(), list.size(), 1e-2, 0.9, 0.999, 1e-8, 0.1, true, 0);
        });
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_TRUE(same_bits(pd[i], pc[i])) << "adamw tensor " << i;
      EXPECT_TRUE(same_bits(md[i], mc[i])) << "adamw m " << i;
      EXPECT_TRUE(same_bits(vd[i], vc[i])) << "adamw v " << i;
    }
  }
}

TEST(CudaOptim, ClipGradNormEqualsTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(63);
  for (double norm_type : {2.0, 1.0, 3.0, nn::kInfNorm}) {
    std::vector<Tensor> cpu, gpu;
    for (size_t i = 0; i < kShapes.size(); ++i) {
      Tensor pc = zeros(kShapes[i]), pg = zeros(kShapes[i], DType::F32, kGpu);
      if (i != 3) {  // one parameter without a gradient: skipped
        const Tensor g = randn(kShapes[i], gen);
        pc.set_grad(g.clone());
        pg.set_grad(g.to(kGpu));
      }
      cpu.push_back(pc);
      gpu.push_back(pg);
    }
    const double tc = nn::clip_grad_norm(cpu, 0.5, norm_type), tg = nn::clip_grad_norm(gpu, 0.5, norm_type);
    // f64 sums of the same terms in another order.
    EXPECT_NEAR(tg, tc, 1e-12 * tc) << "norm " << norm_type;
    EXPECT_GT(tc, 0.5);  // so the gradients were scaled
    for (size_t i = 0; i < kShapes.size(); ++i) {
      if (i == 3) {
        EXPECT_FALSE(gpu[i].grad().defined());
        continue;
      }
      EXPECT_TRUE(testing::all_close(gpu[i].grad(), cpu[i].grad())) << "norm " << norm_type << ", grad " << i;
    }
  }
}

// One list over two devices and two dtypes: each (device, dtype) group is reduced once, groups
// are combined on the host, and the result is the all-CPU norm; every gradient is scaled alike.
TEST(CudaOptim, ClipGradNormOverMixedDevicesAndDtypes) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(65);
  const std::vector<std::pair<Device, DType>> where = {{kGpu, DType::F32},          {Device::cpu(), DType::F32},
                                                       {kGpu, DType::F64},          {kGpu, DType::F32},
                                                       {Device::cpu(), DType::F64}, {kGpu, DType::F64}};
  for (double norm_type : {2.0, 3.0, nn::kInfNorm}) {
    std::vector<Tensor> cpu, mixed;
    for (size_t i = 0; i < where.size(); ++i) {
      const Shape shape{static_cast<std::int64_t>(1000 + 3001 * i)};
      const Tensor g = randn(shape, gen, where[i].second);
      Tensor pc = zeros(shape, where[i].second), pm = zeros(shape, where[i].second, where[i].first);
      pc.set_grad(g.clone());
      pm.set_grad(g.to(where[i].first));
      cpu.push_back(pc);
      mixed.push_back(pm);
    }
    const double tc = nn::clip_grad_norm(cpu, 0.5, norm_type), tm = nn::clip_grad_norm(mixed, 0.5, norm_type);
    EXPECT_NEAR(tm, tc, 1e-12 * tc) << "norm " << norm_type;
    for (size_t i = 0; i < where.size(); ++i) {
      EXPECT_TRUE(testing::all_close(mixed[i].grad(), cpu[i].grad())) << "norm " << norm_type << ", grad " << i;
    }
  }
}

TEST(CudaOptim, NonFiniteNormLeavesGradientsAlone) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(64);
  for (double norm_type : {2.0, nn::kInfNorm}) {
    std::vector<Tensor> gpu;
    std::vector<std::vector<float>> before;
    for (size_t i = 0; i < 3; ++i) {
      std::vector<float> g = randn({4099}, gen).to_vector<float>();
      if (i == 1) g[4000] = std::numeric_limits<float>::quiet_NaN();
      Tensor p = zeros({4099}, DType::F32, kGpu);
      p.set_grad(from_vector<float>(g).to(kGpu));
      gpu.push_back(p);
      before.push_back(g);
    }
    EXPECT_TRUE(std::isnan(nn::clip_grad_norm(gpu, 0.5, norm_type))) << "norm " << norm_type;
    for (size_t i = 0; i < 3; ++i) {
      const std::vector<float> after = gpu[i].grad().to_vector<float>();
      for (size_t j = 0; j < after.size(); ++j) {
        if (std::isnan(before[i][j])) {
          EXPECT_TRUE(std::isnan(after[j])) << "grad " << i << "[" << j << "]";
        } else {
          EXPECT_EQ(after[j], before[i][j]) << "grad " << i << "[" << j << "]";
        }
      }
    }
  }
}

}  // namespace
}  // namespace kdcu
