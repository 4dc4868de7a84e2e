// Helpers of the emulator's own tests: device buffers through the emulated runtime, and a launch
// that returns the CUDA error (and the fault report, taken so the next test starts clean) instead
// of throwing.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "emu/fault.h"
#include "emu/runtime_state.h"
#include "emu/scheduler.h"

// Expects `text` to contain `part`.
#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "expected to find: " << (part) << "\nin: " << (text)

namespace kdcu {
namespace testing {

template <class T>
class DeviceVector {
 public:
  explicit DeviceVector(size_t n, T fill = T()) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)), cudaSuccess);
    std::vector<T> host(n, fill);
    EXPECT_EQ(cudaMemcpy(p_, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* get() const { return p_; }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    EXPECT_EQ(cudaMemcpy(out.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

 private:
  size_t n_;
  T* p_ = nullptr;
};

// The outcome of one launch: the error cudaGetLastError gave after it, and the fault report (if
// the kernel faulted; the fault is cleared).
struct LaunchResult {
  cudaError_t error = cudaSuccess;
  std::string detail;  // the emulator's explanation of the error
  std::string fault;   // the fault report, "" when none
};

template <class... KernelArgs, class... Args>
LaunchResult try_launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, Args&&... args) {
  emu::launch("test kernel", kernel, grid, block, 0, nullptr, std::forward<Args>(args)...);
  LaunchResult r;
  r.error = cudaGetLastError();
  r.detail = emu::error_detail();
  if (emu::has_fault()) r.fault = emu::take_fault();
  return r;
}

// Sets the schedule for the life of the guard, then restores the previous one.
class ScheduleGuard {
 public:
  explicit ScheduleGuard(emu::Order o, std::uint64_t seed = 1) : saved_(emu::schedule()) {
    emu::set_schedule(emu::Schedule{o, seed});
  }
  ~ScheduleGuard() { emu::set_schedule(saved_); }

 private:
  emu::Schedule saved_;
};

}  // namespace testing
}  // namespace kdcu
