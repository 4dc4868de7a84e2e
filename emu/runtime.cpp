// The subset of the CUDA runtime API that kdcu calls, defined for the emulator: one device (named
// as an emulator), memory as host heap blocks (memory.h), streams and events that complete at
// once (every call runs to the end before it returns), and the real runtime's error semantics: a
// failed call returns its code and records it as the thread's last error, cudaGetLastError
// returns and clears it, cudaPeekAtLastError only returns it, and after a device fault every call
// answers cudaErrorLaunchFailure. Declarations come from the toolkit's cuda_runtime_api.h.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include <cuda_runtime_api.h>

#include "emu/fault.h"
#include "emu/memory.h"
#include "emu/registry.h"
#include "emu/runtime_state.h"
#include "emu/scheduler.h"

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point time;
  bool recorded = false;
};
struct CUmemPoolHandle_st {
  std::uint64_t release_threshold = 0;
  std::uint64_t reserved_high = 0;  // the most bytes the pool has held: a pool keeps what it gets
};

namespace kdcu {
namespace emu {
namespace {

Registry<CUstream_st>& g_streams = Registry<CUstream_st>::instance();
Registry<CUevent_st>& g_events = Registry<CUevent_st>::instance();

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local std::string t_last_detail;
thread_local int t_device = 0;
CUmemPoolHandle_st g_pool;

// Every entry point starts here: after a fault nothing works any more.
bool faulted(cudaError_t* out) {
  if (!has_fault()) return false;
  *out = set_error(cudaErrorLaunchFailure, "");
  return true;
}

#define KDCU_EMU_ENTRY()                   \
  do {                                     \
    cudaError_t sticky_;                   \
    if (faulted(&sticky_)) return sticky_; \
  } while (0)

struct Injection {
  std::string call;
  cudaError_t error = cudaSuccess;
  int skip = 0;
};
std::mutex g_injection_mutex;
Injection g_injection;

// True (with the error set) when a test asked this call to fail now.
bool injected(const char* call, cudaError_t* out) {
  std::lock_guard<std::mutex> lock(g_injection_mutex);
  if (g_injection.error == cudaSuccess || g_injection.call != call) return false;
  if (g_injection.skip-- > 0) return false;
  const cudaError_t e = g_injection.error;
  g_injection = Injection{};
  *out = set_error(e, std::string(call) + ": a failure injected by a test");
  return true;
}

#define KDCU_EMU_INJECTABLE(name)                 \
  do {                                            \
    cudaError_t injected_;                        \
    if (injected(name, &injected_)) return injected_; \
  } while (0)

cudaError_t check_device(int device) {
  if (device != 0)
    return set_error(cudaErrorInvalidDevice,
                     "device " + std::to_string(device) + " does not exist: the emulator has one device, 0");
  return cudaSuccess;
}

void note_pool() {
  const std::uint64_t live = device_live_bytes();
  if (live > g_pool.reserved_high) g_pool.reserved_high = live;
}

std::string pointer_text(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%p", p);
  return buf;
}

// The direction of a copy against what the pointers are (device blocks or not).
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* call) {
  const bool dst_dev = is_device_range(dst, bytes), src_dev = is_device_range(src, bytes);
  const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) return cudaSuccess;
  if (want_dst != dst_dev || want_src != src_dev) {
    const auto side = [bytes](bool want, bool is, const void* p, const char* what) {
      if (want == is) return std::string();
      return std::string(" ") + what + " " + pointer_text(p) + (want ? " is not " : " is ") +
             "device memory covering " + std::to_string(bytes) + " bytes;";
    };
    return set_error(cudaErrorInvalidValue, std::string(call) + " of " + std::to_string(bytes) + " bytes:" +
                                                side(want_dst, dst_dev, dst, "the destination") +
                                                side(want_src, src_dev, src, "the source"));
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t set_error(cudaError_t e, const std::string& detail) {
  if (e != cudaSuccess) {
    t_last_error = e;
    t_last_detail = detail;
  }
  return e;
}

std::string error_detail() {
  if (has_fault()) return fault_report();
  return t_last_detail;
}

void inject_failure(const std::string& call, cudaError_t error, int skip) {
  std::lock_guard<std::mutex> lock(g_injection_mutex);
  g_injection = Injection{call, error, skip};
}

}  // namespace emu
}  // namespace kdcu

using namespace kdcu::emu;

extern "C" {

// ------------------------------------------------------------------ errors

cudaError_t cudaGetLastError(void) {
  if (has_fault()) return cudaErrorLaunchFailure;  // sticky: not cleared
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  return has_fault() ? cudaErrorLaunchFailure : t_last_error;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unknown error";
  }
}

// ------------------------------------------------------------------ devices

cudaError_t cudaGetDeviceCount(int* count) {
  KDCU_EMU_ENTRY();
  if (!count) return set_error(cudaErrorInvalidValue, "cudaGetDeviceCount: null count");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  KDCU_EMU_ENTRY();
  if (const cudaError_t e = check_device(device)) return e;
  t_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  KDCU_EMU_ENTRY();
  if (!device) return set_error(cudaErrorInvalidValue, "cudaGetDevice: null device");
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  KDCU_EMU_ENTRY();
  if (!prop) return set_error(cudaErrorInvalidValue, "cudaGetDeviceProperties: null prop");
  if (const cudaError_t e = check_device(device)) return e;
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "kdcu SIMT emulator (CPU, schedule %s)",
                schedule_name(schedule()).c_str());
  prop->totalGlobalMem = device_total_bytes();
  prop->sharedMemPerBlock = 48 << 10;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024, prop->maxThreadsDim[1] = 1024, prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff, prop->maxGridSize[1] = 65535, prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->l2CacheSize = 1 << 20;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->unifiedAddressing = 1;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  KDCU_EMU_ENTRY();
  if (!value) return set_error(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null value");
  if (const cudaError_t e = check_device(device)) return e;
  switch (attr) {
    case cudaDevAttrL2CacheSize: *value = 1 << 20; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 1; return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    default:
      return set_error(cudaErrorNotSupported,
                       "cudaDeviceGetAttribute: attribute " + std::to_string(static_cast<int>(attr)) +
                           " is not emulated");
  }
}

cudaError_t cudaDeviceSynchronize(void) {
  KDCU_EMU_ENTRY();
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return set_error(cudaErrorInvalidValue, "cudaRuntimeGetVersion: null version");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return set_error(cudaErrorInvalidValue, "cudaDriverGetVersion: null version");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

// ------------------------------------------------------------------ streams and events

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  KDCU_EMU_ENTRY();
  if (!stream) return set_error(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: null stream");
  *stream = g_streams.add(new CUstream_st{flags});
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  KDCU_EMU_ENTRY();
  if (!g_streams.remove(stream))
    return set_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream of cudaStreamCreate");
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  KDCU_EMU_ENTRY();
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  KDCU_EMU_ENTRY();
  if (!event) return set_error(cudaErrorInvalidValue, "cudaEventCreate: null event");
  *event = g_events.add(new CUevent_st);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  return cudaEventCreate(event);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  KDCU_EMU_ENTRY();
  if (!g_events.remove(event))
    return set_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event of cudaEventCreate");
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  KDCU_EMU_ENTRY();
  if (!event) return set_error(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  KDCU_EMU_ENTRY();
  if (!event) return set_error(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  KDCU_EMU_ENTRY();
  if (!event) return set_error(cudaErrorInvalidResourceHandle, "cudaEventQuery: null event");
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  KDCU_EMU_ENTRY();
  if (!ms || !start || !end) return set_error(cudaErrorInvalidValue, "cudaEventElapsedTime: null argument");
  if (!start->recorded || !end->recorded)
    return set_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

// ------------------------------------------------------------------ memory

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  KDCU_EMU_ENTRY();
  KDCU_EMU_INJECTABLE("cudaMalloc");
  if (!ptr) return set_error(cudaErrorInvalidValue, "cudaMalloc: null pointer argument");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  *ptr = device_alloc(bytes);
  if (!*ptr)
    return set_error(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes: " +
                                                    std::to_string(device_live_bytes()) + " of the emulated " +
                                                    std::to_string(device_total_bytes()) + " bytes are in use");
  note_pool();
  return cudaSuccess;
}

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t) {
  return cudaMalloc(ptr, bytes);
}

cudaError_t cudaFree(void* ptr) {
  KDCU_EMU_ENTRY();
  KDCU_EMU_INJECTABLE("cudaFree");
  if (!ptr) return cudaSuccess;
  if (!device_free(ptr))
    return set_error(cudaErrorInvalidValue,
                     "cudaFree: " + pointer_text(ptr) + " is not the start of a live device allocation");
  return cudaSuccess;
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) {
  return cudaFree(ptr);
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  KDCU_EMU_ENTRY();
  if (!free_bytes || !total_bytes) return set_error(cudaErrorInvalidValue, "cudaMemGetInfo: null argument");
  *total_bytes = device_total_bytes();
  *free_bytes = device_total_bytes() - device_live_bytes();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  KDCU_EMU_ENTRY();
  if (!pool) return set_error(cudaErrorInvalidValue, "cudaDeviceGetDefaultMemPool: null pool");
  if (const cudaError_t e = check_device(device)) return e;
  *pool = &g_pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  KDCU_EMU_ENTRY();
  if (!pool || !value) return set_error(cudaErrorInvalidValue, "cudaMemPoolSetAttribute: null argument");
  if (attr != cudaMemPoolAttrReleaseThreshold)
    return set_error(cudaErrorNotSupported, "cudaMemPoolSetAttribute: only the release threshold is emulated");
  std::memcpy(&pool->release_threshold, value, sizeof(std::uint64_t));
  return cudaSuccess;
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  KDCU_EMU_ENTRY();
  if (!pool || !value) return set_error(cudaErrorInvalidValue, "cudaMemPoolGetAttribute: null argument");
  std::uint64_t v = 0;
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: v = pool->release_threshold; break;
    case cudaMemPoolAttrReservedMemCurrent: v = pool->reserved_high; break;
    case cudaMemPoolAttrUsedMemCurrent: v = device_live_bytes(); break;
    default: return set_error(cudaErrorNotSupported, "cudaMemPoolGetAttribute: attribute not emulated");
  }
  std::memcpy(value, &v, sizeof(v));
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  KDCU_EMU_ENTRY();
  KDCU_EMU_INJECTABLE("cudaMemcpy");
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = check_copy(dst, src, bytes, kind, "cudaMemcpy")) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  KDCU_EMU_ENTRY();
  KDCU_EMU_INJECTABLE("cudaMemset");
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(dst, bytes))
    return set_error(cudaErrorInvalidValue, "cudaMemset: " + pointer_text(dst) + " is not device memory covering " +
                                                std::to_string(bytes) + " bytes");
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  return cudaMemset(dst, value, bytes);
}

cudaError_t cudaGetSymbolAddress(void** dev_ptr, const void* symbol) {
  KDCU_EMU_ENTRY();
  if (!dev_ptr || !symbol) return set_error(cudaErrorInvalidValue, "cudaGetSymbolAddress: null argument");
  *dev_ptr = const_cast<void*>(symbol);  // a __device__ variable is an ordinary global here
  return cudaSuccess;
}

}  // extern "C"
