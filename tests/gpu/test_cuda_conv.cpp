// cuDNN conv2d against the CPU reference (im2col + GEMM) through the op: output, dx, dweight and
// dbias on fresh random inputs over awkward geometries (odd batch, 1 / 3 / 17 channels, 1x1, 3x3
// and non-square kernels, stride 2, padding, dilation, a 1x1 output, an all-padding image, an
// empty batch), outputs poisoned first, TF32 off for the comparisons. Also: only the wanted
// gradients, f64, misaligned views (a separate cache entry), repeat calls bitwise equal (cached
// deterministic algorithms), the TF32 path stays close, and TF32 off after TF32 on does not reuse
// the TF32 algorithm.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "kernels/cuda/handles.h"
#include "ops/conv.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

struct FullF32 {
  bool before = kernels::cuda::tf32_enabled();
  FullF32() { kernels::cuda::set_tf32(false); }
  ~FullF32() { kernels::cuda::set_tf32(before); }
};

struct Geometry {
  std::int64_t n, cin, h, w, cout, kh, kw;
  ops::Pair stride, padding, dilation;
  bool bias;
  std::string str() const {
    return cat("x [", n, ", ", cin, ", ", h, ", ", w, "] weight [", cout, ", ", cin, ", ", kh, ", ", kw, "] stride (",
               stride[0], ", ", stride[1], ") padding (", padding[0], ", ", padding[1], ") dilation (", dilation[0],
               ", ", dilation[1], ")", bias ? " bias" : "");
  }
};

const std::vector<Geometry> kGeometries = {
    {3, 1, 7, 9, 17, 3, 3, {1, 1}, {1, 1}, {1, 1}, true},     // 1 channel in, 17 out, same padding
    {1, 3, 8, 8, 5, 1, 1, {1, 1}, {0, 0}, {1, 1}, false},     // pointwise
    {3, 16, 9, 9, 32, 1, 1, {2, 2}, {0, 0}, {1, 1}, false},   // the ResNet shortcut: 1x1, stride 2
    {5, 17, 11, 10, 3, 3, 3, {2, 2}, {1, 1}, {1, 1}, true},   // stride 2 on odd sizes
    {2, 4, 13, 12, 6, 3, 2, {2, 1}, {2, 0}, {2, 3}, true},    // non-square everything, dilation
    {3, 3, 5, 5, 4, 5, 5, {1, 1}, {0, 0}, {1, 1}, true},      // a 1x1 output
    {1, 2, 1, 1, 3, 1, 1, {2, 2}, {0, 0}, {1, 1}, true},      // a 1x1 image
    {4, 16, 32, 32, 16, 3, 3, {1, 1}, {1, 1}, {1, 1}, true},  // a ResNet stage
    {3, 2, 0, 4, 3, 1, 1, {1, 1}, {1, 0}, {1, 1}, true},      // an empty image: y is the bias
    {0, 3, 5, 5, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, true},      // an empty batch: dweight, dbias 0
};

// The f32 tolerance for this geometry: the longest sum (a forward or dx output: Cin*kh*kw or
// Cout*kh*kw terms; a dweight or dbias element: N*oh*ow terms) sets how far two summation orders
// may drift apart, about sqrt(terms) times the terms' size.
testing::Tolerance f32_tolerance(const Geometry& g) {
  const std::int64_t oh = (g.h + 2 * g.padding[0] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0] + 1;
  const std::int64_t ow = (g.w + 2 * g.padding[1] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1] + 1;
  const std::int64_t terms = std::max({g.cin * g.kh * g.kw, g.cout * g.kh * g.kw, g.n * oh * ow});
  return testing::tolerance_for(DType::F32, std::max(50.0, 4.0 * std::sqrt(static_cast<double>(terms))));
}

// TF32 rounds both operands to 10 mantissa bits (relative error up to 2^-11 each), so each product
// is off by up to about 1e-3 relative, and a sum of `terms` products of unit-size random values by
// a random walk of about 6e-4 sqrt(terms); the bound allows five of those steps.
testing::Tolerance tf32_tolerance(const Geometry& g) {
  const std::int64_t oh = (g.h + 2 * g.padding[0] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0] + 1;
  const std::int64_t ow = (g.w + 2 * g.padding[1] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1] + 1;
  const std::int64_t terms = std::max({g.cin * g.kh * g.kw, g.cout * g.kh * g.kw, g.n * oh * ow});
  return {1e-2, 3e-3 * std::sqrt(static_cast<double>(terms))};
}

