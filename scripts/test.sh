#!/usr/bin/env bash
# Installs what is needed (the test-only Ceph radosgw and clang's libFuzzer included), builds, and
# runs the whole test suite (unit, golden, end-to-end), then each fuzz target briefly under ASan
# and UBSan (scripts/fuzz.sh; FUZZ_SECONDS per target, default 15; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test-servers --fuzz
./scripts/check_layers.py   # docs/design.md's layer table holds for every #include
./scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)" --timeout 900)
if [ "${FUZZ_SECONDS:-15}" != 0 ]; then
  ./scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-15}"
fi
