#!/usr/bin/env bash
# Installs what is needed (the test-only Ceph radosgw included), builds, and runs the whole
# test suite (unit, golden, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test-servers
./scripts/check_layers.py   # docs/design.md's layer table holds for every #include
./scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 900
