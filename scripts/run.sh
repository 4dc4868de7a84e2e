#!/usr/bin/env bash
# Installs what is missing, builds kdcu (Release) and runs the main job: `kdcu pipeline` on the
# real Fashion-MNIST (teacher resnet20, baseline and distilled cnn_small students, report.md and
# curves.svg in runs/pipeline), on a GPU when one is usable, else on the CPU. Extra arguments go
# to `kdcu pipeline` (e.g. --seeds 3, --preset full, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)" --target kdcu_cli
exec build/default/apps/kdcu pipeline "$@"
