#!/usr/bin/env bash
# Installs what is missing, builds broadcaster-chat and starts it on
# memory:// at http://127.0.0.1:8000/ (pass other options through, such as
# --port=9000 or --backend=redis://127.0.0.1:6379).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2 --target broadcaster-chat
exec ./build/apps/chat/broadcaster-chat "$@"
