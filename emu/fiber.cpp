// Fibers (fiber.h): stacks, the context switch and the sanitizer announcements.
#include "emu/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "emu/sanitizers.h"

#ifdef KDCU_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef KDCU_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__)
// void kdcu_emu_switch(void** save_sp, void* load_sp): pushes the callee-saved registers on the
// current stack, stores the stack pointer in *save_sp, loads load_sp and pops the same frame from
// it. The x87/SSE control words are not switched: every fiber runs in the floating-point
// environment of the thread that launched the kernel, and kernels do not change it. A new
// fiber's first frame returns into the trampoline, which calls r13(r12) — the entry with its
// argument — and never comes back.
extern "C" void kdcu_emu_switch(void** save_sp, void* load_sp);
extern "C" void kdcu_emu_trampoline();
asm(R"(
  .text
  .globl kdcu_emu_switch
  .type kdcu_emu_switch, @function
kdcu_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kdcu_emu_switch, .-kdcu_emu_switch

  .globl kdcu_emu_trampoline
  .type kdcu_emu_trampoline, @function
kdcu_emu_trampoline:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size kdcu_emu_trampoline, .-kdcu_emu_trampoline
  .section .note.GNU-stack,"",@progbits
  .text
)");
#else
#include <ucontext.h>
#endif

namespace kdcu {
namespace emu {

namespace {
thread_local Fiber* t_current_fiber = nullptr;
#if !defined(__x86_64__)
thread_local void* t_starting = nullptr;  // makecontext passes int arguments only
#endif

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "kdcu emulator: %s: %s\n", what, std::strerror(errno));
  std::abort();
}
}  // namespace

struct Fiber::Impl {
  Fiber* self = nullptr;
  char* map = nullptr;  // guard page + stack
  size_t map_bytes = 0;
  char* stack_bottom = nullptr;
  size_t stack_bytes = 0;
  Entry entry = nullptr;
  void* arg = nullptr;
#if defined(__x86_64__)
  void* fiber_sp = nullptr;
  void* scheduler_sp = nullptr;
#else
  ucontext_t fiber_ctx, scheduler_ctx;
#endif
#ifdef KDCU_EMU_ASAN
  void* fiber_fake_stack = nullptr;
  void* scheduler_fake_stack = nullptr;
  const void* scheduler_bottom = nullptr;
  size_t scheduler_size = 0;
#endif
#ifdef KDCU_EMU_TSAN
  void* tsan_fiber = nullptr;
  void* tsan_scheduler = nullptr;
#endif

  // Runs on the fiber's own stack.
  static void main(void* p) {
    Impl* impl = static_cast<Impl*>(p);
#ifdef KDCU_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &impl->scheduler_bottom, &impl->scheduler_size);
#endif
    impl->entry(impl->arg);
    std::fprintf(stderr, "kdcu emulator: a fiber's entry returned instead of calling finish()\n");
    std::abort();
  }

  void switch_to_fiber() {
#ifdef KDCU_EMU_ASAN
    __sanitizer_start_switch_fiber(&scheduler_fake_stack, stack_bottom, stack_bytes);
#endif
#ifdef KDCU_EMU_TSAN
    tsan_scheduler = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(__x86_64__)
    kdcu_emu_switch(&scheduler_sp, fiber_sp);
#else
    swapcontext(&scheduler_ctx, &fiber_ctx);
#endif
#ifdef KDCU_EMU_ASAN
    __sanitizer_finish_switch_fiber(scheduler_fake_stack, nullptr, nullptr);
#endif
  }

