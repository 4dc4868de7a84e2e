// Forced include (-include emu/cuda_emu.h) of every kernels/cuda source in the emulation build
// (-DKDCU_CUDA=EMU), where those files are compiled as C++ by the host compiler. It gives the CUDA
// keywords and built-ins the meaning the emulator needs, then includes the real CUDA host headers
// (for the runtime's declarations and the vector types), then the device-side built-ins.
//
//   __shared__         a static variable in the section kdcu_emu_shared: one copy, which the
//                      scheduler poisons before each block (blocks run one after another)
//   __launch_bounds__  puts the kernel in the section kdcu_emu_lb_<N>, where launch() finds N
//                      (so the bound must be written as a literal)
//   __global__, __device__, __host__   nothing: kernels are ordinary functions run on fibers
#pragma once

#ifndef KDCU_CUDA_EMU
#define KDCU_CUDA_EMU 1
#endif

#define __shared__ static __attribute__((section("kdcu_emu_shared")))
#define __launch_bounds__(n, ...) __attribute__((section("kdcu_emu_lb_" #n)))

#include <cuda_runtime.h>

#include "emu/device_builtins.h"

// The runtime's C++ overload, which cuda_runtime.h declares for nvcc only.
template <class T>
inline cudaError_t cudaGetSymbolAddress(void** dev_ptr, const T& symbol) {
  return ::cudaGetSymbolAddress(dev_ptr, static_cast<const void*>(&symbol));
}
