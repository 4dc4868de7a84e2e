#!/usr/bin/env bash
# Installs what is missing, builds kdcu and runs the whole test suite.
#   scripts/test.sh                  the default preset (Release; CUDA compiled when nvcc is found)
#   scripts/test.sh --preset asan    AddressSanitizer + UBSan build, CPU tests
#   scripts/test.sh --label cpu      only tests with that ctest label (cpu, gpu, slow)
#   scripts/test.sh --preset emu     the CUDA backend on kdcu's SIMT emulator (emu/README.md): the
#                                    emulator's own tests and every GPU test under the forward,
#                                    reverse and random schedules, then the quick pipeline on the emulated
#                                    device against the CPU (no GPU needed; about 15 minutes)
# GPU tests skip with the reason where there is no GPU; KDCU_REQUIRE_CUDA=1 makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=default
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --label) ctest_args+=(-L "$2"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

case "$preset" in
  emu*) scripts/setup.sh --with-emu ;;  # the emulation build is compiled by clang
  *) scripts/setup.sh ;;
esac
jobs=$(nproc)
echo "== configure ($preset)"
cmake --preset "$preset"
echo "== build ($preset, $jobs jobs)"
cmake --build --preset "$preset" -j "$jobs"
echo "== test ($preset)"
status=0
if [[ "$preset" == emu* && ${#ctest_args[@]} -eq 0 ]]; then
  # The CPU tests are the default build's; here: what runs on the emulated device.
  ctest --preset "$preset" -j "$jobs" -L 'emu|gpu' || status=$?
  for schedule in reverse random:1; do
    echo "== test ($preset, GPU tests under the $schedule schedule)"
    KDCU_EMU_SCHEDULE=$schedule ctest --preset "$preset" -j "$jobs" -L gpu || status=$?
  done
  echo "== test ($preset, the quick pipeline on the emulated device vs the CPU)"
  ctest --preset "$preset" -L slow -R 'OnCudaMatchesTheCpuRun' || status=$?
else
  ctest --preset "$preset" -j "$jobs" "${ctest_args[@]}" || status=$?
fi
# ctest lists skipped tests without the reason; the reason is the line after gtest's "Skipped".
log="build/$preset/Testing/Temporary/LastTest.log"
if [ -f "$log" ] && grep -q ': Skipped$' "$log"; then
  echo "== skipped tests, by reason"
  grep -A1 ': Skipped$' "$log" | grep -v -e ': Skipped$' -e '^--$' | sort | uniq -c
fi
exit "$status"
