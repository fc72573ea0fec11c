#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite
# with CTest. The suites start their own throwaway servers (redis-server,
# headless Chromium, broadcaster nodes) on free loopback ports.
#
# Environment:
#   BUILD_DIR   build folder (default: build)
#   CTEST_ARGS  extra arguments for ctest, e.g. "-L unit"
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
bash scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" -j2
cd "$build_dir"
# shellcheck disable=SC2086
ctest --output-on-failure --timeout 900 ${CTEST_ARGS:-}
