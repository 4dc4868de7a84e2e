#!/usr/bin/env bash
# One call on a GPU machine does everything a GPU session should: build the CUDA backend, run the
# GPU tests with KDCU_REQUIRE_CUDA=1 (a skip is a failure), the benchmarks (fused vs composed KD
# loss, vs PyTorch on the same GPU, training steps), the default pipeline on the GPU, the other
# tests, and compute-sanitizer memcheck, each step with its own time limit inside one overall
# budget (a step that would not fit is skipped and says so). Everything goes to --out: summary.md
# (one line per step: status, seconds, the log's last lines on failure) and gpu_check.tar.gz (all
# logs, bench JSON, the pipeline's report), so that few files come back.
#   scripts/gpu_check.sh [--deps DIR] [--out DIR] [--budget SECONDS] [--arch 90] [--jobs N]
#                        [--build-dir build/gpu] [--no-sanitize] [--dry-run]
#     --deps     Debian packages from scripts/gpu_deps.sh, unpacked into /tmp/kdcu-deps (never /)
#     --out      where summary.md and gpu_check.tar.gz go     (default $OUT, else build/gpu-check)
#     --budget   seconds for all steps together                 (default 540)
#     --arch     CMAKE_CUDA_ARCHITECTURES                       (default 90: H100/H200)
#     --dry-run  print the steps and their limits, run nothing  (works anywhere)
# On the device tool:  run(command="scripts/gpu_check.sh --deps .gpu-deps", carry=[".gpu-deps"],
#                          timeout_s=600)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

deps="" out="${OUT:-}" budget=540 arch=90 jobs=$(nproc) build=build/gpu sanitize=1 dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --deps) deps="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --budget) budget="${2:?}"; shift 2 ;;
    --arch) arch="${2:?}"; shift 2 ;;
    --jobs) jobs="${2:?}"; shift 2 ;;
    --build-dir) build="${2:?}"; shift 2 ;;
    --no-sanitize) sanitize=0; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="$root/build/gpu-check"
if [ -n "$deps" ]; then
  [ -d "$deps" ] || { echo "gpu_check.sh: --deps $deps is not a folder (make it with scripts/gpu_deps.sh)" >&2; exit 2; }
  deps=$(cd "$deps" && pwd)
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$(mktemp -d /tmp/kdcu-gpu-check.XXXXXX)
summary="$out/summary.md"
start_all=$(date +%s)
failures=0

{
  echo "# kdcu GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- commit: $(git rev-parse --short HEAD 2> /dev/null || echo unknown)$(git diff --quiet HEAD 2> /dev/null || echo ' (with uncommitted changes)')"
  echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -n 1 || echo none)"
  echo "- CPU cores: $(nproc); budget ${budget}s"
  echo
  echo "| step | status | seconds | limit |"
  echo "| --- | --- | --- | --- |"
} > "$summary"

# step NAME LIMIT COMMAND...: runs COMMAND with its output in $logs/NAME.log, within LIMIT seconds
# and what is left of the budget.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$(( budget - ($(date +%s) - start_all) ))
  [ "$limit" -le "$left" ] || limit=$left
  if [ "$dry" -eq 1 ]; then
    printf '[dry-run] %-16s limit %4ss: %s\n' "$name" "$limit" "$*"
    return 0
  fi
  if [ "$limit" -lt 15 ]; then
    echo "| $name | SKIPPED (budget spent) | 0 | - |" >> "$summary"
    echo "gpu_check: $name skipped: the budget is spent"
    return 1
  fi
  echo "gpu_check: $name (limit ${limit}s)"
  local t0=$(date +%s) rc
  timeout -k 5 "$limit" bash -c "$*" > "$logs/$name.log" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - t0 ))
  local status=PASS
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="TIMEOUT"; elif [ "$rc" -ne 0 ]; then status="FAIL (exit $rc)"; fi
  echo "| $name | $status | $secs | $limit |" >> "$summary"
  echo "gpu_check: $name: $status after ${secs}s"
  if [ "$status" != PASS ]; then
    failures=$(( failures + 1 ))
    { echo; echo "<details><summary>$name: last lines</summary>"; echo; echo '```';
      grep -v '^\[.*\] .*step [0-9]' "$logs/$name.log" | tail -n 25; echo '```'; echo "</details>"; echo; } >> "$out/failures.md"
    return 1
  fi
}

