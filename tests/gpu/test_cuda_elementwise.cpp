// CUDA elementwise kernels against the CPU reference on fresh random inputs of awkward sizes,
// outputs poisoned first so an unwritten element fails.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

TEST(CudaElementwise, BinaryBroadcastMatchesCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(21);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1}, {1}},           {{31}, {31}},       {{1025}, {1}}, {{33, 100}, {100}}, {{7, 3, 5, 5}, {1, 3, 1, 1}},
      {{3, 1}, {1, 32000}}, {{2, 1, 3}, {5, 1}}};
  for (const auto& [sa, sb] : cases) {
    const Tensor a = randn(sa, g), b = rand(sb, g, DType::F32, Device::cpu(), 0.5, 2.0);
    const Tensor da = a.to(kGpu), db = b.to(kGpu);
    EXPECT_TRUE(testing::all_close(da + db, a + b)) << shape_str(sa) << " + " << shape_str(sb);
    EXPECT_TRUE(testing::all_close(da - db, a - b)) << shape_str(sa) << " - " << shape_str(sb);
    EXPECT_TRUE(testing::all_close(da * db, a * b)) << shape_str(sa) << " * " << shape_str(sb);
    EXPECT_TRUE(testing::all_close(da / db, a / b)) << shape_str(sa) << " / " << shape_str(sb);
  }
}

TEST(CudaElementwise, UnaryForwardAndBackwardMatchCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(22);
  for (std::int64_t n : {1, 2, 31, 33, 1000, 1025, 100001}) {
    Tensor x = rand({n}, g, DType::F32, Device::cpu(), 0.1, 3.0);
    Tensor xd = x.to(kGpu).detach();
    x.requires_grad_();
    xd.requires_grad_();
    const auto f = [](const Tensor& t) {
      return ops::exp(ops::tanh(t)) + ops::log(t) * ops::sqrt(t) + ops::relu(t - 1.0) + ops::sigmoid(-t) +
             ops::pow(t, 1.5);
    };
    const Tensor y = f(x), yd = f(xd);
    EXPECT_TRUE(testing::all_close(yd, y, testing::tolerance_for(DType::F32, 4.0))) << n;
    Tensor seed = randn({n}, g);
    Tensor seed_d = empty({n}, DType::F32, kGpu);
    testing::poison(seed_d);
    copy_into(seed_d, seed);
    y.backward(seed);
    yd.backward(seed_d);
    EXPECT_TRUE(testing::all_close(xd.grad(), x.grad(), testing::tolerance_for(DType::F32, 4.0))) << n;
  }
}

TEST(CudaElementwise, BroadcastBackwardSumsLikeTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(23);
  Tensor x = randn({9, 33, 5}, g), b = randn({33, 1}, g);
  Tensor xd = x.to(kGpu).detach(), bd = b.to(kGpu).detach();
  for (Tensor* t : {&x, &b, &xd, &bd}) t->requires_grad_();
  (x * b).backward(ones({9, 33, 5}));
  (xd * bd).backward(ones({9, 33, 5}, DType::F32, kGpu));
  EXPECT_TRUE(testing::all_close(bd.grad(), b.grad(), testing::tolerance_for(DType::F32, 4.0)));
  EXPECT_TRUE(testing::all_close(xd.grad(), x.grad()));
}

// A gradient summed down to one element: the multi-block ordered sum, over one block's worth
// (2 000 elements) and over many blocks (300 x 257 = 77 100, past the one-block limit).
TEST(CudaElementwise, BroadcastBackwardToOneElementSumsLikeTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);
  Generator g(29);
  for (const Shape& shape : {Shape{40, 50}, Shape{300, 257}}) {
    Tensor x = randn(shape, g), s = randn({1, 1}, g), up = randn(shape, g);
    Tensor xd = x.to(kGpu).detach(), sd = s.to(kGpu).detach();
    for (Tensor* t : {&s, &sd}) t->requires_grad_();
    (x * s).backward(up);
    (xd * sd).backward(up.to(kGpu));
    const double terms = static_cast<double>(shape[0] * shape[1]);
    EXPECT_TRUE(testing::all_close(sd.grad(), s.grad(), testing::tolerance_for(DType::F32, 4.0 * std::sqrt(terms))))
        << shape[0] << " x " << shape[1];
  }
}

}  // namespace
}  // namespace kdcu
