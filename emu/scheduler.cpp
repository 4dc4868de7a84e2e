// The scheduler (scheduler.h): runs one block's threads as fibers in rounds. In a round every
// runnable thread runs, in the schedule's order, until its next synchronisation point; then the
// warp operations whose lanes have all arrived are resolved, and __syncthreads releases the block
// once every thread that has not exited waits at the same one. When nothing can move, the block is
// deadlocked on a GPU too: that is a fault whose report names each waiting thread and where.
#include "emu/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <vector>

#include "emu/block_state.h"
#include "emu/fault.h"

#include "emu/sanitizers.h"
#ifdef KDCU_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#define KDCU_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define KDCU_TSAN_RELEASE(p) __tsan_release(p)
#else
#define KDCU_TSAN_ACQUIRE(p) ((void)(p))
#define KDCU_TSAN_RELEASE(p) ((void)(p))
#endif

// Section bounds from the linker: __shared__ variables and kernels with __launch_bounds__(N).
extern "C" {
extern char __start_kdcu_emu_shared[] __attribute__((weak));
extern char __stop_kdcu_emu_shared[] __attribute__((weak));
#define KDCU_EMU_BOUND_SECTION(n)                                  \
  extern const char __start_kdcu_emu_lb_##n[] __attribute__((weak)); \
  extern const char __stop_kdcu_emu_lb_##n[] __attribute__((weak));
KDCU_EMU_BOUND_SECTION(32)
KDCU_EMU_BOUND_SECTION(64)
KDCU_EMU_BOUND_SECTION(128)
KDCU_EMU_BOUND_SECTION(256)
KDCU_EMU_BOUND_SECTION(512)
KDCU_EMU_BOUND_SECTION(1024)
#undef KDCU_EMU_BOUND_SECTION
}

