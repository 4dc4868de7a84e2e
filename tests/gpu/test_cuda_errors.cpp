// CUDA errors that kdcu reports and a caller handles leave the device usable: an allocation too
// large for the device throws CudaError, and the next healthy launch, whose launch check reads
// cudaGetLastError, does not find that error again.
#include <gtest/gtest.h>

#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/factories.h"
#include "ops/elementwise.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

TEST(CudaErrors, AHandledOutOfMemoryDoesNotFailTheNextLaunch) {
  KDCU_REQUIRE_GPU();
  const long long live = cuda::live_bytes();
  // 2^42 floats = 16 TiB: more than any device has.
  EXPECT_THROW((void)zeros({std::int64_t{1} << 42}, DType::F32, kGpu), CudaError);
  EXPECT_EQ(cuda::live_bytes(), live) << "the failed allocation is not counted";
  const Tensor a = full({5}, 2.0, DType::F32, kGpu);
  Tensor b;
  ASSERT_NO_THROW(b = ops::add(a, a)) << "the handled error came back at the next launch";
  EXPECT_EQ(b.to(Device::cpu()).to_vector<float>(), (std::vector<float>{4, 4, 4, 4, 4}));
  EXPECT_NO_THROW(cuda::synchronize(0));
}

}  // namespace
}  // namespace kdcu
