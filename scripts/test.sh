#!/usr/bin/env bash
# Installs what is needed (the test-only Ceph radosgw and clang's libFuzzer included), builds, and
# runs the whole test suite (unit, golden, end-to-end), then each fuzz target briefly under ASan
# and UBSan (scripts/fuzz.sh; FUZZ_RUNS inputs per target from a fixed seed, so the same code gets
# the same verdict on any machine; default 100000; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test-servers --fuzz
./scripts/check_layers.py   # docs/design.md's layer table holds for every #include
./scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)" --timeout 900)
if [ "${FUZZ_RUNS:-100000}" != 0 ]; then
  ./scripts/fuzz.sh --runs "${FUZZ_RUNS:-100000}" --seed 1
fi