  // dying: the fiber's fake stack (ASan) is released, as it will never be resumed from here.
  void switch_to_scheduler(bool dying) {
#ifdef KDCU_EMU_ASAN
    __sanitizer_start_switch_fiber(dying ? nullptr : &fiber_fake_stack, scheduler_bottom, scheduler_size);
#else
    (void)dying;
#endif
#ifdef KDCU_EMU_TSAN
    __tsan_switch_to_fiber(tsan_scheduler, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(__x86_64__)
    kdcu_emu_switch(&fiber_sp, scheduler_sp);
#else
    swapcontext(&fiber_ctx, &scheduler_ctx);
#endif
#ifdef KDCU_EMU_ASAN
    __sanitizer_finish_switch_fiber(fiber_fake_stack, &scheduler_bottom, &scheduler_size);
#endif
  }
};

Fiber::Fiber(size_t stack_bytes) : impl_(new Impl) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  impl_->self = this;
  impl_->stack_bytes = (stack_bytes + page - 1) / page * page;
  impl_->map_bytes = impl_->stack_bytes + page;
  void* m = mmap(nullptr, impl_->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) die("cannot map a fiber stack");
  impl_->map = static_cast<char*>(m);
  if (mprotect(impl_->map, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
  impl_->stack_bottom = impl_->map + page;
}

Fiber::~Fiber() {
#ifdef KDCU_EMU_TSAN
  if (impl_->tsan_fiber) __tsan_destroy_fiber(impl_->tsan_fiber);
#endif
  munmap(impl_->map, impl_->map_bytes);
  delete impl_;
}

void Fiber::start(Entry entry, void* arg) {
  impl_->entry = entry;
  impl_->arg = arg;
#ifdef KDCU_EMU_TSAN
  // A fresh TSan fiber per start: a thread of one block shares no history with the same thread
  // index of the block before.
  if (impl_->tsan_fiber) __tsan_destroy_fiber(impl_->tsan_fiber);
  impl_->tsan_fiber = __tsan_create_fiber(0);
#endif
#if defined(__x86_64__)
  // The frame kdcu_emu_switch pops: r15, r14, r13 = entry, r12 = arg, rbx, rbp, return address =
  // trampoline. After the return the stack pointer is 16-byte aligned, so the trampoline's call
  // enters Impl::main with the alignment the ABI requires.
  char* top = impl_->stack_bottom + impl_->stack_bytes;
  top -= reinterpret_cast<std::uintptr_t>(top) % 16;
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 72);
  std::memset(frame, 0, 56);
  frame[2] = reinterpret_cast<std::uint64_t>(&Impl::main);  // r13
  frame[3] = reinterpret_cast<std::uint64_t>(impl_);        // r12
  frame[6] = reinterpret_cast<std::uint64_t>(&kdcu_emu_trampoline);
  impl_->fiber_sp = frame;
#else
  getcontext(&impl_->fiber_ctx);
  impl_->fiber_ctx.uc_stack.ss_sp = impl_->stack_bottom;
  impl_->fiber_ctx.uc_stack.ss_size = impl_->stack_bytes;
  impl_->fiber_ctx.uc_link = nullptr;
  makecontext(&impl_->fiber_ctx, [] { Impl::main(t_starting); }, 0);

#endif
}

void Fiber::resume() {
  Fiber* outer = t_current_fiber;
  t_current_fiber = this;
#if !defined(__x86_64__)
  t_starting = impl_;
#endif
  impl_->switch_to_fiber();
  t_current_fiber = outer;
}

void Fiber::suspend() {
  impl_->switch_to_scheduler(false);
}

void Fiber::finish() {
  impl_->switch_to_scheduler(true);
  std::fprintf(stderr, "kdcu emulator: a finished fiber was resumed without a new start()\n");
  std::abort();
}

Fiber* Fiber::current() {
  return t_current_fiber;
}

void Fiber::release_as(void* addr) {
#ifdef KDCU_EMU_TSAN
  if (!impl_->tsan_fiber) return;
  void* scheduler = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(impl_->tsan_fiber, __tsan_switch_to_fiber_no_sync);
  __tsan_release(addr);
  __tsan_switch_to_fiber(scheduler, __tsan_switch_to_fiber_no_sync);
#else
  (void)addr;
#endif
}

}  // namespace emu
}  // namespace kdcu
