// User-level threads for the emulated CUDA threads: each fiber has its own stack (mmap'd, with a
// guard page below it, so an overflow is a segfault rather than silent corruption) and switches
// only where it asks to (a synchronisation point). The switch is a few instructions of assembly
// on x86-64 (the callee-saved registers and the stack pointer);
// other architectures use ucontext. Under AddressSanitizer every switch is announced to it
// (__sanitizer_start/finish_switch_fiber), and under ThreadSanitizer each fiber is a TSan fiber
// switched without implied synchronisation, so the scheduler's own ordering hides no race.
#pragma once

#include <cstddef>

namespace kdcu {
namespace emu {

class Fiber {
 public:
  using Entry = void (*)(void* arg);

  explicit Fiber(size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Arms the fiber to run entry(arg) from the top of its stack at the next resume(). The entry
  // must never return: it ends with finish().
  void start(Entry entry, void* arg);
  // From the scheduler: runs the fiber until it calls suspend() or finish().
  void resume();
  // From inside the fiber: back to the scheduler; resume() continues after this call.
  void suspend();
  // From inside the fiber, its last act: back to the scheduler for good (until the next start()).
  [[noreturn]] void finish();

  // The running fiber of this OS thread (nullptr on the scheduler's own stack).
  static Fiber* current();

  // ThreadSanitizer only (no-op otherwise): a release on `addr` in this fiber's name, from the
  // scheduler, for a fiber abandoned at a fault, which will never run its own.
  void release_as(void* addr);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace emu
}  // namespace kdcu
