// The emulator's scheduler as its tests and the runtime see it: the order in which fibers run
// between synchronisation points, and one block's execution.
//
// Schedules (KDCU_EMU_SCHEDULE, read at the first launch; set_schedule for tests):
//   forward      threads in index order, each until its next synchronisation point; blocks in order
//   reverse      the last thread first; blocks from the last
//   random[:S]   a fresh seeded permutation of the threads every round, blocks shuffled (seed S,
//                default 1); the same seed gives the same run
// A kernel whose result depends on the order (a missing barrier) gives different results under
// different schedules, which is how the GPU suite, run under two of them, finds it.
#pragma once

#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "emu/launch.h"

namespace kdcu {
namespace emu {

enum class Order { kForward, kReverse, kRandom };
struct Schedule {
  Order order = Order::kForward;
  std::uint64_t seed = 1;
};

Schedule schedule();
// Sets the schedule and starts its sequence of launches over: the same schedule set before the
// same launches gives the same run.
void set_schedule(const Schedule& s);
// The seed of the next launch's random orders (a function of the schedule's seed and the number
// of launches since the schedule was set).
std::uint64_t next_launch_seed();
// Parses "forward", "reverse", "random" or "random:<seed>"; false when the text is none of these.
bool parse_schedule(const std::string& text, Schedule* out);
std::string schedule_name(const Schedule& s);

// Runs block `block_idx` of a launch to the end. False when it faulted (the fault is raised).
bool run_block(const char* name, KernelBody body, dim3 grid, dim3 block, uint3 block_idx, std::uint64_t seed);

// The bytes of every kernel's __shared__ variables (one section), poisoned before each block.
size_t static_shared_bytes();
// The __launch_bounds__ of `kernel` (0 when it has none).
unsigned launch_bound(const void* kernel);

}  // namespace emu
}  // namespace kdcu
