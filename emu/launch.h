// A kernel launch in the emulation build: what `kernel<<<grid, block, shared, stream>>>(args)` is
// on a GPU. kdcu::cuda::launch (core/cuda_check.h) calls it, so kdcu's launch code is the same in
// both builds. The arguments are converted to the kernel's parameter types once, as a launch
// copies them into the parameter buffer; every thread then calls the kernel with copies of them.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <cuda_runtime_api.h>

namespace kdcu {
namespace emu {

// The body every emulated thread runs: a type-erased call of the kernel with its arguments.
struct KernelBody {
  void (*run)(const void* ctx);
  const void* ctx;
};

// Checks the launch configuration like the runtime (block and grid extents, shared memory, the
// kernel's __launch_bounds__) and runs the grid, one block after another, each block's threads as
// fibers. A bad configuration sets the runtime's last error (cudaGetLastError) and runs nothing;
// a fault inside the kernel is sticky (emu/fault.h).
void launch_kernel(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes,
                   cudaStream_t stream, KernelBody body);

template <class... KernelArgs, class... Args>
void launch(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(KernelArgs) == sizeof...(Args), "a kernel launch passes one argument per parameter");
  using Kernel = void (*)(KernelArgs...);
  struct Call {
    Kernel kernel;
    std::tuple<std::decay_t<KernelArgs>...> params;
  };
  const Call call{kernel, std::tuple<std::decay_t<KernelArgs>...>(static_cast<KernelArgs>(std::forward<Args>(args))...)};
  const KernelBody body{[](const void* ctx) {
                          const Call& c = *static_cast<const Call*>(ctx);
                          std::apply(c.kernel, c.params);
                        },
                        &call};
  launch_kernel(name, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream, body);
}

}  // namespace emu
}  // namespace kdcu
