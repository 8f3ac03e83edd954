#!/usr/bin/env bash
# One command from a fresh clone to the main job: install dependencies, build,
# fetch the default model, and run it. Today the main job is a greedy generation with
# `corvid run`; it becomes `corvid chat` when the chat program lands (issue 6).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install_deps.sh
make
model=$(python3 scripts/fetch_model.py)
prompt=${1:-"The three most useful things to pack for a day hike are"}
echo
echo "== corvid run -m $model -p \"$prompt\" -n 48 --temp 0"
./build/tools/corvid run -m "$model" -p "$prompt" -n 48 --temp 0
