// CUDA tensors: pool allocation, host<->device copies, device selection, and the fill/cast/random
// kernels against the CPU (same Philox stream, so equal to rounding).
#include <gtest/gtest.h>

#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "tests/support/checks.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

TEST(CudaTensor, RoundTripThroughTheDevice) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  Generator g(1);
  for (std::int64_t n : {1, 31, 1025, 100003}) {
    const Tensor host = randn({n}, g, DType::F64);
    const Tensor dev = host.to(Device::cuda());
    EXPECT_TRUE(dev.device().is_cuda());
    EXPECT_EQ(dev.to(Device::cpu()).to_vector<double>(), host.to_vector<double>());
  }
}

TEST(CudaTensor, PoolMemoryIsReturned) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  const long long before = cuda::live_bytes();
  {
    const Tensor t = zeros({1 << 20}, DType::F32, Device::cuda());
    EXPECT_EQ(cuda::live_bytes() - before, 4 << 20);
  }
  EXPECT_EQ(cuda::live_bytes(), before);
}

TEST(CudaTensor, MissingDeviceIndexIsAClearError) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  const int count = cuda::availability().device_count;
  EXPECT_THROW(zeros({2}, DType::F32, Device::cuda(count)), DeviceError);
}

TEST(CudaTensor, FillCastAndArangeMatchTheCpu) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  for (std::int64_t n : {1, 33, 1000, 32001}) {
    const Tensor f = full({n}, -3.25, DType::F32, Device::cuda());
    EXPECT_TRUE(testing::all_close(f, full({n}, -3.25)));
    const Tensor a = arange(0.0, static_cast<double>(n), 1.0, DType::F64, Device::cuda());
    EXPECT_TRUE(testing::all_close(a, arange(0.0, static_cast<double>(n), 1.0, DType::F64)));
    Tensor cast = empty({n}, DType::I64, Device::cuda());
    testing::poison(cast);
    cast = a.to(DType::I64);
    EXPECT_EQ(cast.to_vector<std::int64_t>(), a.to(Device::cpu()).to(DType::I64).to_vector<std::int64_t>());
  }
}

TEST(CudaTensor, RandomDrawsEqualTheCpuDraws) {
  KDCU_REQUIRE_GPU();
  set_poison_allocations(true);  // outputs start as NaN: an unwritten element fails
  for (DType dt : {DType::F32, DType::F64}) {
    Generator gc(99), gg(99);
    const Tensor uc = rand({4099}, gc, dt), ug = rand({4099}, gg, dt, Device::cuda());
    const Tensor nc = randn({777}, gc, dt), ng = randn({777}, gg, dt, Device::cuda());
    // The same Philox words; only the device's transcendental functions may differ by rounding.
    EXPECT_TRUE(testing::all_close(ug, uc, testing::tolerance_for(dt)));
    EXPECT_TRUE(testing::all_close(ng, nc, testing::tolerance_for(dt, 10.0)));
    EXPECT_EQ(gc.offset(), gg.offset());
  }
}

}  // namespace
}  // namespace kdcu