Tensor leaf(const Shape& shape, Generator& gen, bool grad, DType dt = DType::F32) {
  Tensor t = randn(shape, gen, dt);
  if (grad) t.requires_grad_();
  return t;
}

// conv2d of g on the CPU and the GPU with gradients for the inputs flagged in `grads` (x, w, b).
void check_geometry(const Geometry& g, std::array<bool, 3> grads, Generator& gen, DType dt, testing::Tolerance tol) {
  const std::string what = g.str() + (dt == DType::F64 ? " f64" : "") + cat(" grads ", grads[0], grads[1], grads[2]);
  const Tensor x = leaf({g.n, g.cin, g.h, g.w}, gen, grads[0], dt);
  const Tensor w = leaf({g.cout, g.cin, g.kh, g.kw}, gen, grads[1], dt);
  const Tensor b = g.bias ? leaf({g.cout}, gen, grads[2], dt) : Tensor();
  std::vector<Tensor> cpu = {x, w, b}, gpu;
  for (Tensor& t : cpu) {
    if (!t.defined()) {
      gpu.emplace_back();
      continue;
    }
    const bool rg = t.requires_grad();
    Tensor d = t.detach().to(kGpu);
    if (rg) d.requires_grad_();
    gpu.push_back(d);
  }
  const auto f = [&](const std::vector<Tensor>& t) {
    return ops::conv2d(t[0], t[1], t[2], g.stride, g.padding, g.dilation);
  };
  const Tensor y = f(cpu), yd = f(gpu);
  EXPECT_TRUE(testing::all_close(yd, y, tol)) << what << ": forward";
  if (!y.requires_grad()) return;
  const Tensor seed = randn(y.shape(), gen, dt);
  y.backward(seed);
  yd.backward(seed.to(kGpu));
  const char* names[] = {"dx", "dweight", "dbias"};
  for (int i = 0; i < 3; ++i) {
    if (!cpu[i].defined() || !cpu[i].requires_grad()) continue;
    EXPECT_TRUE(testing::all_close(gpu[i].grad(), cpu[i].grad(), tol)) << what << ": " << names[i];
  }
}

TEST(CudaConv, ForwardAndGradientsMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(41);
  for (const Geometry& g : kGeometries) check_geometry(g, {true, true, true}, gen, DType::F32, f32_tolerance(g));
}

TEST(CudaConv, OnlyTheWantedGradientsAreComputed) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(42);
  for (const Geometry& g : {kGeometries[0], kGeometries[3], kGeometries[4]}) {
    const testing::Tolerance tol = f32_tolerance(g);
    check_geometry(g, {true, false, false}, gen, DType::F32, tol);  // a frozen layer under a trained input
    check_geometry(g, {false, true, false}, gen, DType::F32, tol);  // the first layer: no dx
    check_geometry(g, {false, false, true}, gen, DType::F32, tol);
    check_geometry(g, {false, false, false}, gen, DType::F32, tol);  // no graph at all
  }
}

TEST(CudaConv, DoublePrecisionWorks) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(43);
  const testing::Tolerance tol = testing::tolerance_for(DType::F64, 100.0);
  for (const Geometry& g : {kGeometries[0], kGeometries[2], kGeometries[4]})
    check_geometry(g, {true, true, true}, gen, DType::F64, tol);
}

