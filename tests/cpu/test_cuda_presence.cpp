// What the library says about CUDA must be true on every machine, GPU or not: availability
// matches the evidence, failures name the call, file and line, and CUDA tensors without a GPU
// are a clear error rather than a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/factories.h"
#include "tests/support/cuda_skip.h"

namespace kdcu {
namespace {

bool file_exists(const char* path) {
  return std::ifstream(path).good();
}

TEST(CudaPresence, AvailabilityMatchesTheMachine) {
  const cuda::Availability& a = cuda::availability();
  if (!kWithCuda) {
    EXPECT_FALSE(a.available);
    EXPECT_NE(a.reason.find("built without CUDA"), std::string::npos) << a.reason;
    return;
  }
  const bool driver_present = file_exists("/proc/driver/nvidia/version") || file_exists("/dev/nvidiactl") ||
                              file_exists("/dev/nvidia0") || file_exists("/dev/dxg");
  if (!driver_present) {
    EXPECT_FALSE(a.available) << "no NVIDIA driver on this machine, yet CUDA reported available";
  }
  if (a.available) {
    EXPECT_GT(a.device_count, 0);
    EXPECT_TRUE(a.reason.empty());
  } else {
    EXPECT_EQ(a.device_count, 0);
    EXPECT_FALSE(a.reason.empty()) << "unavailable CUDA must say why";
    EXPECT_FALSE(testing::cuda_required()) << "KDCU_REQUIRE_CUDA=1 but CUDA unavailable: " << a.reason;
  }
  EXPECT_EQ(cuda_available(), a.available);
}

TEST(CudaPresence, FailedCallsNameCallFileAndLine) {
  try {
    cuda::check(2, "cudaMalloc(&p, bytes)", "kernels/cuda/example.cu", 42);
    FAIL() << "expected CudaError";
  } catch (const CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaMalloc(&p, bytes) failed at kernels/cuda/example.cu:42"), std::string::npos) << msg;
    if (kWithCuda) {
      EXPECT_NE(msg.find("cudaErrorMemoryAllocation"), std::string::npos) << msg;
    }
  }
  EXPECT_NO_THROW(cuda::check(0, "cudaDeviceSynchronize()", "x.cu", 1));
}

TEST(CudaPresence, CudaTensorsWithoutAGpuAreAClearError) {
  if (cuda::available()) GTEST_SKIP() << "this machine has a GPU; the GPU tests cover CUDA tensors here";
  for (const auto& make :
       {+[] { return zeros({4}, DType::F32, Device::cuda()); }, +[] { return ones({4}).to(Device::cuda()); }}) {
    try {
      make();
      FAIL() << "expected DeviceError";
    } catch (const DeviceError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("CUDA unavailable: ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace kdcu
