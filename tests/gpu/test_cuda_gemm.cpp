// cuBLAS matmul / linear against the CPU reference through the ops: values and every gradient, on
// fresh random inputs of awkward sizes (1s, odd extents, k = 0, m = 0, no rows), misaligned views,
// outputs poisoned first (every new storage is NaN), TF32 off so that both sides are full f32 (or
// f64). One tolerance formula (tests/support/checks.h), scaled for the length of the sums.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/factories.h"
#include "kernels/cuda/handles.h"
#include "ops/linear.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

// Turns TF32 off for one test and restores the previous setting after it.
struct FullF32 {
  bool before = kernels::cuda::tf32_enabled();
  FullF32() { kernels::cuda::set_tf32(false); }
  ~FullF32() { kernels::cuda::set_tf32(before); }
};

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// f on CPU copies and on GPU copies of `inputs` (those requiring grad become leaves on both sides),
// then backward with one random seed; the GPU's output and gradients must match the CPU's.
void expect_gpu_matches_cpu(const Fn& f, const std::vector<Tensor>& inputs, Generator& gen, testing::Tolerance tol,
                            const std::string& what) {
  std::vector<Tensor> cpu, gpu;
  bool any_grad = false;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone(), d = t.detach().to(kGpu);
    if (t.requires_grad()) {
      c.requires_grad_();
      d.requires_grad_();
      any_grad = true;
    }
    cpu.push_back(c);
    gpu.push_back(d);
  }
  const Tensor y = f(cpu), yd = f(gpu);
  ASSERT_TRUE(yd.device().is_cuda()) << what;
  EXPECT_TRUE(testing::all_close(yd, y, tol)) << what << ": forward";
  if (!any_grad) return;
  const Tensor seed = randn(y.shape(), gen, y.dtype());
  y.backward(seed);
  yd.backward(seed.to(kGpu));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    EXPECT_TRUE(testing::all_close(gpu[i].grad(), cpu[i].grad(), tol)) << what << ": gradient of input " << i;
  }
}

// The f32 tolerance for sums of up to `terms` products on each side, in different orders: the
// rounding error of such a sum grows about like sqrt(terms) times its terms.
testing::Tolerance sum_tolerance(std::int64_t terms, double at_least = 20.0) {
  return testing::tolerance_for(DType::F32, std::max(at_least, 4.0 * std::sqrt(static_cast<double>(terms))));
}

Tensor leaf(const Shape& shape, Generator& gen, bool grad, DType dt = DType::F32) {
  Tensor t = randn(shape, gen, dt);
  if (grad) t.requires_grad_();
  return t;
}

TEST(CudaGemm, MatmulMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(31);
  struct Case {
    std::int64_t batch, m, k, n;  // batch 0: the 2-D op
  };
  for (const Case& c : std::vector<Case>{{0, 1, 1, 1},
                                         {0, 3, 5, 7},
                                         {0, 17, 1, 33},
                                         {0, 64, 129, 31},
                                         {0, 5, 0, 4},  // k = 0: c = 0 (the scale kernel)
                                         {0, 0, 3, 4},  // m = 0: db = a^T dc is an empty sum, 0
                                         {2, 3, 4, 5},
                                         {5, 17, 1, 9},
                                         {3, 1, 1, 1},
                                         {4, 3, 0, 5},  // batched k = 0: the scale kernel's batch stride
                                         {7, 33, 65, 2}}) {
    const Shape sa = c.batch ? Shape{c.batch, c.m, c.k} : Shape{c.m, c.k};
    const Shape sb = c.batch ? Shape{c.batch, c.k, c.n} : Shape{c.k, c.n};
    const std::string what = cat("matmul ", shape_str(sa), " x ", shape_str(sb));
    const Fn f = [](const std::vector<Tensor>& t) { return ops::matmul(t[0], t[1]); };
    const testing::Tolerance tol = sum_tolerance(std::max({c.m, c.k, c.n}));
    expect_gpu_matches_cpu(f, {leaf(sa, gen, true), leaf(sb, gen, true)}, gen, tol, what);
    // Only one side wants a gradient: the other operand is not even kept.
    expect_gpu_matches_cpu(f, {leaf(sa, gen, true), leaf(sb, gen, false)}, gen, tol, what + " (da only)");
    expect_gpu_matches_cpu(f, {leaf(sa, gen, false), leaf(sb, gen, true)}, gen, tol, what + " (db only)");
  }
}

