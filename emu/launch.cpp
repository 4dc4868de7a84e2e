// A kernel launch (launch.h): the runtime's configuration checks, then the blocks in schedule order.
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "emu/fault.h"
#include "emu/launch.h"
#include "emu/runtime_state.h"
#include "emu/scheduler.h"

namespace kdcu {
namespace emu {
namespace {

constexpr size_t kMaxSharedBytes = 48 << 10;

// Without __launch_bounds__ the compiler may give a kernel up to 255 registers per thread, and the
// 64K registers of an SM then hold 256 threads: a larger block fits only if the kernel says so.
constexpr unsigned kUnboundedThreads = 256;

std::string dims(dim3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

cudaError_t check_config(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes) {
  const std::string where = std::string("launch of '") + name + "' with grid " + dims(grid) + ", block " + dims(block);
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return set_error(cudaErrorInvalidConfiguration, where + ": an extent is 0");
  if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024)
    return set_error(cudaErrorInvalidConfiguration,
                     where + ": a block holds at most 1024 threads (x, y <= 1024, z <= 64)");
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return set_error(cudaErrorInvalidConfiguration, where + ": the grid is limited to (2^31-1, 65535, 65535)");
  if (shared_bytes > 0)
    return set_error(shared_bytes > kMaxSharedBytes ? cudaErrorInvalidValue : cudaErrorNotSupported,
                     where + ": " + std::to_string(shared_bytes) +
                         " bytes of dynamic shared memory; the emulator has none (kdcu's kernels use static "
                         "__shared__ only) and a GPU gives at most 48 KiB without opting in");
  const unsigned bound = launch_bound(kernel);
  if (bound > 0 && threads > bound)
    return set_error(cudaErrorLaunchOutOfResources, where + ": the kernel is compiled for at most " +
                                                        std::to_string(bound) + " threads (__launch_bounds__)");
  if (bound == 0 && threads > kUnboundedThreads)
    return set_error(cudaErrorLaunchOutOfResources,
                     where + ": " + std::to_string(threads) +
                         " threads need __launch_bounds__(" + std::to_string(threads) +
                         ") on the kernel; without it the compiler may use registers for only " +
                         std::to_string(kUnboundedThreads) + " threads per block");
  return cudaSuccess;
}

}  // namespace

void launch_kernel(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes,
                   cudaStream_t /*stream*/, KernelBody body) {
  if (has_fault()) {
    set_error(cudaErrorLaunchFailure, "");
    return;
  }
  if (check_config(name, kernel, grid, block, shared_bytes) != cudaSuccess) return;
  const Schedule s = schedule();
  const std::uint64_t launch_seed = next_launch_seed();
  const std::uint64_t blocks = 1ull * grid.x * grid.y * grid.z;
  // Block order: forward, backward, or a seeded permutation of the grid.
  std::vector<std::uint64_t> order;
  if (s.order == Order::kRandom) {
    order.resize(blocks);
    std::iota(order.begin(), order.end(), 0);
    std::uint64_t rng = launch_seed;
    for (std::uint64_t i = blocks; i > 1; --i) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(order[i - 1], order[(rng >> 33) % i]);
    }
  }
  for (std::uint64_t n = 0; n < blocks; ++n) {
    const std::uint64_t id = s.order == Order::kRandom ? order[n] : s.order == Order::kReverse ? blocks - 1 - n : n;
    const uint3 idx{static_cast<unsigned>(id % grid.x), static_cast<unsigned>(id / grid.x % grid.y),
                    static_cast<unsigned>(id / (1ull * grid.x * grid.y))};
    if (!run_block(name, body, grid, block, idx, launch_seed ^ (id * 0xbf58476d1ce4e5b9ull))) {
      set_error(cudaErrorLaunchFailure, "");
      return;
    }
  }
}

}  // namespace emu
}  // namespace kdcu