# Where the GPU machine lacks them: the Debian packages, unpacked into a private prefix.
cmake_hints=()
if [ -n "$deps" ]; then
  prefix=/tmp/kdcu-deps
  if [ "$dry" -eq 0 ]; then
    mkdir -p "$prefix"
    for f in "$deps"/*.deb; do
      if command -v dpkg-deb > /dev/null; then
        dpkg-deb -x "$f" "$prefix"
      else  # a .deb is an ar archive holding data.tar.{xz,zst,gz}
        tmp=$(mktemp -d) && (cd "$tmp" && ar x "$f" && tar -xf data.tar.* -C "$prefix"); rm -rf "$tmp"
      fi
    done
  fi
  lib="$prefix/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$lib/openblas-openmp:$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cmake_hints+=(-DBLAS_openblas_LIBRARY="$lib/openblas-openmp/libopenblas.so"
                -DKDCU_CBLAS_INCLUDE="$prefix/usr/include/x86_64-linux-gnu/openblas-openmp"
                -DGTest_DIR="$lib/cmake/GTest" -Dnlohmann_json_DIR="$prefix/usr/share/cmake/nlohmann_json"
                -DCLI11_DIR="$prefix/usr/share/cmake/CLI11" -DKDCU_STB_INCLUDE="$prefix/usr/include"
                -DZLIB_INCLUDE_DIR="$prefix/usr/include" -DZLIB_LIBRARY="$lib/libz.a")
  # The data set where kdcu looks for it (the machine is bare and given back after the session).
  if [ "$dry" -eq 0 ] && [ ! -e /usr/share/datasets/fashion-mnist ] && [ -d "$prefix/usr/share/datasets/fashion-mnist" ]; then
    mkdir -p /usr/share/datasets && cp -r "$prefix/usr/share/datasets/fashion-mnist" /usr/share/datasets/
  fi
fi
# cuDNN from the toolkit, else from the nvidia-cudnn Python wheel.
if [ ! -e /usr/local/cuda/include/cudnn.h ] && [ ! -e /usr/include/cudnn.h ]; then
  cudnn_dir=$(python3 -c 'import nvidia.cudnn as c; print(list(c.__path__)[0])' 2> /dev/null)
  if [ -n "$cudnn_dir" ] && [ -e "$cudnn_dir/include/cudnn.h" ]; then
    cudnn_lib=$(ls "$cudnn_dir"/lib/libcudnn.so* 2> /dev/null | head -n 1)
    cmake_hints+=(-DKDCU_CUDNN_INCLUDE="$cudnn_dir/include" -DKDCU_CUDNN_LIBRARY="$cudnn_lib")
    export LD_LIBRARY_PATH="$cudnn_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
hints=$(printf '%q ' "${cmake_hints[@]}")
bin="$build/apps/kdcu"
export KDCU_REQUIRE_CUDA=1

step environment 20 "nvidia-smi; nvcc --version; g++ --version | head -n 1; ldd --version | head -n 1; cmake --version | head -n 1; echo LD_LIBRARY_PATH=\$LD_LIBRARY_PATH"
step configure 90 "cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKDCU_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$arch -DKDCU_BUILD_TESTS=ON $hints" &&
step build 300 "cmake --build $build -j $jobs" && {
  step kdcu_info 20 "$bin info"
  step test_gpu 150 "ctest --test-dir $build -L gpu -j 8 --output-on-failure --timeout 120"
  step bench_kd_cuda 60 "$build/bench/bench_kd_cuda && $build/bench/bench_kd_cuda --json > $logs/bench_kd_cuda.jsonl"
  step bench_bn_cuda 40 "$build/bench/bench_bn_cuda"
  step bench_vs_torch 90 "python3 bench/compare_torch_cuda.py --bench $build/bench/bench_kd_cuda"
  step bench_train_step 180 "timeout -k 5 150 python3 bench/compare_torch_train.py --bench $build/bench/bench_train_step --device cuda --batch 256 --steps 20 || { echo 'compare_torch_train.py failed: bench_train_step alone'; for m in cnn_small resnet20; do $build/bench/bench_train_step --model \$m --batch 256 --steps 20 --device cuda; done; }"
  step pipeline_default 240 "$bin pipeline --device cuda --out $logs/pipeline --json > $logs/pipeline.json"
  step test_cpu_slow 200 "ctest --test-dir $build -LE gpu -j $jobs --output-on-failure --timeout 180"
  if [ "$sanitize" -eq 1 ]; then
    step memcheck 150 "scripts/sanitize.sh --build-dir $build --tools memcheck --timeout 140 --out $logs"
  fi
}

if [ "$dry" -eq 1 ]; then rm -rf "$logs"; exit 0; fi
total=$(( $(date +%s) - start_all ))
{ echo; echo "total ${total}s, $failures step(s) not passing"; } >> "$summary"
for f in bench_kd_cuda bench_bn_cuda bench_vs_torch bench_train_step; do
  [ -s "$logs/$f.log" ] && { echo; echo "## $f"; echo; echo '```'; cat "$logs/$f.log"; echo '```'; } >> "$summary"
done
[ -s "$logs/pipeline/report.md" ] && { echo; echo "## pipeline report"; echo; cat "$logs/pipeline/report.md"; } >> "$summary"
tar -C "$logs" -czf "$out/gpu_check.tar.gz" --exclude='*.safetensors' . 2> /dev/null
rm -rf "$logs"
cat "$summary"
[ -f "$out/failures.md" ] && cat "$out/failures.md"
[ "$failures" -eq 0 ]