TEST(CudaGemm, LinearMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(32);
  struct Case {
    std::int64_t rows, in, out;
  };
  // {3, 0, 5}: no input features, y is the bias; {0, 4, 3}: no rows, dweight and dbias are 0.
  for (const Case& c :
       std::vector<Case>{{1, 1, 1}, {7, 3, 17}, {33, 64, 10}, {128, 129, 1}, {3, 0, 5}, {0, 4, 3}, {257, 31, 65}}) {
    const std::string what = cat("linear rows ", c.rows, " in ", c.in, " out ", c.out);
    const testing::Tolerance tol = sum_tolerance(std::max({c.rows, c.in, c.out}));
    const Fn with_bias = [](const std::vector<Tensor>& t) { return ops::linear(t[0], t[1], t[2]); };
    const Fn no_bias = [](const std::vector<Tensor>& t) { return ops::linear(t[0], t[1]); };
    expect_gpu_matches_cpu(with_bias,
                           {leaf({c.rows, c.in}, gen, true), leaf({c.out, c.in}, gen, true), leaf({c.out}, gen, true)},
                           gen, tol, what + " with bias");
    expect_gpu_matches_cpu(no_bias, {leaf({c.rows, c.in}, gen, true), leaf({c.out, c.in}, gen, true)}, gen, tol,
                           what + " without bias");
    // The frozen-input and frozen-weight paths (null x or null weight in the backward kernel).
    expect_gpu_matches_cpu(
        with_bias, {leaf({c.rows, c.in}, gen, false), leaf({c.out, c.in}, gen, true), leaf({c.out}, gen, false)}, gen,
        tol, what + " (dweight only)");
    expect_gpu_matches_cpu(with_bias,
                           {leaf({c.rows, c.in}, gen, true), leaf({c.out, c.in}, gen, false), leaf({c.out}, gen, true)},
                           gen, tol, what + " (dx and dbias)");
  }
}

// Operands that are views at an odd element offset (4-byte aligned only): cuBLAS gets pointers that
// its vectorised kernels cannot assume aligned.
TEST(CudaGemm, MisalignedViewsMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 full;
  Generator gen(35);
  const std::int64_t rows = 13, in = 31, out = 9;  // in odd: row 1 starts 124 bytes in
  const Tensor xb = randn({rows + 1, in}, gen), wb = randn({out + 1, in}, gen), bb = randn({out + 1}, gen);
  const Tensor xg = xb.to(kGpu), wg = wb.to(kGpu), bg = bb.to(kGpu);
  const Tensor y = ops::linear(xb.slice(1, rows + 1), wb.slice(1, out + 1), bb.slice(1, out + 1));
  const Tensor yd = ops::linear(xg.slice(1, rows + 1), wg.slice(1, out + 1), bg.slice(1, out + 1));
  EXPECT_TRUE(testing::all_close(yd, y, sum_tolerance(in))) << "linear on views";
  const Tensor ab = randn({3, 5, 7}, gen), bm = randn({3, 7, 11}, gen);  // slice 1 of 3: 35 floats in
  const Tensor c = ops::matmul(ab.slice(1, 3), bm.slice(1, 3));
  const Tensor cd = ops::matmul(ab.to(kGpu).slice(1, 3), bm.to(kGpu).slice(1, 3));
  EXPECT_TRUE(testing::all_close(cd, c, sum_tolerance(7))) << "matmul on views";
}

TEST(CudaGemm, DoublePrecisionWorks) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator gen(33);
  const testing::Tolerance tol = testing::tolerance_for(DType::F64, 100.0);
  const Fn mm = [](const std::vector<Tensor>& t) { return ops::matmul(t[0], t[1]); };
  expect_gpu_matches_cpu(mm, {leaf({3, 19, 23}, gen, true, DType::F64), leaf({3, 23, 5}, gen, true, DType::F64)}, gen,
                         tol, "f64 batched matmul");
  const Fn lin = [](const std::vector<Tensor>& t) { return ops::linear(t[0], t[1], t[2]); };
  expect_gpu_matches_cpu(
      lin,
      {leaf({9, 31}, gen, true, DType::F64), leaf({11, 31}, gen, true, DType::F64), leaf({11}, gen, true, DType::F64)},
      gen, tol, "f64 linear");
}

TEST(CudaGemm, Tf32StaysCloseAndTheSwitchIsReadPerCall) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  FullF32 restore;               // puts the switch back however the test ends
  Generator gen(34);
  const Tensor a = randn({96, 200}, gen), b = randn({200, 80}, gen);
  const Tensor expected = ops::matmul(a, b);
  const Tensor ad = a.to(kGpu), bd = b.to(kGpu);
  kernels::cuda::set_tf32(false);
  const Tensor full = ops::matmul(ad, bd);
  kernels::cuda::set_tf32(true);
  const Tensor tf32 = ops::matmul(ad, bd);
  kernels::cuda::set_tf32(false);
  const Tensor full_again = ops::matmul(ad, bd);
  // TF32 rounds the products' operands to 10 mantissa bits: about 1e-3 relative per term.
  EXPECT_TRUE(testing::all_close(tf32, expected, testing::tolerance_for(DType::F32, 1e4)));
  EXPECT_TRUE(testing::all_close(full, expected, sum_tolerance(200)));
  // The switch is read at each call: back off, the full-f32 bits again (cuBLAS is deterministic on
  // one stream with a fixed workspace); on, different bits (unless the driver forces TF32 off).
  EXPECT_EQ(full_again.to_vector<float>(), full.to_vector<float>());
  const char* override_env = std::getenv("NVIDIA_TF32_OVERRIDE");
  if (!(override_env && std::strcmp(override_env, "0") == 0)) {
    EXPECT_NE(tf32.to_vector<float>(), full.to_vector<float>()) << "TF32 on gave the full-f32 result bit for bit";
  }
}

}  // namespace
}  // namespace kdcu
