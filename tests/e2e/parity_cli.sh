#!/usr/bin/env bash
# `baton parity` on the golden cases: exit 0 and every item ok; a wrong pairing must fail.
set -uo pipefail
BATON="$1"; SRC="$2"; G="$SRC/tests/data/golden"
fail() { echo "FAIL: $*"; exit 1; }
for c in qwen2 qwen2-tied llama; do
  out=$("$BATON" parity --model "$G/$c/model" --adapter "$G/$c/adapter" \
        --reference "$G/$c/reference.safetensors" 2>&1) || fail "$c: exit $?: $out"
  echo "$out"
  for item in logits batch_logits generation lora_logits lora_loss; do
    grep -qE "^$item +ok " <<<"$out" || fail "$c: item $item not ok"
  done
done
# The llama model against qwen2's reference: logits differ, so parity must fail with exit 1.
out=$("$BATON" parity --model "$G/llama/model" --reference "$G/qwen2/reference.safetensors" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "mismatched pairing exited $rc, want 1: $out"
grep -q "parity: FAILED" <<<"$out" || fail "mismatched pairing did not report FAILED"
# A missing reference is a clear error naming the file.
out=$("$BATON" parity --model "$G/llama/model" --reference /nonexistent/ref.safetensors 2>&1)
[ $? -ne 0 ] && grep -q "/nonexistent/ref.safetensors" <<<"$out" || fail "missing reference: $out"
# Unknown flags are errors.
"$BATON" parity --model x --reference y --bogus 1 >/dev/null 2>&1 && fail "unknown flag accepted"
echo "e2e parity: all checks passed"
