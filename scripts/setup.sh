#!/usr/bin/env bash
# Installs the Debian packages kdcu needs to build, test and run, and nothing that is already
# there. Idempotent: a second run installs nothing. Needs root (apt-get); says what it installs.
#   scripts/setup.sh              build + test + run dependencies
#   scripts/setup.sh --with-torch also Debian's PyTorch (only to regenerate golden files / peer benchmarks)
#   scripts/setup.sh --with-fuzz  also clang and libFuzzer (scripts/fuzz.sh)
#   scripts/setup.sh --with-emu   also clang (the CUDA emulation build, preset emu)
# The CUDA toolkit is not a Debian package here: when nvcc is at /usr/local/cuda (or on PATH),
# the build uses it; otherwise kdcu builds its CPU backend only.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config   # toolchain (CMake >= 3.25 for the presets)
  libgtest-dev                            # GoogleTest
  libopenblas-openmp-dev                  # BLAS for the CPU GEMMs (OpenMP flavour: one thread pool with kdcu's loops)
  nlohmann-json3-dev                      # safetensors headers, --json output
  libcli11-dev                            # the kdcu command line
  zlib1g-dev libstb-dev                   # datasets: .gz IDX files, image folders
  dataset-fashion-mnist                   # the default data: /usr/share/datasets/fashion-mnist
)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch python3-numpy) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;;
    --with-emu) packages+=(clang libclang-rt-14-dev) ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --with-torch, --with-fuzz, --with-emu)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} required Debian packages are installed"
  exit 0
fi

echo "setup: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: error: installing packages needs root. Run 'sudo $0 $*' (or as root), or install them yourself:" >&2
  echo "  apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
