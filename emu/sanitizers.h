// Which sanitizer this translation unit is built with (GCC's and clang's spellings), for the
// fibers' announcements: KDCU_EMU_ASAN, KDCU_EMU_TSAN.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define KDCU_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KDCU_EMU_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define KDCU_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KDCU_EMU_TSAN 1
#endif
#endif
