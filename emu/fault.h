// Device faults of the emulator: a kernel that breaks a rule of the CUDA execution model (a warp
// operation whose mask names a lane that never arrives, a divergent __syncthreads, a launch over
// a limit) or a library call that reads memory it may not. As on a real GPU a fault is sticky:
// every later runtime call answers cudaErrorLaunchFailure until the process ends. The report
// (kernel, block, threads, source lines) is printed to stderr once and kept for
// kdcu::cuda::check, which appends it to the CudaError it throws.
#pragma once

#include <string>

namespace kdcu {
namespace emu {

// Records a fault with its report (the first one is kept) and prints the report to stderr.
void raise_fault(const std::string& report);
bool has_fault();
std::string fault_report();
// For the emulator's own tests: returns the report and clears the fault (and the calling thread's
// last error), so the process goes on.
std::string take_fault();

}  // namespace emu
}  // namespace kdcu
