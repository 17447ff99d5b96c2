#!/usr/bin/env bash
# scripts/check_layers.py: passes on the project, and fails, naming file and line, on a tree that
# breaks docs/design.md's layer table (an include upwards, in both spellings and as a relative
# path, an include of test code, a folder the table does not list).
set -uo pipefail
SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

python3 "$SRC/scripts/check_layers.py" "$SRC" >"$T/ok.txt" 2>&1 || fail "the project: $(cat "$T/ok.txt")"
grep -q "follow docs/design.md" "$T/ok.txt" || fail "no summary: $(cat "$T/ok.txt")"

# A copy of the table over empty folders, then one violation at a time.
mkdir -p "$T/tree/docs" && cp "$SRC/docs/design.md" "$T/tree/docs/"
for d in "$SRC"/src/*/; do mkdir -p "$T/tree/src/$(basename "$d")"; done
python3 "$SRC/scripts/check_layers.py" "$T/tree" >/dev/null || fail "an empty tree must pass"
check() {  # FILE CONTENT EXPECTED-MESSAGE
  printf '%s\n' "$2" >"$T/tree/$1"
  out=$(python3 "$SRC/scripts/check_layers.py" "$T/tree" 2>&1) && fail "passed with $1: $2"
  grep -qF "$3" <<<"$out" || fail "for $1 ($2) want '$3', got: $out"
  rm -f "$T/tree/$1"
}
check src/base/a.h '#include "run/layout.h"' "src/base/a.h:1: src/base/ includes src/run/"
check src/base/a.h '#include <train/trainer.h>' "src/base/a.h:1: src/base/ includes src/train/"
check src/run/b.cc $'// x\n#include "../ckpt/lease.h"' "src/run/b.cc:2: src/run/ includes src/ckpt/"
check src/fleet/c.cc '#include "agent/agent.h"' "src/fleet/ includes src/agent/"
check src/store/d.cc '#include "tests/fault_injection_store.h"' "includes test code"
# A test file next to the code may use any layer.
printf '#include "cli/commands.h"\n' >"$T/tree/src/base/e_test.cc"
python3 "$SRC/scripts/check_layers.py" "$T/tree" >/dev/null || fail "tests are exempt"
mkdir -p "$T/tree/src/newfolder"
out=$(python3 "$SRC/scripts/check_layers.py" "$T/tree" 2>&1) && fail "an unlisted folder passed"
grep -qF "src/newfolder/: not in the layer table" <<<"$out" || fail "unlisted folder: $out"
echo "PASS"
