#!/usr/bin/env bash
# Builds kdcu's libFuzzer targets with clang (ASan + UBSan) and runs each for a while, seeded with
# the committed files of the formats it parses. A crash leaves its input in build/fuzz/crashes/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
scripts/setup.sh --with-fuzz
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKDCU_FUZZ=ON \
  -DKDCU_CUDA=OFF -DKDCU_BUILD_TESTS=OFF -DKDCU_BUILD_BENCH=OFF > build-fuzz-configure.log \
  || { cat build-fuzz-configure.log; exit 1; }
rm -f build-fuzz-configure.log
cmake --build build/fuzz -j "$(nproc)" --target kdcu_fuzzers
mkdir -p build/fuzz/crashes
run() {  # target, seed directory
  local corpus="build/fuzz/corpus/$1"
  mkdir -p "$corpus"
  cp -n "$2"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzzing $1 for ${seconds}s (seeds: $2)"
  ASAN_OPTIONS=detect_leaks=1 "build/fuzz/fuzz/$1" -max_total_time="$seconds" -max_len=65536 \
    -artifact_prefix=build/fuzz/crashes/ -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
}
run fuzz_safetensors tests/golden
run fuzz_idx fuzz/seeds/idx
run fuzz_cifar fuzz/seeds/cifar
echo "fuzz: no crash"
