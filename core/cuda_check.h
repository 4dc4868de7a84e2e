// For files that talk to CUDA directly (kernels/cuda, core/cuda_runtime.cpp): the checked-call
// macro, the device's stream, and the one launch helper every kernel launch goes through. In the
// emulation build (KDCU_CUDA_EMU, emu/README.md) the launch runs the kernel on the CPU emulator.
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#include "core/cuda_runtime.h"

namespace kdcu {
namespace cuda {

// The stream all of kdcu's work on `device` is ordered on (created on first use).
cudaStream_t stream(int device);
// Makes `device` current for the calling thread.
void set_device(int device);

}  // namespace cuda
}  // namespace kdcu

// Every CUDA runtime call goes through this: a failure throws CudaError naming the call, file and line.
#define KDCU_CUDA_CHECK(call) ::kdcu::cuda::check(static_cast<int>(call), #call, __FILE__, __LINE__)

#if defined(__CUDACC__) || defined(KDCU_CUDA_EMU)
#ifdef KDCU_CUDA_EMU
#include "emu/launch.h"
#endif

namespace kdcu {
namespace cuda {

// Launches `kernel` on the device's stream and checks the launch; `name` appears in the error.
template <class... KernelArgs, class... Args>
void launch(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes, int device,
            Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // empty tensors launch nothing
#ifdef KDCU_CUDA_EMU
  ::kdcu::emu::launch(name, kernel, grid, block, shared_bytes, stream(device), std::forward<Args>(args)...);
#else
  kernel<<<grid, block, shared_bytes, stream(device)>>>(static_cast<KernelArgs>(args)...);
#endif
  note_launch();
  check(static_cast<int>(cudaGetLastError()), name, __FILE__, __LINE__);
}

inline unsigned int blocks_for(long long n, int threads) {
  return static_cast<unsigned int>((n + threads - 1) / threads);
}

}  // namespace cuda
}  // namespace kdcu
#endif
