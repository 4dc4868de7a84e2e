#!/usr/bin/env bash
# Runs kdcu's GPU test binary under NVIDIA compute-sanitizer: memcheck (out-of-bounds, misaligned
# and freed-memory accesses, CUDA API errors) and racecheck (shared-memory races), one tool after
# the other, each fail-fast (--gtest_fail_fast) and with its own wall-clock limit. Needs a GPU and
# a CUDA build (scripts/gpu_check.sh builds build/gpu; any build with -DKDCU_CUDA=ON works).
#   scripts/sanitize.sh [--build-dir build/gpu] [--out DIR] [--tools memcheck,racecheck]
#                       [--filter 'Cuda*'] [--timeout SECONDS_PER_TOOL] [--dry-run]
#     --build-dir  the CUDA build holding tests/kdcu_tests_gpu       (default build/gpu)
#     --out        folder for sanitize-<tool>.log                    (default <build-dir>/sanitize)
#     --tools      comma list of memcheck, racecheck, initcheck, synccheck (default memcheck,racecheck)
#     --filter     gtest filter of the tests to run                  (default 'Cuda*': every GPU suite)
#     --timeout    limit of each tool's run in seconds               (default 180)
#     --dry-run    print the commands, run nothing (works without a GPU)
# Env: KDCU_COMPUTE_SANITIZER (path of compute-sanitizer), KDCU_SANITIZE_EXTRA (more tool options).
# Prints one line per tool, "sanitize: <tool>: PASS|FAIL|TIMEOUT <what>", and exits
#   0 every tool clean, 1 a tool found errors, a test failed or a tool timed out,
#   2 no GPU ("no GPU: nvidia-smi not found or no device"), 3 compute-sanitizer not found (nothing
#   run), 4 the GPU test binary is missing (build first), 5 bad arguments.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 5

build_dir=build/gpu
out=""
tools=memcheck,racecheck
filter='Cuda*'
limit=180
dry=0
usage() { sed -n '2,19p' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="${2:?--build-dir needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --tools) tools="${2:?--tools needs a value}"; shift 2 ;;
    --filter) filter="${2:?--filter needs a value}"; shift 2 ;;
    --timeout) limit="${2:?--timeout needs a value}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "sanitize.sh: unknown option '$1'" >&2; usage >&2; exit 5 ;;
  esac
done
[ -n "$out" ] || out="$build_dir/sanitize"
if ! [[ "$limit" =~ ^[0-9]+$ ]] || [ "$limit" -lt 10 ]; then
  echo "sanitize.sh: --timeout must be a whole number of seconds >= 10, found '$limit'" >&2
  exit 5
fi
IFS=',' read -r -a tool_list <<< "$tools"
for t in "${tool_list[@]}"; do
  case "$t" in
    memcheck|racecheck|initcheck|synccheck) ;;
    *) echo "sanitize.sh: unknown tool '$t' (expected memcheck, racecheck, initcheck, synccheck)" >&2; exit 5 ;;
  esac
done

have_gpu() {
  command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L 2> /dev/null | grep -q '^GPU [0-9]'
}
find_sanitizer() {
  local c
  for c in "${KDCU_COMPUTE_SANITIZER:-}" /usr/local/cuda/bin/compute-sanitizer \
           /usr/local/cuda/compute-sanitizer/compute-sanitizer "$(command -v compute-sanitizer 2> /dev/null)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

if ! have_gpu; then
  if [ "$dry" -eq 0 ]; then
    echo "no GPU: nvidia-smi not found or no device"
    exit 2
  fi
  echo "sanitize: (dry run) no GPU: nvidia-smi not found or no device; a real run would exit 2 here"
fi
sanitizer="$(find_sanitizer)"
if [ -z "$sanitizer" ]; then
  if [ "$dry" -eq 0 ]; then
    echo "sanitize: skipped: compute-sanitizer not found (looked at \$KDCU_COMPUTE_SANITIZER," \
         "/usr/local/cuda/bin, /usr/local/cuda/compute-sanitizer and PATH)"
    exit 3
  fi
  sanitizer=/usr/local/cuda/bin/compute-sanitizer
  echo "sanitize: (dry run) compute-sanitizer not found; a real run would exit 3 here"
fi
binary="$build_dir/tests/kdcu_tests_gpu"
if [ ! -x "$binary" ] && [ "$dry" -eq 0 ]; then
  echo "sanitize: error: $binary not found; build it first (cmake --build $build_dir --target kdcu_tests_gpu)"
  exit 4
fi
[ "$dry" -eq 1 ] || mkdir -p "$out"

status=0
for tool in "${tool_list[@]}"; do
  log="$out/sanitize-$tool.log"
  args=(--tool "$tool" --error-exitcode 99 --print-limit 50)
  # shellcheck disable=SC2206  # KDCU_SANITIZE_EXTRA is a list of options, split on spaces on purpose
  [ -n "${KDCU_SANITIZE_EXTRA:-}" ] && args+=(${KDCU_SANITIZE_EXTRA})
  cmd=(timeout -k 10 "$limit" env KDCU_REQUIRE_CUDA=1 KDCU_POISON_ALLOCATIONS=1
       "$sanitizer" "${args[@]}" "$binary" "--gtest_filter=$filter" --gtest_fail_fast --gtest_color=no)
  if [ "$dry" -eq 1 ]; then
    printf '[dry-run] %s > %s\n' "$(printf '%q ' "${cmd[@]}")" "$log"
    continue
  fi
  start=$(date +%s)
  { printf '$ %s\n' "$(printf '%q ' "${cmd[@]}")"; } > "$log"
  "${cmd[@]}" >> "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  echo "[exit $rc after ${secs}s]" >> "$log"
  # compute-sanitizer's last word: "ERROR SUMMARY: 0 errors" or "RACECHECK SUMMARY: 0 hazards ...".
  found="$(grep -E '(ERROR|RACECHECK|INITCHECK|SYNCCHECK) SUMMARY' "$log" | tail -n 1 | sed 's/^========= //')"
  passed="$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)"
  failed="$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)"
  what="${passed:-0} tests passed${failed:+, $failed failed}; ${found:-no sanitizer summary}; ${secs}s; $log"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "sanitize: $tool: TIMEOUT after ${limit}s; $what"
    status=1
  elif [ "$rc" -eq 99 ]; then
    echo "sanitize: $tool: FAIL (sanitizer errors) $what"
    grep -m 5 -E '^========= (Invalid|Error|Program hit|ERROR|Race|Warning)' "$log" | sed 's/^/  /'
    status=1
  elif [ "$rc" -ne 0 ]; then
    echo "sanitize: $tool: FAIL (exit $rc: a test failed or the tool could not run) $what"
    grep -m 5 -E '^\[  FAILED  \]|error:|Error:' "$log" | sed 's/^/  /'
    status=1
  else
    echo "sanitize: $tool: PASS $what"
  fi
done
exit "$status"
