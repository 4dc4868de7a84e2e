// Every fault the emulator reports, each from a kernel that commits it: warp operations whose mask
// names a lane that never arrives, reads of lanes outside the mask or exited, a lane outside its
// own mask, bad widths, divergent and half-exited __syncthreads, a spin that cannot end; the launch
// configuration checks; and the stickiness of a fault.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "tests/emu/emu_test_util.h"

namespace kdcu {
namespace {

using testing::DeviceVector;
using testing::try_launch;

// The lines of the two call sites below, for the report.
constexpr int kFirstSite = __LINE__ + 6;
constexpr int kSecondSite = kFirstSite + 2;

__global__ void shfl_at_two_sites_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane < 16)
    out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);  // kFirstSite
  else
    out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);  // kSecondSite
}

TEST(EmuFault, LanesOfOneMaskAtDifferentShufflesDeadlock) {
  DeviceVector<int> out(32);
  const auto r = try_launch(shfl_at_two_sites_kernel, 1, 32, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "deadlock");
  EXPECT_CONTAINS(r.fault, "kernel 'test kernel'");
  EXPECT_CONTAINS(r.fault, std::string("threads 0-15 wait at __shfl_xor_sync with mask 0xffffffff (" __FILE__ ":") +
                                std::to_string(kFirstSite) + ")");
  EXPECT_CONTAINS(r.fault, std::string("threads 16-31 wait at __shfl_xor_sync with mask 0xffffffff (" __FILE__ ":") +
                                std::to_string(kSecondSite) + ")");
}

__global__ void shfl_against_barrier_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane < 8) {
    out[lane] = __shfl_down_sync(0xffffffffu, lane, 1);
  } else {
    __syncthreads();
  }
}

TEST(EmuFault, AShuffleWaitingForALaneAtABarrierDeadlocks) {
  DeviceVector<int> out(32);
  const auto r = try_launch(shfl_against_barrier_kernel, 1, 32, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "deadlock");
  EXPECT_CONTAINS(r.fault, "threads 0-7 wait at __shfl_down_sync");
  EXPECT_CONTAINS(r.fault, "threads 8-31 wait at __syncthreads");
}

__global__ void shfl_outside_mask_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  out[lane] = __shfl_xor_sync(mask, lane, 16);  // reads the other half, outside the mask
}

TEST(EmuFault, AShuffleReadingALaneOutsideTheMask) {
  DeviceVector<int> out(32);
  const auto r = try_launch(shfl_outside_mask_kernel, 1, 32, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "lane 0 of __shfl_xor_sync");
  EXPECT_CONTAINS(r.fault, "reads lane 16, outside the mask 0xffff");
}

__global__ void shfl_from_exited_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane >= 16) return;
  out[lane] = __shfl_xor_sync(0xffffffffu, lane, 16);
}

TEST(EmuFault, AShuffleReadingAnExitedLane) {
  DeviceVector<int> out(32);
  const auto r = try_launch(shfl_from_exited_kernel, 1, 32, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "reads lane 16, which has exited");
  EXPECT_CONTAINS(r.fault, "threads 16-31 have exited");
}

__global__ void exited_lanes_not_read_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane >= 16) return;
  out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);  // PTX waits for the lanes that have not exited
}

TEST(EmuFault, ExitedLanesOfTheMaskAreNotWaitedFor) {
  DeviceVector<int> out(32, -1);
  const auto r = try_launch(exited_lanes_not_read_kernel, 1, 32, out.get());
  ASSERT_EQ(r.error, cudaSuccess) << r.fault;
  const std::vector<int> got = out.host();
  for (int l = 0; l < 16; ++l) EXPECT_EQ(got[static_cast<size_t>(l)], l ^ 1);
}

__global__ void own_lane_outside_mask_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  out[lane] = __shfl_sync(0xfffffffeu, lane, 0);
}

TEST(EmuFault, ALaneOutsideItsOwnMask) {
  DeviceVector<int> out(32);
  const auto r = try_launch(own_lane_outside_mask_kernel, 1, 32, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "lane 0 executes __shfl_sync");
  EXPECT_CONTAINS(r.fault, "which leaves the lane itself out");
}

__global__ void bad_width_kernel(int* out, int width) {
  const int lane = static_cast<int>(threadIdx.x);
  out[lane] = __shfl_down_sync(0xffffffffu, lane, 1, width);
}

TEST(EmuFault, AWidthThatIsNotAPowerOfTwo) {
  DeviceVector<int> out(32);
  for (int width : {6, 0, 64}) {
    const auto r = try_launch(bad_width_kernel, 1, 32, out.get(), width);
    EXPECT_EQ(r.error, cudaErrorLaunchFailure) << width;
    EXPECT_CONTAINS(r.fault, "with width " + std::to_string(width) + ": the width must be a power of two");
  }
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 64) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

TEST(EmuFault, SyncthreadsAtTwoSites) {
  DeviceVector<int> out(128);
  const auto r = try_launch(divergent_barrier_kernel, 2, 128, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "__syncthreads divergence: threads wait at different barriers");
  EXPECT_CONTAINS(r.fault, "threads 0-63 wait at __syncthreads (" __FILE__);
  EXPECT_CONTAINS(r.fault, "threads 64-127 wait at __syncthreads (" __FILE__);
}

