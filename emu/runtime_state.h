// The emulated CUDA runtime's error state, shared by the runtime functions (runtime.cpp) and the
// launch (launch.cpp). As in the real runtime each host thread has a last error, which
// cudaGetLastError returns and clears; a device fault (fault.h) is sticky and answers every call.
#pragma once

#include <string>

#include <cuda_runtime_api.h>

namespace kdcu {
namespace emu {

// Records `e` as the calling thread's last error (unless it is cudaSuccess) with the emulator's
// explanation, and returns it.
cudaError_t set_error(cudaError_t e, const std::string& detail);
// What the emulator knows about the last error: the fault report when the device has faulted,
// else the explanation given with the thread's last error ("" when none).
std::string error_detail();

// For tests of kdcu's error paths: the next call of the runtime function `call` ("cudaMalloc",
// "cudaFree", "cudaMemset", "cudaMemcpy"; their Async forms count as them) after `skip` others
// fails with `error`, a non-sticky error, and does nothing else.
void inject_failure(const std::string& call, cudaError_t error, int skip = 0);
// Live handles of the emulated cuBLAS (emu/cublas.cpp), so a test can see a leak.
size_t cublas_live_handles();

}  // namespace emu
}  // namespace kdcu
