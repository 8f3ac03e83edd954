#!/usr/bin/env bash
# One command from a fresh clone to the main job: install dependencies, build,
# fetch the default model, and run it. Today the main job is inspecting the model
# (`corvid info`); it becomes `corvid chat` when generation lands (issues 3 and 6).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install_deps.sh
make
model=$(python3 scripts/fetch_model.py)
echo
echo "== corvid info $model"
./build/tools/corvid info --no-tensors "$model"
