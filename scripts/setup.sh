#!/usr/bin/env bash
# One command from a fresh clone to the main job: install dependencies, build, fetch
# the default model, and open a chat with it. Extra arguments go to `corvid chat`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install_deps.sh
make
model=$(python3 scripts/fetch_model.py)
echo
echo "== corvid chat -m $model $*"
exec ./build/tools/corvid chat -m "$model" "$@"
