#!/usr/bin/env bash
# Builds the library and its unit tests with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the unit tests. Timeouts inside the
# tests are scaled up, since instrumented code runs slower.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-sanitize}
bash scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug \
  -DBROADCASTER_SANITIZE=address,undefined \
  -DBROADCASTER_BUILD_APPS=OFF -DBROADCASTER_BUILD_BENCHMARKS=OFF
cmake --build "$build_dir" -j2
export BROADCASTER_TEST_TIMEOUT_SCALE=${BROADCASTER_TEST_TIMEOUT_SCALE:-4}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build_dir"
ctest --output-on-failure --timeout 1800 -L unit
