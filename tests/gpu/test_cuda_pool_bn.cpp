// Pooling and batch norm on CUDA against the CPU reference through the ops: values, gradients,
// argmax choice under ties, NaN and all -inf windows (seen through the gradient's routing), the
// avg-pool divisors both ways, running statistics; awkward shapes, f32 and f64, outputs poisoned
// first. Pooling adds in the CPU's order, so it is compared bit for bit. cuDNN's batch norm, which
// bench_bn_cuda times against the own kernels, is checked to compute the same thing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/batch_norm_cudnn.h"
#include "ops/batch_norm.h"
#include "ops/elementwise.h"
#include "ops/pool.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

struct PoolCase {
  Shape x;
  ops::Pair kernel, stride, padding;
};

const std::vector<PoolCase> kPoolCases = {
    {{3, 5, 7, 9}, {2, 2}, {0, 0}, {0, 0}},  // cnn_small's pool on odd sizes (floor mode drops an edge)
    {{2, 3, 9, 8}, {3, 3}, {2, 2}, {1, 1}},  // overlapping windows with padding
    {{1, 17, 6, 5}, {3, 3}, {1, 1}, {1, 1}}, {{3, 2, 7, 10}, {2, 3}, {1, 2}, {1, 1}},
    {{2, 1, 1, 1}, {1, 1}, {0, 0}, {0, 0}},  {{1, 2, 5, 5}, {5, 5}, {0, 0}, {2, 2}},
    {{2, 2, 6, 6}, {3, 3}, {3, 3}, {0, 0}},  // stride = kernel, windows tile the image exactly
    {{1, 3, 8, 7}, {2, 4}, {3, 1}, {1, 2}},  // stride > kernel rows: some rows no window covers
};

// Values with many ties (a few distinct levels), so the first-maximum rule decides.
Tensor tied(const Shape& shape, Generator& gen) {
  std::vector<float> v = randn(shape, gen).to_vector<float>();
  for (float& x : v) x = std::floor(x * 1.5f);
  return from_vector<float>(v, shape);
}

// Bitwise equal, NaN equal to NaN.
::testing::AssertionResult same_values(const Tensor& actual, const Tensor& expected) {
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  if (actual.shape() != expected.shape()) return ::testing::AssertionFailure() << "shapes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (a[i] != e[i]) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << e[i];
  }
  return ::testing::AssertionSuccess();
}

template <class F>
void check_pool(const Tensor& x_cpu, const F& pool, Generator& gen, const std::string& what, bool exact) {
  Tensor xc = x_cpu.detach().clone(), xd = x_cpu.detach().to(kGpu);
  xc.requires_grad_();
  xd.requires_grad_();
  const Tensor y = pool(xc), yd = pool(xd);
  const Tensor seed = randn(y.shape(), gen, x_cpu.dtype());
  y.backward(seed);
  yd.backward(seed.to(kGpu));
  if (exact) {
    // The CUDA kernels add in the CPU's order: the same bits (a tie picked differently would move
    // a gradient to another pixel).
    EXPECT_TRUE(same_values(yd, y)) << what << ": forward";
    EXPECT_TRUE(same_values(xd.grad(), xc.grad())) << what << ": backward";
  } else {
    EXPECT_TRUE(testing::all_close(yd, y)) << what << ": forward";
    EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad())) << what << ": backward";
  }
}

TEST(CudaPool, MaxPoolMatchesCpuWithTies) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(51);
  for (const PoolCase& c : kPoolCases) {
    const auto pool = [&](const Tensor& x) { return ops::max_pool2d(x, c.kernel, c.stride, c.padding); };
    check_pool(tied(c.x, gen), pool, gen, "max_pool2d " + shape_str(c.x), true);
    check_pool(randn(c.x, gen), pool, gen, "max_pool2d " + shape_str(c.x), true);
  }
}

TEST(CudaPool, MaxPoolNanAndInfinityRules) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(52);
  const Shape shape{2, 3, 7, 8};
  std::vector<float> v = randn(shape, gen).to_vector<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < v.size(); i += 7) v[i] = nan;  // sometimes two NaN in one window: the last wins
  for (size_t i = 3; i < v.size(); i += 11) v[i] = -inf;
  for (size_t i = 100; i < 116; ++i) v[i] = -inf;  // whole windows of -inf keep their first pixel
  for (size_t i = 5; i < v.size(); i += 29) v[i] = inf;
  // Plane 4 all -inf: every window's maximum is -inf, and the gradient must go to the window's
  // first in-image pixel, as on the CPU (a pixel chosen otherwise moves the gradient).
  std::fill(v.begin() + 4 * 56, v.begin() + 5 * 56, -inf);
  const Tensor x = from_vector<float>(v, shape);
  for (const PoolCase& c : {PoolCase{shape, {2, 2}, {0, 0}, {0, 0}}, PoolCase{shape, {3, 3}, {2, 2}, {1, 1}},
                            PoolCase{shape, {3, 2}, {1, 1}, {1, 0}}}) {
    const auto pool = [&](const Tensor& t) { return ops::max_pool2d(t, c.kernel, c.stride, c.padding); };
    check_pool(x, pool, gen, "max_pool2d with NaN/inf, kernel " + std::to_string(c.kernel[0]), true);
  }
}

