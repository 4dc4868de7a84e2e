# Compile settings shared by every kdcu target: warnings, sanitizers, include root.

set(KDCU_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
if(KDCU_TSAN)
  if(KDCU_SANITIZE)
    message(FATAL_ERROR "KDCU_TSAN and KDCU_SANITIZE (ASan) cannot be combined; choose one")
  endif()
  set(KDCU_SANITIZE_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
endif()
if(KDCU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KDCU_FUZZ=ON needs clang (libFuzzer); found ${CMAKE_CXX_COMPILER_ID}. Configure with CXX=clang++ "
                        "(scripts/fuzz.sh does).")
  endif()
  set(KDCU_SANITIZE ON)
  # Every library is instrumented for coverage so the fuzzer sees inside the parser.
  list(APPEND KDCU_SANITIZE_FLAGS -fsanitize=fuzzer-no-link)
endif()

function(kdcu_target_defaults target)
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>"
    "$<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>")
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wno-unknown-pragmas>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${KDCU_WERROR}>>:-Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall,-Wextra>)
  if(KDCU_SANITIZE OR KDCU_TSAN)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${KDCU_SANITIZE_FLAGS}>)
    target_link_options(${target} PUBLIC ${KDCU_SANITIZE_FLAGS})
  endif()
endfunction()
