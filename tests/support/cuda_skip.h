// GPU tests start with KDCU_REQUIRE_GPU(): where CUDA is unavailable the test is skipped with
// the reason ("CUDA unavailable: ..."), unless KDCU_REQUIRE_CUDA=1, which turns it into a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "core/cuda_runtime.h"

namespace kdcu {
namespace testing {
inline bool cuda_required() {
  const char* v = std::getenv("KDCU_REQUIRE_CUDA");
  return v && std::strcmp(v, "1") == 0;
}
}  // namespace testing
}  // namespace kdcu

#define KDCU_REQUIRE_GPU()                                                                             \
  do {                                                                                                 \
    if (!::kdcu::cuda::available()) {                                                                  \
      if (::kdcu::testing::cuda_required())                                                            \
        FAIL() << "KDCU_REQUIRE_CUDA=1 but CUDA unavailable: " << ::kdcu::cuda::availability().reason; \
      GTEST_SKIP() << "CUDA unavailable: " << ::kdcu::cuda::availability().reason;                     \
    }                                                                                                  \
  } while (0)