TEST(CudaPool, DoublePrecisionMatchesCpuBitwise) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(58);
  for (const PoolCase& c : {kPoolCases[1], kPoolCases[3], kPoolCases[7]}) {
    const Tensor x = randn(c.x, gen, DType::F64);
    check_pool(
        x, [&](const Tensor& t) { return ops::max_pool2d(t, c.kernel, c.stride, c.padding); }, gen,
        "f64 max_pool2d " + shape_str(c.x), true);
    for (bool include_pad : {true, false}) {
      check_pool(
          x, [&](const Tensor& t) { return ops::avg_pool2d(t, c.kernel, c.stride, c.padding, include_pad); }, gen,
          cat("f64 avg_pool2d ", shape_str(c.x), " count_include_pad ", include_pad), true);
    }
  }
  check_pool(
      randn({3, 4, 5, 7}, gen, DType::F64), [](const Tensor& t) { return ops::global_avg_pool2d(t); }, gen,
      "f64 global_avg_pool2d", false);
}

TEST(CudaPool, AvgPoolMatchesCpuBothDivisors) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(53);
  for (const PoolCase& c : kPoolCases) {
    for (bool include_pad : {true, false}) {
      const auto pool = [&](const Tensor& x) { return ops::avg_pool2d(x, c.kernel, c.stride, c.padding, include_pad); };
      check_pool(randn(c.x, gen), pool, gen, cat("avg_pool2d ", shape_str(c.x), " count_include_pad ", include_pad),
                 true);
    }
  }
}

TEST(CudaPool, GlobalAvgPoolMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(54);
  for (const Shape& s :
       std::vector<Shape>{{3, 17, 7, 9}, {1, 1, 1, 1}, {2, 3, 32, 32}, {129, 64, 8, 8}, {2, 5, 1, 77}}) {
    // Double sums in another order: the same after rounding to f32 nearly always, so the plain tolerance.
    check_pool(
        randn(s, gen), [](const Tensor& x) { return ops::global_avg_pool2d(x); }, gen,
        "global_avg_pool2d " + shape_str(s), false);
  }
}

struct BnCase {
  Shape x;
  bool affine, running;
};

TEST(CudaBatchNorm, TrainingAndEvalMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(55);
  const testing::Tolerance tol = testing::tolerance_for(DType::F32, 10.0);
  for (const BnCase& c : std::vector<BnCase>{{{7, 17}, true, true},
                                             {{3, 5, 7, 9}, true, true},
                                             {{1, 3, 1, 2}, false, true},
                                             {{5, 1, 4, 4}, true, false},
                                             {{33, 3, 11, 13}, true, true},
                                             {{2, 16, 3, 3, 2}, false, false}}) {
    const std::int64_t ch = c.x[1];
    for (bool training : {true, false}) {
      if (!training && !c.running) continue;  // eval needs running statistics
      const std::string what = cat("batch_norm ", shape_str(c.x), training ? " train" : " eval",
                                   c.affine ? " affine" : "", c.running ? " running" : "");
      // Shift and scale per run so that the statistics are not trivially 0 and 1.
      const Tensor x = randn(c.x, gen, DType::F32, Device::cpu(), 0.7, 2.5);
      const Tensor w = c.affine ? rand({ch}, gen, DType::F32, Device::cpu(), 0.5, 1.5) : Tensor();
      const Tensor b = c.affine ? randn({ch}, gen) : Tensor();
      const Tensor rm = c.running ? randn({ch}, gen) : Tensor();
      const Tensor rv = c.running ? rand({ch}, gen, DType::F32, Device::cpu(), 0.5, 2.0) : Tensor();
      std::vector<Tensor> cpu = {x, w, b, rm, rv}, gpu;
      for (Tensor& t : cpu) {
        if (!t.defined()) {
          gpu.emplace_back();
          continue;
        }
        t = t.clone();
        gpu.push_back(t.to(kGpu));
      }
      for (int i = 0; i < 3; ++i) {
        if (cpu[i].defined()) {
          cpu[i].requires_grad_();
          gpu[i].requires_grad_();
        }
      }
      const Tensor y = ops::batch_norm(cpu[0], cpu[1], cpu[2], cpu[3], cpu[4], training, 0.1, 1e-5);
      const Tensor yd = ops::batch_norm(gpu[0], gpu[1], gpu[2], gpu[3], gpu[4], training, 0.1, 1e-5);
      EXPECT_TRUE(testing::all_close(yd, y, tol)) << what << ": forward";
      if (c.running) {
        EXPECT_TRUE(testing::all_close(gpu[3], cpu[3], tol)) << what << ": running_mean";
        EXPECT_TRUE(testing::all_close(gpu[4], cpu[4], tol)) << what << ": running_var";
      }
      const Tensor seed = randn(c.x, gen);
      y.backward(seed);
      yd.backward(seed.to(kGpu));
      const char* names[] = {"dx", "dweight", "dbias"};
      for (int i = 0; i < 3; ++i) {
        if (!cpu[i].defined()) continue;
        EXPECT_TRUE(testing::all_close(gpu[i].grad(), cpu[i].grad(), tol)) << what << ": " << names[i];
      }
    }
  }
}

