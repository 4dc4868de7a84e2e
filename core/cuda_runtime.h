// The CUDA runtime as the rest of kdcu sees it, with no CUDA header in sight: availability,
// device memory from a stream-ordered pool, copies, and one stream per device.
// In a build without CUDA every function exists; `available()` is false with the reason
// "kdcu was built without CUDA" and the others throw DeviceError with that reason.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/device.h"

namespace kdcu {
namespace cuda {

// Probed once per process; never throws. `reason` says why not when `available` is false.
struct Availability {
  bool available = false;
  int device_count = 0;
  std::string reason;
  std::vector<std::string> names;  // each device's name (cudaDeviceProp::name)
};
const Availability& availability();
inline bool available() {
  return availability().available;
}

// Throws DeviceError "CUDA unavailable: <reason>" unless `device` is a usable CUDA device.
void require_device(const Device& device);

// Device memory from the device's stream-ordered pool (cudaMallocAsync on the device's stream,
// release threshold raised so freed blocks are reused instead of returned to the driver).
void* allocate(size_t bytes, int device);
void deallocate(void* ptr, size_t bytes, int device) noexcept;

// Copies ordered on the device's stream. A copy to the host waits for the stream.
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device);
void memset_bytes(void* dst, int byte, size_t bytes, int device);
// Waits for the device's stream. Also throws CudaError when a deallocate() since the last call
// failed (a destructor cannot throw, so the failure waits here; it never poisons a launch).
void synchronize(int device);

// What the driver reports for `device` (cudaMemGetInfo): free and total bytes. The pool's cached
// blocks count as used.
struct MemoryInfo {
  long long free_bytes = 0, total_bytes = 0;
};
MemoryInfo memory_info(int device);

// Live device bytes handed out by allocate() and not yet returned (all devices).
long long live_bytes();
// Number of calls into the pool's allocator since start (to show the steady state allocates nothing new).
long long allocation_count();
// Number of kdcu's own kernel launches since start (every launch goes through cuda::launch; cuBLAS,
// cuDNN and memsets are not counted), so a test can see how many launches an op makes.
long long launch_count();
void note_launch();

// Throws CudaError "<call> failed at <file>:<line>: <name>: <description>" when `status` is not
// success (a cudaError_t passed as int). The error text is looked up from the CUDA runtime.
void check(int status, const char* call, const char* file, int line);

}  // namespace cuda

inline bool cuda_available() {
  return cuda::available();
}

}  // namespace kdcu
