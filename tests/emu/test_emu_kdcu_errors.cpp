// kdcu's handling of CUDA failures, driven by failures the emulator injects (failures a real GPU
// gives rarely and never on request): a failed poisoning memset or a failed cuBLAS setup leaks
// nothing, and a failed free is reported at the next synchronize() without poisoning a launch.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "core/factories.h"
#include "core/storage.h"
#include "emu/runtime_state.h"
#include "kernels/cuda/handles.h"
#include "ops/elementwise.h"
#include "tests/emu/emu_test_util.h"

namespace kdcu {
namespace {

const Device kGpu = Device::cuda();

// Restores allocation poisoning as it was.
struct PoisonGuard {
  bool before = poison_allocations();
  explicit PoisonGuard(bool on) { set_poison_allocations(on); }
  ~PoisonGuard() { set_poison_allocations(before); }
};

void expect_device_works() {
  const Tensor a = full({3}, 1.5, DType::F32, kGpu);
  Tensor b;
  ASSERT_NO_THROW(b = ops::add(a, a));
  EXPECT_EQ(b.to(Device::cpu()).to_vector<float>(), (std::vector<float>{3, 3, 3}));
}

TEST(EmuKdcuErrors, AFailedPoisoningMemsetLeaksNoDeviceMemory) {
  const PoisonGuard poison(true);
  expect_device_works();  // the stream and pool exist before the counts are taken
  const long long live = cuda::live_bytes();
  emu::inject_failure("cudaMemset", cudaErrorInvalidValue);
  EXPECT_THROW((void)zeros({1000}, DType::F32, kGpu), CudaError);
  EXPECT_EQ(cuda::live_bytes(), live) << "the allocation of the half-built storage leaked";
  expect_device_works();
}

TEST(EmuKdcuErrors, AFailedFreeIsReportedAtTheNextSynchronize) {
  expect_device_works();
  {
    const Tensor t = zeros({64}, DType::F32, kGpu);
    emu::inject_failure("cudaFree", cudaErrorInvalidValue);
  }  // freed here; the free fails
  expect_device_works();  // the failure does not come back at a launch
  try {
    cuda::synchronize(0);
    ADD_FAILURE() << "synchronize did not report the failed free";
  } catch (const CudaError& e) {
    EXPECT_CONTAINS(e.what(), "an earlier device free failed: cudaFreeAsync of 256 bytes on cuda:0");
    EXPECT_CONTAINS(e.what(), "cudaErrorInvalidValue");
  }
  EXPECT_NO_THROW(cuda::synchronize(0)) << "reported once";
}

TEST(EmuKdcuErrors, AFailedCublasSetupLeaksNeitherHandleNorWorkspaceAndIsRetried) {
  expect_device_works();
  const size_t handles = emu::cublas_live_handles();
  const long long live = cuda::live_bytes();
  // The cuBLAS handle is made once per process, at the first matrix product: this must be it.
  emu::inject_failure("cudaMalloc", cudaErrorMemoryAllocation);  // the workspace
  try {
    (void)kernels::cuda::cublas_handle(0);
  } catch (const CudaError& e) {
    EXPECT_CONTAINS(e.what(), "cudaErrorMemoryAllocation");
    EXPECT_EQ(emu::cublas_live_handles(), handles) << "the handle made before the failure leaked";
    EXPECT_EQ(cuda::live_bytes(), live);
    EXPECT_NE(kernels::cuda::cublas_handle(0), nullptr) << "the next call sets up again";
    EXPECT_EQ(emu::cublas_live_handles(), handles + 1);
    return;
  }
  GTEST_SKIP() << "kdcu's cuBLAS handle already existed in this process (run this test alone: ctest does)";
}

}  // namespace
}  // namespace kdcu
