#!/usr/bin/env bash
# Installs what is missing, builds kdcu (Release) and runs the main job.
# For now the main job is `kdcu demo`: a linear softmax classifier trained on synthetic data —
# a smoke test of the tensor/autograd/ops stack, NOT the teacher -> student pipeline, which
# does not exist yet. Extra arguments go to the kdcu command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)" --target kdcu_cli
exec build/default/apps/kdcu demo "$@"