TEST(CudaBatchNorm, PartialGradientsMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(56);
  const testing::Tolerance tol = testing::tolerance_for(DType::F32, 10.0);
  const Shape shape{6, 5, 3, 7};
  // (x, weight) wanting a gradient; in eval with a frozen weight x is not kept (the null-x path).
  for (const auto& [gx, gw, training] : std::vector<std::tuple<bool, bool, bool>>{
           {true, false, false}, {false, true, false}, {false, true, true}, {true, false, true}}) {
    const std::string what = cat("batch_norm partial x ", gx, " weight ", gw, training ? " train" : " eval");
    const Tensor x = randn(shape, gen, DType::F32, Device::cpu(), -0.3, 1.7);
    const Tensor w = rand({5}, gen, DType::F32, Device::cpu(), 0.5, 1.5), b = randn({5}, gen);
    const Tensor rm = randn({5}, gen), rv = rand({5}, gen, DType::F32, Device::cpu(), 0.5, 2.0);
    Tensor xc = x.clone(), wc = w.clone(), xd = x.to(kGpu), wd = w.to(kGpu);
    if (gx) {
      xc.requires_grad_();
      xd.requires_grad_();
    }
    if (gw) {
      wc.requires_grad_();
      wd.requires_grad_();
    }
    const Tensor y = ops::batch_norm(xc, wc, b, rm.clone(), rv.clone(), training);
    const Tensor yd = ops::batch_norm(xd, wd, b.to(kGpu), rm.to(kGpu), rv.to(kGpu), training);
    const Tensor seed = randn(shape, gen);
    y.backward(seed);
    yd.backward(seed.to(kGpu));
    if (gx) {
      EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), tol)) << what << ": dx";
    }
    if (gw) {
      EXPECT_TRUE(testing::all_close(wd.grad(), wc.grad(), tol)) << what << ": dweight";
    }
  }
}

TEST(CudaBatchNorm, DoublePrecisionWorks) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(57);
  const Tensor x = randn({9, 4, 5, 3}, gen, DType::F64);
  Tensor xc = x.clone(), xd = x.to(kGpu);
  xc.requires_grad_();
  xd.requires_grad_();
  Tensor rm = zeros({4}, DType::F64), rv = ones({4}, DType::F64);
  Tensor rmd = rm.to(kGpu), rvd = rv.to(kGpu);
  const Tensor y = ops::batch_norm(xc, Tensor(), Tensor(), rm, rv, true);
  const Tensor yd = ops::batch_norm(xd, Tensor(), Tensor(), rmd, rvd, true);
  const testing::Tolerance tol = testing::tolerance_for(DType::F64, 100.0);
  EXPECT_TRUE(testing::all_close(yd, y, tol)) << "train forward";
  EXPECT_TRUE(testing::all_close(rmd, rm, tol)) << "running_mean";
  EXPECT_TRUE(testing::all_close(rvd, rv, tol)) << "running_var";
  const Tensor seed = randn(x.shape(), gen, DType::F64);
  y.backward(seed);
  yd.backward(seed.to(kGpu));
  EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), tol)) << "train dx";
  // Eval with an affine transform: the running statistics normalise, dx = dy * invstd * gamma.
  Tensor w = rand({4}, gen, DType::F64, Device::cpu(), 0.5, 1.5), b = randn({4}, gen, DType::F64);
  Tensor wd = w.to(kGpu);
  w.requires_grad_();
  wd.requires_grad_();
  Tensor xe = x.clone(), xed = x.to(kGpu);
  xe.requires_grad_();
  xed.requires_grad_();
  const Tensor ye = ops::batch_norm(xe, w, b, rm, rv, false);
  const Tensor yed = ops::batch_norm(xed, wd, b.to(kGpu), rmd, rvd, false);
  EXPECT_TRUE(testing::all_close(yed, ye, tol)) << "eval forward";
  ye.backward(seed);
  yed.backward(seed.to(kGpu));
  EXPECT_TRUE(testing::all_close(xed.grad(), xe.grad(), tol)) << "eval dx";
  EXPECT_TRUE(testing::all_close(wd.grad(), w.grad(), tol)) << "eval dweight";
}