// x and dy as views at an odd float offset (4-byte aligned only): the algorithms are searched and
// cached again for that alignment, and the results still match the CPU.
TEST(CudaConv, MisalignedViewsMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(46);
  const Geometry g{3, 3, 7, 9, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, true};  // 3*7*9 = 189 floats per image
  const Tensor xb = randn({g.n + 1, g.cin, g.h, g.w}, gen);
  const Tensor wb = randn({g.cout, g.cin, g.kh, g.kw}, gen), b = randn({g.cout}, gen);
  const Tensor gb = randn({g.n + 1, g.cout, g.h, g.w}, gen);  // 5*7*9 = 315 floats per image
  Tensor wc = wb.clone(), wd = wb.to(kGpu);
  wc.requires_grad_();
  wd.requires_grad_();
  const Tensor xd = xb.to(kGpu), gd = gb.to(kGpu);
  const Tensor y = ops::conv2d(xb.slice(1, g.n + 1), wc, b, g.stride, g.padding, g.dilation);
  const Tensor yd = ops::conv2d(xd.slice(1, g.n + 1), wd, b.to(kGpu), g.stride, g.padding, g.dilation);
  const testing::Tolerance tol = f32_tolerance(g);
  EXPECT_TRUE(testing::all_close(yd, y, tol)) << "forward on a misaligned x";
  y.backward(gb.slice(1, g.n + 1));
  yd.backward(gd.slice(1, g.n + 1));
  EXPECT_TRUE(testing::all_close(wd.grad(), wc.grad(), tol)) << "dweight from a misaligned x and dy";
  // dx from a misaligned dy, through a leaf x.
  Tensor xc2 = xb.slice(0, g.n).clone(), xd2 = xc2.to(kGpu);
  xc2.requires_grad_();
  xd2.requires_grad_();
  const Tensor y2 = ops::conv2d(xc2, wb, Tensor(), g.stride, g.padding, g.dilation);
  const Tensor yd2 = ops::conv2d(xd2, wb.to(kGpu), Tensor(), g.stride, g.padding, g.dilation);
  y2.backward(gb.slice(1, g.n + 1));
  yd2.backward(gd.slice(1, g.n + 1));
  EXPECT_TRUE(testing::all_close(xd2.grad(), xc2.grad(), tol)) << "dx from a misaligned dy";
}

TEST(CudaConv, RepeatedCallsAreBitwiseEqual) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(44);
  const Geometry& g = kGeometries[7];
  const Tensor x = randn({g.n, g.cin, g.h, g.w}, gen, DType::F32, kGpu);
  const Tensor w = randn({g.cout, g.cin, g.kh, g.kw}, gen, DType::F32, kGpu);
  const Tensor seed = randn({g.n, g.cout, g.h, g.w}, gen, DType::F32, kGpu);
  std::vector<std::vector<float>> outputs[3];
  for (int run = 0; run < 3; ++run) {  // the first run finds and caches the algorithms
    Tensor xr = x.detach(), wr = w.detach();
    xr.requires_grad_();
    wr.requires_grad_();
    const Tensor y = ops::conv2d(xr, wr, Tensor(), g.stride, g.padding, g.dilation);
    y.backward(seed);
    outputs[0].push_back(y.to_vector<float>());
    outputs[1].push_back(xr.grad().to_vector<float>());
    outputs[2].push_back(wr.grad().to_vector<float>());
  }
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(outputs[k][1], outputs[k][0]) << "output " << k << " changed between calls";
    EXPECT_EQ(outputs[k][2], outputs[k][0]) << "output " << k << " changed between calls";
  }
}

TEST(CudaConv, Tf32StaysClose) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 restore;               // puts the switch back however the test ends
  kernels::cuda::set_tf32(true);
  Generator gen(45);
  check_geometry(kGeometries[7], {true, true, true}, gen, DType::F32, tf32_tolerance(kGeometries[7]));
}

// A geometry first seen with TF32 on: its TF32 algorithms are cached under the TF32 key, so the
// same geometry with TF32 off must search again (full f32 only) and match the CPU at the f32
// tolerance, not reuse a tensor-op algorithm.
TEST(CudaConv, Tf32OffAfterOnIsFullF32) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 restore;
  const Geometry g{2, 24, 12, 12, 40, 3, 3, {1, 1}, {1, 1}, {1, 1}, true};  // used by no other test
  Generator gen(47);
  kernels::cuda::set_tf32(true);
  check_geometry(g, {true, true, true}, gen, DType::F32, tf32_tolerance(g));
  kernels::cuda::set_tf32(false);
  check_geometry(g, {true, true, true}, gen, DType::F32, f32_tolerance(g));
}

}  // namespace
}  // namespace kdcu
