// CUDA reductions against the CPU reference on fresh random inputs: sum / mean over everything
// (one-block and two-pass sizes, f32 and f64), over a dim on every kernel path (sub-warp, warp and
// block rows, thread-per-column, strided teams), max and argmax with ties and NaNs (exact), and
// the backward of each. Every device allocation starts as NaN, so an unwritten element fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/reduce.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

Tensor leaf_on(const Tensor& host, const Device& device) {
  Tensor t = host.detach().to(device);
  t.requires_grad_();
  return t;
}

// f on both devices, then backward with the same random upstream gradient; values within tol.
template <class F>
void expect_same(const Tensor& x, const F& f, Generator& g, testing::Tolerance tol, const std::string& what) {
  const Tensor xc = leaf_on(x, Device::cpu()), xd = leaf_on(x, kGpu);
  const Tensor yc = f(xc), yd = f(xd);
  EXPECT_TRUE(testing::all_close(yd, yc, tol)) << what << " forward";
  const Tensor seed = randn(yc.shape(), g, x.dtype());
  yc.backward(seed);
  yd.backward(seed.to(kGpu));
  EXPECT_TRUE(testing::all_close(xd.grad(), xc.grad(), tol)) << what << " backward";
}

TEST(CudaReduce, SumAndMeanOfEverythingMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(51);
  for (DType dt : {DType::F32, DType::F64}) {
    for (std::int64_t n : {1, 31, 1025, 32768, 32769, 1000003}) {
      const Tensor x = randn({n}, g, dt, Device::cpu(), 0.5, 2.0);
      const std::string what = std::string(dtype_name(dt)) + " n " + std::to_string(n);
      // Both accumulate in double; only the summation order differs.
      expect_same(
          x, [](const Tensor& t) { return ops::sum(t); }, g, testing::tolerance_for(dt), "sum " + what);
      expect_same(
          x, [](const Tensor& t) { return ops::mean(t); }, g, testing::tolerance_for(dt), "mean " + what);
    }
  }
  // The sum of nothing is 0 on both devices.
  EXPECT_EQ(ops::sum(zeros({0}, DType::F32, kGpu)).item<float>(), 0.0f);
}

TEST(CudaReduce, SumAndMeanOverADimMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(52);
  struct Case {
    Shape shape;
    std::int64_t dim;
  };
  // Contiguous rows of 1..5000 (sub-warp, warp, block); inner > 1 with many outputs or short
  // rows (a thread per output) and with few long rows (a team per output); a 0-d tensor.
  const std::vector<Case> cases = {{{7, 1}, 1},       {{129, 8}, 1},     {{3, 16}, -1},   {{33, 31}, 1},
                                   {{7, 1025}, 1},    {{3, 5000}, 1},    {{1, 32000}, 1}, {{129, 10}, 0},
                                   {{3, 100, 33}, 1}, {{2, 5000, 3}, 1}, {{5, 70, 2}, 1}, {{4, 3, 2, 9}, 2},
                                   {{1025, 7}, 0},    {{2, 3, 4097}, 0}, {{}, 0}};
  for (DType dt : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      const Tensor x = randn(c.shape, g, dt);
      for (bool keepdim : {false, true}) {
        const std::string what = std::string(dtype_name(dt)) + " " + shape_str(c.shape) + " dim " +
                                 std::to_string(c.dim) + (keepdim ? " keepdim" : "");
        expect_same(
            x, [&](const Tensor& t) { return ops::sum(t, c.dim, keepdim); }, g, testing::tolerance_for(dt),
            "sum " + what);
        expect_same(
            x, [&](const Tensor& t) { return ops::mean(t, c.dim, keepdim); }, g, testing::tolerance_for(dt),
            "mean " + what);
      }
    }
  }
}

TEST(CudaReduce, MaxAndArgmaxMatchCpuExactlyWithTiesAndNans) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(53);
  const std::vector<std::pair<Shape, std::int64_t>> cases = {
      {{7, 1}, 1},    {{129, 5}, 1},     {{3, 16}, 1},      {{33, 40}, 1},   {{7, 1025}, 1}, {{3, 5000}, 1},
      {{129, 10}, 0}, {{3, 100, 33}, 1}, {{2, 5000, 3}, 1}, {{5, 70, 2}, 1}, {{1025, 7}, 0}, {{}, 0}};
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [shape, dim] : cases) {
      // Values in {0, 1, 2, 3} give many ties; about 1 % NaNs.
      std::vector<double> v;
      const std::vector<double> u = rand(shape, g, DType::F64).to_vector<double>();
      for (double x : u) v.push_back(x < 0.01 ? NAN : std::floor(x * 4.0));
      const Tensor x = from_vector<double>(v, shape).to(dt);
      const std::string what = std::string(dtype_name(dt)) + " " + shape_str(shape) + " dim " + std::to_string(dim);
      const Tensor xc = leaf_on(x, Device::cpu()), xd = leaf_on(x, kGpu);
      const Tensor mc = ops::max(xc, dim), md = ops::max(xd, dim);
      const std::vector<double> mcv = mc.to_vector<double>(), mdv = md.to_vector<double>();
      ASSERT_EQ(mcv.size(), mdv.size()) << what;
      for (size_t i = 0; i < mcv.size(); ++i)
        EXPECT_TRUE(mcv[i] == mdv[i] || (std::isnan(mcv[i]) && std::isnan(mdv[i]))) << what << " max at " << i;
      EXPECT_EQ(ops::argmax(xd, dim).to_vector<std::int64_t>(), ops::argmax(xc, dim).to_vector<std::int64_t>())
          << what << " argmax";
      EXPECT_EQ(ops::argmax(xd, dim, true).shape(), ops::argmax(xc, dim, true).shape()) << what;
      const Tensor seed = randn(mc.shape(), g, dt);
      mc.backward(seed);
      md.backward(seed.to(kGpu));
      EXPECT_EQ(xd.grad().to_vector<double>(), xc.grad().to_vector<double>()) << what << " backward";
    }
  }
}

}  // namespace
}  // namespace kdcu
