// Which sanitizer this translation unit is built with (GCC's and clang's spellings), for the
// fibers' announcements: KDCU_EMU_ASAN, KDCU_EMU_TSAN (also set by the KDCU_TSAN build, which
// compiles the emulator itself without instrumentation).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define KDCU_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KDCU_EMU_ASAN 1
#endif
#endif

#if defined(KDCU_EMU_TSAN)
// set by the build: the emulator is compiled without instrumentation but drives TSan's API
#elif defined(__SANITIZE_THREAD__)
#define KDCU_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KDCU_EMU_TSAN 1
#endif
#endif
