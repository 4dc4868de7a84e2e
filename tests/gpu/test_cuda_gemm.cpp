// cuBLAS matmul / linear against the CPU reference through the ops: values and every gradient, on
// fresh random inputs of awkward sizes (1s, odd extents, k = 0), outputs poisoned first (every new
// storage is NaN), TF32 off so that both sides are full f32 (or f64). One tolerance formula
// (tests/support/checks.h), scaled for the length of the sums.
#include <gtest/gtest.h>

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
                                         {0, 5, 0, 4},
                                         {2, 3, 4, 5},
                                         {5, 17, 1, 9},
                                         {3, 1, 1, 1},
                                         {7, 33, 65, 2}}) {
    const Shape sa = c.batch ? Shape{c.batch, c.m, c.k} : Shape{c.m, c.k};
    const Shape sb = c.batch ? Shape{c.batch, c.k, c.n} : Shape{c.k, c.n};
    const std::string what = cat("matmul ", shape_str(sa), " x ", shape_str(sb));
    const Fn f = [](const std::vector<Tensor>& t) { return ops::matmul(t[0], t[1]); };
    const testing::Tolerance tol = testing::tolerance_for(DType::F32, 20.0);
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
  for (const Case& c :
       std::vector<Case>{{1, 1, 1}, {7, 3, 17}, {33, 64, 10}, {128, 129, 1}, {3, 0, 5}, {257, 31, 65}}) {
    const std::string what = cat("linear rows ", c.rows, " in ", c.in, " out ", c.out);
    const testing::Tolerance tol = testing::tolerance_for(DType::F32, 20.0);
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
  const bool before = kernels::cuda::tf32_enabled();
  Generator gen(34);
  const Tensor a = randn({96, 200}, gen), b = randn({200, 80}, gen);
  const Tensor expected = ops::matmul(a, b);
  kernels::cuda::set_tf32(true);
  const Tensor tf32 = ops::matmul(a.to(kGpu), b.to(kGpu));
  kernels::cuda::set_tf32(false);
  const Tensor full = ops::matmul(a.to(kGpu), b.to(kGpu));
  kernels::cuda::set_tf32(before);
  // TF32 rounds the products' operands to 10 mantissa bits: about 1e-3 relative per term.
  EXPECT_TRUE(testing::all_close(tf32, expected, testing::tolerance_for(DType::F32, 1e4)));
  EXPECT_TRUE(testing::all_close(full, expected, testing::tolerance_for(DType::F32, 20.0)));
}

}  // namespace
}  // namespace kdcu