// bench_bn_cuda's comparison is only fair if cuDNN computes what the own kernels compute.
TEST(CudaBatchNorm, CudnnBatchNormComputesWhatTheOwnKernelsCompute) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);
  Generator g(91);
  for (const Shape& shape : {Shape{5, 3, 7, 9}, Shape{64, 16, 14, 14}, Shape{2, 33, 1, 1}}) {
    const std::int64_t n = shape[0], c = shape[1], s = shape[2] * shape[3];
    const Tensor x = randn(shape, g, DType::F32, kGpu, 0.5, 2.0), dy = randn(shape, g, DType::F32, kGpu);
    const Tensor w = randn({c}, g, DType::F32, kGpu, 1.0, 0.1), b = randn({c}, g, DType::F32, kGpu, 0.0, 0.1);
    const auto vec = [&] { return empty({c}, DType::F32, kGpu); };
    Tensor y1 = empty_like(x), y2 = empty_like(x), dx1 = empty_like(x), dx2 = empty_like(x);
    Tensor m1 = vec(), i1 = vec(), m2 = vec(), i2 = vec(), dw1 = vec(), db1 = vec(), dw2 = vec(), db2 = vec();
    Tensor rm1 = zeros({c}, DType::F32, kGpu), rv1 = ones({c}, DType::F32, kGpu);
    Tensor rm2 = zeros({c}, DType::F32, kGpu), rv2 = ones({c}, DType::F32, kGpu);
    kernels::cuda::batch_norm_stats<float>(x.data<float>(), n, c, s, 1e-5, m1.data<float>(), i1.data<float>(),
                                           rm1.data<float>(), rv1.data<float>(), 0.1, 0);
    kernels::cuda::batch_norm_forward<float>(x.data<float>(), m1.data<float>(), i1.data<float>(), w.data<float>(),
                                             b.data<float>(), y1.data<float>(), n, c, s, 0);
    kernels::cuda::batch_norm_backward<float>(x.data<float>(), dy.data<float>(), m1.data<float>(), i1.data<float>(),
                                              w.data<float>(), true, dx1.data<float>(), dw1.data<float>(),
                                              db1.data<float>(), n, c, s, 0);
    kernels::cuda::cudnn_batch_norm_forward_training(x.data<float>(), y2.data<float>(), w.data<float>(),
                                                     b.data<float>(), rm2.data<float>(), rv2.data<float>(),
                                                     m2.data<float>(), i2.data<float>(), n, c, s, 1e-5, 0.1, 0);
    kernels::cuda::cudnn_batch_norm_backward(x.data<float>(), dy.data<float>(), w.data<float>(), m2.data<float>(),
                                             i2.data<float>(), dx2.data<float>(), dw2.data<float>(), db2.data<float>(),
                                             n, c, s, 1e-5, 0);
    const testing::Tolerance tol = testing::tolerance_for(DType::F32, 20.0);  // cuDNN sums in its own order
    const std::string what = shape_str(shape);
    EXPECT_TRUE(testing::all_close(y2, y1, tol)) << what << " y";
    EXPECT_TRUE(testing::all_close(m2, m1, tol)) << what << " saved mean";
    EXPECT_TRUE(testing::all_close(i2, i1, tol)) << what << " saved invstd";
    EXPECT_TRUE(testing::all_close(rm2, rm1, tol)) << what << " running mean";
    EXPECT_TRUE(testing::all_close(rv2, rv1, tol)) << what << " running var (unbiased)";
    EXPECT_TRUE(testing::all_close(dx2, dx1, tol)) << what << " dx";
    EXPECT_TRUE(testing::all_close(dw2, dw1, tol)) << what << " dweight";
    EXPECT_TRUE(testing::all_close(db2, db1, tol)) << what << " dbias";
  }
}

}  // namespace
}  // namespace kdcu
