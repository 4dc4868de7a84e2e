// Per-device cuBLAS / cuDNN handles on the device's stream, created once per device, and the
// checked-call helpers for both libraries.
#include "kernels/cuda/handles.h"

#include <algorithm>
#include <cstdint>
#include <cublas_v2.h>
#include <cudnn.h>
#include <memory>
#include <mutex>

#include "core/cuda_check.h"
#include "core/error.h"

namespace kdcu {
namespace kernels {
namespace cuda {
namespace {

// Hopper's recommended cuBLAS workspace (the cuBLAS guide: 32 MiB for sm_90).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

// Made on first use under the mutex (not std::call_once: a setup that throws must leave the next
// call free to try again, which call_once does not promise everywhere; ThreadSanitizer's
// pthread_once, for one, hangs the retry).
struct DeviceHandles {
  std::mutex mutex;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

DeviceHandles& handles_of(int device) {
  kdcu::cuda::require_device(Device::cuda(device));
  static const int count = std::max(kdcu::cuda::availability().device_count, 1);
  static std::unique_ptr<DeviceHandles[]> all(new DeviceHandles[static_cast<size_t>(count)]);
  return all[static_cast<size_t>(device)];
}

}  // namespace

void check_cublas(int status, const char* call, const char* file, int line) {
  if (status == static_cast<int>(CUBLAS_STATUS_SUCCESS)) return;
  const auto s = static_cast<cublasStatus_t>(status);
  throw CudaError(
      cat(call, " failed at ", file, ":", line, ": ", cublasGetStatusName(s), ": ", cublasGetStatusString(s)));
}

void check_cudnn(int status, const char* call, const char* file, int line) {
  if (status == static_cast<int>(CUDNN_STATUS_SUCCESS)) return;
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  throw CudaError(cat(call, " failed at ", file, ":", line, ": ",
                      cudnnGetErrorString(static_cast<cudnnStatus_t>(status)), detail[0] ? " (" : "", detail,
                      detail[0] ? ")" : ""));
}

cublasContext* cublas_handle(int device) {
  DeviceHandles& h = handles_of(device);
  std::lock_guard<std::mutex> lock(h.mutex);
  if (!h.cublas) {
    cudaStream_t st = kdcu::cuda::stream(device);  // also makes the device current
    cublasHandle_t handle = nullptr;
    KDCU_CUBLAS_CHECK(cublasCreate(&handle));
    void* workspace = nullptr;
    try {
      KDCU_CUBLAS_CHECK(cublasSetStream(handle, st));
      // After cublasSetStream, which resets the workspace to cuBLAS's own; kept for the process.
      workspace = kdcu::cuda::allocate(kCublasWorkspaceBytes, device);
      KDCU_CUBLAS_CHECK(cublasSetWorkspace(handle, workspace, kCublasWorkspaceBytes));
      KDCU_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
    } catch (...) {
      // A failed setup leaves nothing behind, and the next call tries again.
      cublasDestroy(handle);
      kdcu::cuda::deallocate(workspace, kCublasWorkspaceBytes, device);
      throw;
    }
    h.cublas = handle;
  }
  kdcu::cuda::set_device(device);
  return h.cublas;
}

cudnnContext* cudnn_handle(int device) {
  DeviceHandles& h = handles_of(device);
  std::lock_guard<std::mutex> lock(h.mutex);
  if (!h.cudnn) {
    cudaStream_t st = kdcu::cuda::stream(device);
    cudnnHandle_t handle = nullptr;
    KDCU_CUDNN_CHECK(cudnnCreate(&handle));
    try {
      KDCU_CUDNN_CHECK(cudnnSetStream(handle, st));
    } catch (...) {
      cudnnDestroy(handle);
      throw;
    }
    h.cudnn = handle;
  }
  kdcu::cuda::set_device(device);
  return h.cudnn;
}

long long pool_reserved_bytes(int device) {
  kdcu::cuda::stream(device);  // the pool's release threshold is configured there
  cudaMemPool_t pool = nullptr;
  KDCU_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t bytes = 0;
  KDCU_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &bytes));
  return static_cast<long long>(bytes);
}

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu
