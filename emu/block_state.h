// One running block as the scheduler (scheduler.cpp) and the warp-operation resolver
// (warp_ops.cpp) share it: each emulated thread's fiber, coordinates and what it waits for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emu/device_builtins.h"
#include "emu/fiber.h"
#include "emu/launch.h"

namespace kdcu {
namespace emu {

enum class State : std::uint8_t {
  kRunnable,  // will run in the next round
  kBarrier,   // waits at __syncthreads
  kWarp,      // waits at a warp operation (shuffle, vote, __syncwarp)
  kExited,
};

struct WarpWait {
  WarpKind kind = WarpKind::kSyncWarp;
  unsigned mask = 0;
  std::uint64_t value = 0;  // the lane's operand (shuffles) or predicate (votes)
  int arg = 0;              // source lane, delta or lane mask
  int width = 32;
  std::uint64_t result = 0;
};

struct Thread {
  Fiber* fiber = nullptr;
  Coords coords{};
  int linear = 0;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
  State state = State::kRunnable;
  bool spun = false;       // its last run ended in spin_yield
  bool suspended = false;  // it has waited at a synchronisation point at least once
  const char* file = "";
  int line = 0;
  WarpWait op;
  // ThreadSanitizer: a lane releases tokens[seq % 4] when it arrives at its seq-th warp operation;
  // on release, each lane of the group acquires the token its peers used (peer_slot), so it
  // inherits what they did before the operation and nothing they did after it.
  unsigned warp_seq = 0;
  char tokens[4] = {};
  unsigned char peer_slot[32] = {};
  unsigned group = 0;  // the lanes of the resolved group
  unsigned barrier_gen = 0;  // the generation of the barrier it waits at
};

struct BlockRun {
  const char* name = "";
  KernelBody body{};
  dim3 grid, block;
  uint3 block_idx{};
  std::vector<Thread>* threads = nullptr;
  int count = 0;                   // threads in the block
  // ThreadSanitizer sync objects (only their addresses matter): the launch's start and end, and
  // the barrier of each generation's parity (a thread cannot reach barrier g + 2 before every
  // thread has passed g, so two suffice).
  char launch_token = 0, done_token = 0;
  char barrier_tokens[2] = {};
  unsigned barrier_gen = 0;
};

// Resolves every warp operation whose mask's lanes have all arrived (exited lanes are not waited
// for, as in PTX) and makes those lanes runnable. Returns the number released, or -1 after raising
// a fault (a read of a lane outside the mask or of an exited lane, a bad width, a lane outside its
// own mask).
int resolve_warp_ops(BlockRun& b);

// "kernel 'name' (grid (x,y,z), block (x,y,z)), block (x,y,z)" for fault reports.
std::string block_header(const BlockRun& b);
// Every thread that has not exited, grouped by what it waits for, one line per group with the
// thread ranges ("threads 0-31, 64 wait at __syncthreads (file:line)").
std::string describe_waits(const BlockRun& b);
// "0-31, 64" for a sorted list of thread indices.
std::string ranges(const std::vector<int>& ids);
const char* warp_kind_name(WarpKind k);

}  // namespace emu
}  // namespace kdcu
