#!/usr/bin/env bash
# Downloads, here, the Debian packages that a bare GPU machine lacks to build and test kdcu, into
# .gpu-deps/ (git-ignored): the machine that lends the GPU has the CUDA toolkit, cuDNN, CMake and
# ninja, but no GoogleTest, OpenBLAS, nlohmann-json, CLI11, stb, zlib headers or Fashion-MNIST,
# and it cannot download anything. scripts/gpu_check.sh --deps .gpu-deps unpacks them there into
# a private prefix (never into /). About 45 MB, 31 of them the data set.
#   scripts/gpu_deps.sh [DIR]      (default .gpu-deps; an existing complete folder is kept)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.gpu-deps}"
packages=(
  libgtest-dev                                 # GoogleTest (static libraries + CMake config)
  libopenblas0-openmp libopenblas-openmp-dev   # the CPU reference's BLAS
  libgfortran5                                 # needed by OpenBLAS at run time
  nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev
  dataset-fashion-mnist                        # the default data and the slow tests' data
)
mkdir -p "$dir"
missing=()
for p in "${packages[@]}"; do
  compgen -G "$dir/${p}_*.deb" > /dev/null || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "gpu_deps: $dir already holds all ${#packages[@]} packages ($(du -sh "$dir" | cut -f1))"
  exit 0
fi
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2> /dev/null | head -n 1)" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "gpu_deps: error: the apt package lists are missing; run 'sudo apt-get update' first" >&2
    exit 1
  fi
  apt-get update -q
fi
echo "gpu_deps: downloading ${missing[*]} into $dir"
# apt-get download writes into the current folder; as root it warns that _apt cannot write there.
(cd "$dir" && apt-get download -q "${missing[@]}" 2>&1 | grep -v "couldn't be accessed by user '_apt'" || true)
for p in "${missing[@]}"; do
  if ! compgen -G "$dir/${p}_*.deb" > /dev/null; then
    echo "gpu_deps: error: $p was not downloaded (is it in the configured Debian sources?)" >&2
    exit 1
  fi
done
grep -qxF "/$dir/" .git/info/exclude 2> /dev/null || grep -qxF "/$dir/" .gitignore ||
  echo "gpu_deps: note: add /$dir/ to .gitignore so it is not committed"
echo "gpu_deps: $dir ready ($(du -sh "$dir" | cut -f1)); carry it: run(command='scripts/gpu_check.sh --deps $dir', carry=['$dir'])"
