// Per-device cuBLAS and cuDNN handles, bound to the device's one stream and created on first use,
// and the process-wide TF32 switch every cuBLAS GEMM and cuDNN convolution reads: on by default,
// off with KDCU_TF32=0 (or "off", "false") in the environment or set_tf32(false), which gives full
// f32 math (what the CUDA-vs-CPU tests compare with). The switch is plain C++, so tests and apps
// can flip it in any build; the handle getters exist only in a CUDA build (kernels/cuda/*.cpp).
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

struct cublasContext;  // cublasHandle_t is cublasContext*
struct cudnnContext;   // cudnnHandle_t is cudnnContext*

namespace kdcu {
namespace kernels {
namespace cuda {

namespace detail {
inline bool tf32_from_env() {
  const char* v = std::getenv("KDCU_TF32");
  return !(v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0));
}
inline std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{tf32_from_env()};
  return flag;
}
}  // namespace detail

// Whether f32 GEMMs and convolutions may use TF32 tensor cores (10-bit mantissa products, f32 sums).
// Read at every call: a change applies to the next GEMM or convolution (cuDNN algorithms are
// cached per math mode, so switching back and forth finds each shape's algorithm once per mode).
inline bool tf32_enabled() {
  return detail::tf32_flag().load(std::memory_order_relaxed);
}
inline void set_tf32(bool on) {
  detail::tf32_flag().store(on, std::memory_order_relaxed);
}

// The device's handles (never destroyed: tearing them down at exit could outlive the CUDA
// context). cuBLAS gets a 32 MiB workspace from kdcu's device pool, so it never cudaMallocs its own.
cublasContext* cublas_handle(int device);
cudnnContext* cudnn_handle(int device);

// Bytes the device's stream-ordered pool holds from the driver (cudaMemPoolAttrReservedMemCurrent).
// It grows only when the pool has to ask the driver for memory, so a steady training loop leaves
// it constant (tests/gpu/test_cuda_memory.cpp).
long long pool_reserved_bytes(int device);

// Throw CudaError "<call> failed at <file>:<line>: <status name>: <description>" unless the status
// (a cublasStatus_t / cudnnStatus_t passed as int) is success.
void check_cublas(int status, const char* call, const char* file, int line);
void check_cudnn(int status, const char* call, const char* file, int line);

}  // namespace cuda
}  // namespace kernels
}  // namespace kdcu

#define KDCU_CUBLAS_CHECK(call) ::kdcu::kernels::cuda::check_cublas(static_cast<int>(call), #call, __FILE__, __LINE__)
#define KDCU_CUDNN_CHECK(call) ::kdcu::kernels::cuda::check_cudnn(static_cast<int>(call), #call, __FILE__, __LINE__)