__global__ void exit_before_barrier_kernel(int* out) {
  if (threadIdx.x >= 96) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(EmuFault, SyncthreadsAfterSomeThreadsExited) {
  DeviceVector<int> out(128);
  const auto r = try_launch(exit_before_barrier_kernel, 3, 128, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "block (0,0,0): __syncthreads divergence: some threads have exited");
  EXPECT_CONTAINS(r.fault, "threads 96-127 have exited");
}

__global__ void lock_never_released_kernel(int* lock, int* out) {
  if (threadIdx.x == 0) atomicExch(lock, 1);  // taken, never given back
  __syncthreads();
  while (atomicCAS(lock, 0, 1) != 0) {
  }
  out[threadIdx.x] = 1;
}

TEST(EmuFault, ASpinThatNoThreadCanEnd) {
  DeviceVector<int> lock(1, 0), out(32);
  const auto r = try_launch(lock_never_released_kernel, 1, 32, lock.get(), out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchFailure);
  EXPECT_CONTAINS(r.fault, "threads retry an atomic that no thread of this block can release");
  EXPECT_CONTAINS(r.fault, "threads 0-31 are still running (retrying an atomic)");
}

__global__ void lock_taken_in_turn_kernel(int* lock, int* counter) {
  while (atomicCAS(lock, 0, 1) != 0) {
  }
  *counter += 1;  // inside the lock
  atomicExch(lock, 0);
}

TEST(EmuFault, ASpinLockHandedOnIsNoFault) {
  DeviceVector<int> lock(1, 0), counter(1, 0);
  const auto r = try_launch(lock_taken_in_turn_kernel, 4, 64, lock.get(), counter.get());
  ASSERT_EQ(r.error, cudaSuccess) << r.fault;
  EXPECT_EQ(counter.host()[0], 256);
}

// ------------------------------------------------------------------ launch configuration

__global__ void plain_kernel(int* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}
__global__ void __launch_bounds__(256) bounded_kernel(int* out) {
  out[threadIdx.x] = 1;
}
__global__ void __launch_bounds__(1024) wide_kernel(int* out) {
  out[threadIdx.x] = 1;
}

TEST(EmuLaunch, ConfigurationLimitsAreLaunchErrors) {
  DeviceVector<int> out(2048);
  struct Case {
    dim3 grid, block;
    cudaError_t error;
    const char* text;
  };
  const Case cases[] = {
      {1, 1025, cudaErrorInvalidConfiguration, "a block holds at most 1024 threads"},
      {1, dim3(1, 1, 65), cudaErrorInvalidConfiguration, "z <= 64"},
      {dim3(1, 65536), 32, cudaErrorInvalidConfiguration, "the grid is limited to"},
      {dim3(1, 1, 65536), 32, cudaErrorInvalidConfiguration, "the grid is limited to"},
      {0, 32, cudaErrorInvalidConfiguration, "an extent is 0"},
      {1, 0, cudaErrorInvalidConfiguration, "an extent is 0"},
      {1, 512, cudaErrorLaunchOutOfResources, "512 threads need __launch_bounds__(512)"},
  };
  for (const Case& c : cases) {
    const auto r = try_launch(plain_kernel, c.grid, c.block, out.get());
    EXPECT_EQ(r.error, c.error) << c.text;
    EXPECT_CONTAINS(r.detail, c.text);
    EXPECT_EQ(r.fault, "") << "a configuration error is not a fault";
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "the launch error was read and cleared";
  }
}

TEST(EmuLaunch, LaunchBoundsAreRead) {
  DeviceVector<int> out(1024);
  auto r = try_launch(bounded_kernel, 1, 512, out.get());
  EXPECT_EQ(r.error, cudaErrorLaunchOutOfResources);
  EXPECT_CONTAINS(r.detail, "compiled for at most 256 threads (__launch_bounds__)");
  EXPECT_EQ(try_launch(bounded_kernel, 1, 256, out.get()).error, cudaSuccess);
  EXPECT_EQ(try_launch(wide_kernel, 1, 1024, out.get()).error, cudaSuccess);
  EXPECT_EQ(try_launch(plain_kernel, 4, 256, out.get()).error, cudaSuccess);
}

TEST(EmuLaunch, DynamicSharedMemoryIsRefused) {
  DeviceVector<int> out(32);
  emu::launch("test kernel", plain_kernel, 1, 32, 1024, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  emu::launch("test kernel", plain_kernel, 1, 32, 64 << 10, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_CONTAINS(emu::error_detail(), "at most 48 KiB");
}

// ------------------------------------------------------------------ a fault is sticky

TEST(EmuFault, AFaultIsStickyUntilTaken) {
  DeviceVector<int> out(32);
  emu::launch("faulty", own_lane_outside_mask_kernel, 1, 32, 0, nullptr, out.get());
  EXPECT_TRUE(emu::has_fault());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure) << "not cleared by reading it";
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 64), cudaErrorLaunchFailure);
  emu::launch("healthy", plain_kernel, 1, 32, 0, nullptr, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure) << "nothing runs after a fault";
  // kdcu's checked call names the launch and carries the report.
  try {
    cuda::check(static_cast<int>(cudaGetLastError()), "faulty", "here.cpp", 1);
    ADD_FAILURE() << "check did not throw";
  } catch (const CudaError& e) {
    EXPECT_CONTAINS(std::string(e.what()), "cudaErrorLaunchFailure");
    EXPECT_CONTAINS(std::string(e.what()), "kernel 'faulty'");
  }
  EXPECT_CONTAINS(emu::take_fault(), "which leaves the lane itself out");
  EXPECT_FALSE(emu::has_fault());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&p, 64), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

}  // namespace
}  // namespace kdcu