namespace kdcu {
namespace emu {

thread_local const Coords* t_coords = nullptr;

namespace {

// Rounds in a row in which every thread that ran only retried an atomic: then no thread of the
// block can release what they wait for (a spin-wait on another block, which runs after this one).
constexpr int kMaxSpinRounds = 1 << 16;

thread_local BlockRun* t_block = nullptr;
thread_local Thread* t_thread = nullptr;

std::mutex g_schedule_mutex;
bool g_schedule_set = false;
Schedule g_schedule;
std::uint64_t g_launches = 0;  // since the schedule was set

size_t stack_bytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  size_t kb = 512;  // instrumented frames are several times larger
#else
  size_t kb = 128;
#endif
  if (const char* v = std::getenv("KDCU_EMU_STACK_KB")) {
    const long long n = std::atoll(v);
    if (n >= 16) kb = static_cast<size_t>(n);
  }
  return kb << 10;
}

// This OS thread's fibers, grown to the largest block seen, reused by every launch.
std::vector<std::unique_ptr<Fiber>>& fiber_pool(int count) {
  thread_local std::vector<std::unique_ptr<Fiber>> pool;
  static const size_t bytes = stack_bytes();
  while (pool.size() < static_cast<size_t>(count)) pool.emplace_back(new Fiber(bytes));
  return pool;
}

Thread& current_thread(const char* what) {
  if (!t_thread) {
    std::fprintf(stderr, "kdcu emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *t_thread;
}

// Runs threads on one fiber: order[pos], then (unless each thread must be its own fiber, as under
// ThreadSanitizer) the next threads of the order, each from start to exit, until one suspends at a
// synchronisation point. That thread keeps the fiber; the scheduler goes on from the next one. So
// a kernel without synchronisation runs a whole block on one warm stack, with two switches.
struct Runner {
  std::vector<Thread>* threads = nullptr;
  const std::vector<int>* order = nullptr;
  size_t pos = 0;
  bool chain = true;
  bool done = false;  // every thread from pos on ran to its exit (or, without chain, the one did)
  Fiber* fiber = nullptr;
};

void runner_main(void* arg) {
  Runner& r = *static_cast<Runner*>(arg);
  for (;;) {
    Thread& t = (*r.threads)[static_cast<size_t>((*r.order)[r.pos])];
    t.fiber = r.fiber;
    t_thread = &t;
    t_coords = &t.coords;
    KDCU_TSAN_ACQUIRE(&t_block->launch_token);  // what the host did before the launch
    t_block->body.run(t_block->body.ctx);
    t.state = State::kExited;
    KDCU_TSAN_RELEASE(&t_block->done_token);
    if (t.suspended) break;  // the scheduler went on without this runner: just end
    if (!r.chain || ++r.pos == r.order->size()) {
      r.done = true;
      break;
    }
  }
  t_thread->fiber->finish();
}
// splitmix64: the random schedule's generator.
std::uint64_t mix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void order_threads(std::vector<int>& order, Order o, std::uint64_t& rng) {
  std::iota(order.begin(), order.end(), 0);
  if (o == Order::kReverse) std::reverse(order.begin(), order.end());
  if (o == Order::kRandom)
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[mix(rng) % i]);
}

// Releases the block from __syncthreads if every thread that has not exited waits there, at the
// same call site. 1: released; 0: not all there yet; -1: fault (divergent barrier).
int release_barrier(BlockRun& b) {
  std::vector<Thread>& threads = *b.threads;
  const Thread* first = nullptr;
  bool any_exited = false;
  for (int i = 0; i < b.count; ++i) {
    const Thread& t = threads[static_cast<size_t>(i)];
    if (t.state == State::kExited) {
      any_exited = true;
      continue;
    }
    if (t.state != State::kBarrier) return 0;
    if (!first) first = &t;
    if (t.line != first->line || std::strcmp(t.file, first->file) != 0) {
      raise_fault(block_header(b) + ": __syncthreads divergence: threads wait at different barriers\n" +
                  describe_waits(b));
      return -1;
    }
  }
  if (!first) return 0;
  if (any_exited) {
    raise_fault(block_header(b) + ": __syncthreads divergence: some threads have exited while others wait\n" +
                describe_waits(b));
    return -1;
  }
  for (int i = 0; i < b.count; ++i) threads[static_cast<size_t>(i)].state = State::kRunnable;
  ++b.barrier_gen;
  return 1;
}

}  // namespace

// ------------------------------------------------------------------ synchronisation points

void sync_threads(const char* file, int line) {
  Thread& t = current_thread("__syncthreads");
  t.state = State::kBarrier;
  t.suspended = true;
  t.file = file;
  t.line = line;
  char* token = &t_block->barrier_tokens[t_block->barrier_gen % 2];
  KDCU_TSAN_RELEASE(token);
  t.fiber->suspend();
  KDCU_TSAN_ACQUIRE(token);
}

std::uint64_t warp_op(WarpKind kind, unsigned mask, std::uint64_t value, int arg, int width, const char* file,
                      int line) {
  Thread& t = current_thread(warp_kind_name(kind));
  t.state = State::kWarp;
  t.suspended = true;
  t.file = file;
  t.line = line;
  t.op = WarpWait{kind, mask, value, arg, width, 0};
  KDCU_TSAN_RELEASE(&t.tokens[t.warp_seq % 4]);
  t.fiber->suspend();
#ifdef KDCU_EMU_TSAN
  const int base = t.linear / 32 * 32;
  for (int m = 0; m < 32; ++m)
    if (t.group >> m & 1u) __tsan_acquire(&(*t_block->threads)[static_cast<size_t>(base + m)].tokens[t.peer_slot[m]]);
#endif
  ++t.warp_seq;
  return t.op.result;
}

unsigned active_mask() {
  const Thread& t = current_thread("__activemask");
  const int base = t.linear / 32 * 32;
  unsigned mask = 0;
  for (int l = 0; l < 32 && base + l < t_block->count; ++l)
    if ((*t_block->threads)[static_cast<size_t>(base + l)].state != State::kExited) mask |= 1u << l;
  return mask;
}

void spin_yield() {
  Thread& t = current_thread("an atomic retry");
  t.spun = true;
  t.suspended = true;
  t.fiber->suspend();
}

// ------------------------------------------------------------------ one block

bool run_block(const char* name, KernelBody body, dim3 grid, dim3 block, uint3 block_idx, std::uint64_t seed) {
  const int count = static_cast<int>(block.x * block.y * block.z);
  std::vector<std::unique_ptr<Fiber>>& fibers = fiber_pool(count);
  thread_local std::vector<Thread> threads;
  thread_local std::vector<int> order;
  thread_local std::vector<Fiber*> idle_fibers;
  threads.resize(static_cast<size_t>(count));
  order.resize(static_cast<size_t>(count));

  BlockRun b;
  b.name = name;
  b.body = body;
  b.grid = grid;
  b.block = block;
  b.block_idx = block_idx;
  b.threads = &threads;
  b.count = count;

  // Fresh, poisoned shared memory for the block (0xff bytes: NaN for floats, -1 for integers).
  if (__start_kdcu_emu_shared && __stop_kdcu_emu_shared)
    std::memset(__start_kdcu_emu_shared, 0xff, static_cast<size_t>(__stop_kdcu_emu_shared - __start_kdcu_emu_shared));

  uint3 idx{0, 0, 0};
  for (int i = 0; i < count; ++i) {
    Thread& t = threads[static_cast<size_t>(i)];
    t.fiber = nullptr;
    t.state = State::kRunnable;
    t.spun = t.suspended = false;
    t.warp_seq = 0;
    t.linear = i;
    t.coords = Coords{idx, block_idx, block, grid};
    if (++idx.x == block.x) {
      idx.x = 0;
      if (++idx.y == block.y) idx.y = 0, ++idx.z;
    }
  }
  // A fiber is taken when a thread first runs and given back when it exits (runner_main).
  std::vector<Fiber*>& idle = idle_fibers;
  idle.clear();
  for (int i = count - 1; i >= 0; --i) idle.push_back(fibers[static_cast<size_t>(i)].get());
  KDCU_TSAN_RELEASE(&b.launch_token);

  BlockRun* outer_block = t_block;
  Thread* outer_thread = t_thread;
  const Coords* outer_coords = t_coords;
  t_block = &b;
  const Order o = schedule().order;
  std::uint64_t rng = seed;
  Runner runner;
  runner.threads = &threads;
  runner.order = &order;
#ifdef KDCU_EMU_TSAN
  runner.chain = false;  // one TSan fiber per thread, or TSan would see one thread's program order
#endif
  int spin_rounds = 0;
  bool ok = true;
  for (;;) {
    order_threads(order, o, rng);
    bool ran = false, progress = false;
    for (size_t k = 0; k < order.size(); ++k) {
      Thread& t = threads[static_cast<size_t>(order[k])];
      if (t.state != State::kRunnable) continue;
      ran = true;
      if (!t.fiber) {  // not started: a runner takes it and the unstarted ones after it
        runner.pos = k;
        runner.done = false;
        runner.fiber = idle.back();
        idle.pop_back();
        runner.fiber->start(runner_main, &runner);
        runner.fiber->resume();
        progress = true;
        if (runner.done) {
          idle.push_back(runner.fiber);
          if (runner.chain) break;  // it ran the rest of the order
        } else {
          k = runner.pos;  // that thread suspended and keeps the fiber
        }
        continue;
      }
      t.spun = false;
      t_thread = &t;
      t_coords = &t.coords;
      t.fiber->resume();
      if (t.state == State::kExited) idle.push_back(t.fiber);
      if (!t.spun) progress = true;
    }
    t_thread = nullptr;
    t_coords = nullptr;
    const int released = resolve_warp_ops(b);
    if (released < 0) {
      ok = false;
      break;
    }
    if (released > 0) {
      spin_rounds = 0;
      continue;
    }
    const int barrier = release_barrier(b);
    if (barrier < 0) {
      ok = false;
      break;
    }
    if (barrier > 0) {
      spin_rounds = 0;
      continue;
    }
    if (ran) {
      spin_rounds = progress ? 0 : spin_rounds + 1;
      if (spin_rounds < kMaxSpinRounds) continue;
      raise_fault(block_header(b) +
                  ": threads retry an atomic that no thread of this block can release (the emulator runs blocks "
                  "one after another, so a block cannot wait for another)\n" +
                  describe_waits(b));
      ok = false;
      break;
    }
    const bool all_exited = std::all_of(threads.begin(), threads.begin() + count,
                                        [](const Thread& t) { return t.state == State::kExited; });
    if (all_exited) break;
    raise_fault(block_header(b) + ": deadlock: no thread can go on (on a GPU the block would hang)\n" +
                describe_waits(b));
    ok = false;
    break;
  }
  if (!ok) {
    // The threads a fault left waiting never reach their release: the scheduler makes it for them.
    for (int i = 0; i < count; ++i) {
      Thread& t = threads[static_cast<size_t>(i)];
      if (t.fiber && t.state != State::kExited) t.fiber->release_as(&b.done_token);
    }
  }
  KDCU_TSAN_ACQUIRE(&b.done_token);  // the host sees everything the block did
  t_block = outer_block;
  t_thread = outer_thread;
  t_coords = outer_coords;
  return ok;
}

// ------------------------------------------------------------------ schedules and sections

bool parse_schedule(const std::string& text, Schedule* out) {
  Schedule s;
  if (text == "forward") {
    s.order = Order::kForward;
  } else if (text == "reverse") {
    s.order = Order::kReverse;
  } else if (text.rfind("random", 0) == 0) {
    s.order = Order::kRandom;
    if (text.size() > 6) {
      if (text[6] != ':' || text.size() == 7) return false;
      char* end = nullptr;
      s.seed = std::strtoull(text.c_str() + 7, &end, 10);
      if (*end != '\0') return false;
    }
  } else {
    return false;
  }
  *out = s;
  return true;
}

std::string schedule_name(const Schedule& s) {
  if (s.order == Order::kForward) return "forward";
  if (s.order == Order::kReverse) return "reverse";
  return "random:" + std::to_string(s.seed);
}

Schedule schedule() {
  std::lock_guard<std::mutex> lock(g_schedule_mutex);
  if (!g_schedule_set) {
    g_schedule_set = true;
    const char* v = std::getenv("KDCU_EMU_SCHEDULE");
    if (v && *v && !parse_schedule(v, &g_schedule)) {
      std::fprintf(stderr,
                   "kdcu emulator: KDCU_EMU_SCHEDULE='%s' is not a schedule; expected forward, reverse, random or "
                   "random:<seed>\n",
                   v);
      std::exit(2);
    }
  }
  return g_schedule;
}

void set_schedule(const Schedule& s) {
  std::lock_guard<std::mutex> lock(g_schedule_mutex);
  g_schedule_set = true;
  g_schedule = s;
  g_launches = 0;
}

std::uint64_t next_launch_seed() {
  const std::uint64_t seed = schedule().seed;
  std::lock_guard<std::mutex> lock(g_schedule_mutex);
  std::uint64_t state = seed ^ (++g_launches * 0xd1b54a32d192ed03ull);
  return mix(state);
}

size_t static_shared_bytes() {
  if (!__start_kdcu_emu_shared || !__stop_kdcu_emu_shared) return 0;
  return static_cast<size_t>(__stop_kdcu_emu_shared - __start_kdcu_emu_shared);
}

unsigned launch_bound(const void* kernel) {
  const char* k = static_cast<const char*>(kernel);
  struct Section {
    unsigned bound;
    const char* start;
    const char* stop;
  };
  const Section sections[] = {{32, __start_kdcu_emu_lb_32, __stop_kdcu_emu_lb_32},
                              {64, __start_kdcu_emu_lb_64, __stop_kdcu_emu_lb_64},
                              {128, __start_kdcu_emu_lb_128, __stop_kdcu_emu_lb_128},
                              {256, __start_kdcu_emu_lb_256, __stop_kdcu_emu_lb_256},
                              {512, __start_kdcu_emu_lb_512, __stop_kdcu_emu_lb_512},
                              {1024, __start_kdcu_emu_lb_1024, __stop_kdcu_emu_lb_1024}};
  for (const Section& s : sections)
    if (s.start && s.stop && k >= s.start && k < s.stop) return s.bound;
  return 0;
}

}  // namespace emu
}  // namespace kdcu
