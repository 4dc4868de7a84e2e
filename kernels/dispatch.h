// The one place that picks a device's kernel. Ops call on_device(d, cpu_fn, cuda_fn) with two
// generic lambdas; in a build without CUDA the CUDA lambda is never instantiated (so its kernels
// need not exist) and a CUDA tensor reports "CUDA unavailable". No #if outside kernels/ and core/.
#pragma once

#include "core/config.h"
#include "core/cuda_runtime.h"
#include "core/device.h"
#include "core/error.h"

namespace kdcu {
namespace kernels {

struct CpuTag {};
struct CudaTag {};

template <class CpuFn, class CudaFn>
decltype(auto) on_device(const Device& device, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  if (device.is_cpu()) return cpu_fn(CpuTag{});
  if constexpr (kWithCuda) {
    return cuda_fn(CudaTag{});
  } else {
    throw DeviceError("CUDA unavailable: " + kdcu::cuda::availability().reason);
  }
}

// For ops whose CUDA kernels are not written yet: a clear error instead of a wrong answer.
[[noreturn]] inline void no_cuda_kernel(const char* op) {
  throw DeviceError(cat(op, ": no CUDA kernel in this version of kdcu; run it on the CPU (.to(Device::cpu()))"));
}

// The minimum number of elements before a CPU loop is split across OpenMP threads.
inline constexpr long long kParallelGrain = 1 << 15;

}  // namespace kernels
}  // namespace kdcu
