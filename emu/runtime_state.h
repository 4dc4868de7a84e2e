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

}  // namespace emu
}  // namespace kdcu
