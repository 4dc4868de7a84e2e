// CUDA runtime glue: availability probe, per-device stream, stream-ordered memory pool, checked
// copies. Without CUDA in the build, the same functions report "kdcu was built without CUDA".
#include "core/cuda_runtime.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

#if KDCU_WITH_CUDA
#include <cstdint>

#include "core/cuda_check.h"
#endif
#if KDCU_CUDA_EMULATED
#include "emu/runtime_state.h"
#endif

namespace kdcu {
namespace cuda {
namespace {
std::atomic<long long> g_live_bytes{0};
std::atomic<long long> g_allocations{0};
std::atomic<long long> g_launches{0};
}  // namespace

long long launch_count() {
  return g_launches.load();
}
void note_launch() {
  g_launches.fetch_add(1, std::memory_order_relaxed);
}

long long live_bytes() {
  return g_live_bytes.load();
}
long long allocation_count() {
  return g_allocations.load();
}

void require_device(const Device& device) {
  require<DeviceError>(device.is_cuda(), "expected a CUDA device, found ", device.str());
  const Availability& a = availability();
  require<DeviceError>(a.available, "CUDA unavailable: ", a.reason);
  require<DeviceError>(device.index >= 0 && device.index < a.device_count, "CUDA device ", device.str(),
                       " does not exist: this machine has ", a.device_count, " CUDA device(s)");
}

#if KDCU_WITH_CUDA

void check(int status, const char* call, const char* file, int line) {
  if (status == static_cast<int>(cudaSuccess)) return;
  const auto err = static_cast<cudaError_t>(status);
  // The failed call also left `err` as this thread's last error. It is reported now, by the
  // exception; a caller that handles the exception (an out-of-memory it can live with) must not
  // find it again at the next healthy launch's cudaGetLastError. A sticky error (a device fault)
  // is not cleared by this and keeps failing every call, as it should.
  cudaGetLastError();
#if KDCU_CUDA_EMULATED
  // The emulator says which launch limit was broken, or gives the fault report (emu/README.md).
  const std::string detail = emu::error_detail();
#else
  const std::string detail;
#endif
  throw CudaError(cat(call, " failed at ", file, ":", line, ": ", cudaGetErrorName(err), ": ", cudaGetErrorString(err),
                      detail.empty() ? "" : "\n", detail));
}

const Availability& availability() {
  static const Availability probed = [] {
    Availability a;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      a.reason = cat(cudaGetErrorName(err), ": ", cudaGetErrorString(err));
      if (!std::ifstream("/proc/driver/nvidia/version").good())
        a.reason += " (no NVIDIA driver is loaded on this machine)";
      cudaGetLastError();  // the probe's failure must not poison later checks
    } else if (count == 0) {
      a.reason = "no CUDA device found";
    } else {
      a.available = true;
      a.device_count = count;
      for (int d = 0; d < count; ++d) {
        cudaDeviceProp prop{};
        a.names.push_back(cudaGetDeviceProperties(&prop, d) == cudaSuccess ? std::string(prop.name) : "?");
      }
      cudaGetLastError();
    }
    return a;
  }();
  return probed;
}

namespace {
struct DeviceState {
  std::once_flag once;
  cudaStream_t stream = nullptr;
};
DeviceState& state(int device) {
  static std::vector<DeviceState> states(static_cast<size_t>(std::max(availability().device_count, 1)));
  return states.at(static_cast<size_t>(device));
}
}  // namespace

void set_device(int device) {
  KDCU_CUDA_CHECK(cudaSetDevice(device));
}

cudaStream_t stream(int device) {
  require_device(Device::cuda(device));
  DeviceState& s = state(device);
  std::call_once(s.once, [&] {
    set_device(device);
    KDCU_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    // Keep freed blocks in the pool: a training step then reuses memory instead of asking the driver.
    cudaMemPool_t pool = nullptr;
    KDCU_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t threshold = UINT64_MAX;
    KDCU_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  });
  set_device(device);
  return s.stream;
}

void* allocate(size_t bytes, int device) {
  if (bytes == 0) return nullptr;
  cudaStream_t st = stream(device);
  void* ptr = nullptr;
  KDCU_CUDA_CHECK(cudaMallocAsync(&ptr, bytes, st));
  g_live_bytes += static_cast<long long>(bytes);
  ++g_allocations;
  return ptr;
}

namespace {
// The first cudaFreeAsync that failed, kept for the next synchronize() (a destructor cannot throw).
std::mutex g_free_error_mutex;
std::string g_free_error;
}  // namespace

void deallocate(void* ptr, size_t bytes, int device) noexcept {
  if (!ptr) return;
  g_live_bytes -= static_cast<long long>(bytes);
  try {
    const cudaError_t err = cudaFreeAsync(ptr, stream(device));
    if (err != cudaSuccess) {
      cudaGetLastError();  // handled here: the next launch's check must not see it
      std::lock_guard<std::mutex> lock(g_free_error_mutex);
      if (g_free_error.empty())
        g_free_error = cat("cudaFreeAsync of ", bytes, " bytes on cuda:", device, " failed: ", cudaGetErrorName(err),
                           ": ", cudaGetErrorString(err));
    }
  } catch (...) {
    // stream() throws only when the device is unusable (the runtime torn down at exit): nothing to free.
  }
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  KDCU_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream(device)));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  cudaStream_t st = stream(device);
  KDCU_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, st));
  KDCU_CUDA_CHECK(cudaStreamSynchronize(st));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  KDCU_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream(device)));
}

void memset_bytes(void* dst, int byte, size_t bytes, int device) {
  if (bytes == 0) return;
  KDCU_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, stream(device)));
}

void synchronize(int device) {
  KDCU_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
  std::string failed;
  {
    std::lock_guard<std::mutex> lock(g_free_error_mutex);
    failed.swap(g_free_error);
  }
  if (!failed.empty()) throw CudaError(cat("an earlier device free failed: ", failed));
}

MemoryInfo memory_info(int device) {
  require_device(Device::cuda(device));
  set_device(device);
  size_t free_bytes = 0, total_bytes = 0;
  KDCU_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return {static_cast<long long>(free_bytes), static_cast<long long>(total_bytes)};
}

#else  // !KDCU_WITH_CUDA

namespace {
[[noreturn]] void unavailable() {
  throw DeviceError("CUDA unavailable: " + availability().reason);
}
}  // namespace

void check(int status, const char* call, const char* file, int line) {
  if (status != 0) throw CudaError(cat(call, " failed at ", file, ":", line, ": CUDA error ", status));
}

const Availability& availability() {
  static const Availability a{false, 0, "kdcu was built without CUDA (configure with -DKDCU_CUDA=ON)"};
  return a;
}

void* allocate(size_t, int) {
  unavailable();
}
void deallocate(void*, size_t, int) noexcept {}
void copy_host_to_device(void*, const void*, size_t, int) {
  unavailable();
}
void copy_device_to_host(void*, const void*, size_t, int) {
  unavailable();
}
void copy_device_to_device(void*, const void*, size_t, int) {
  unavailable();
}
void memset_bytes(void*, int, size_t, int) {
  unavailable();
}
void synchronize(int) {
  unavailable();
}
MemoryInfo memory_info(int) {
  unavailable();
}

#endif

}  // namespace cuda
}  // namespace kdcu
