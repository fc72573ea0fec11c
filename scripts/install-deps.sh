#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and benchmark
# Broadcaster for CAF. Safe to run again: packages already present are
# skipped by apt-get. Run as root, or with sudo available.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git
  # libraries
  libcaf-dev libboost-dev libboost-test-dev libboost-system-dev
  libboost-program-options-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libhiredis-dev librdkafka-dev libpq-dev
  # servers and clients started by the tests
  redis-server redis-tools
  # browser tests
  chromium
  # benchmarks
  gnuplot-nox
)

missing=()
# Node.js and npm drive the browser test. Machines that already have them
# (possibly from another source than Debian) keep their own.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
      | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
