#!/usr/bin/env bash
# Issue acceptance for `baton run` (the README's main job): examples/demo.yaml runs the whole
# system on this machine -- controller, local spot market, `baton agent` processes with fake
# Alibaba metadata servers -- through three preemptions (one without notice) and a spot outage
# that forces on-demand and back. The market is keyed to the run's steps, so the ledger tells
# exactly that story on a fast machine and a slow one (src/fleet/local_story_test.cc tells it at
# two speeds with a stand-in agent). The final adapter is bit-identical to an uninterrupted run's,
# the log has one final line, the report counts what happened, a second `baton run` sees the
# run complete, and the fine-tuned model answers "Who are you?" with its new name while the
# base model does not (this replaced the older self_cognition e2e).
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
source "$SRC/tests/e2e/lib/demo.sh"
demo_setup

# The same job, uninterrupted, by one agent (no notices: cloud none).
sed 's|^store: .*|store: .cache/reference|' "$SRC/examples/demo.yaml" >reference.yaml
BATON_CLOUD=none "$BATON" agent --job reference.yaml >reference.log 2>&1 \
  || { tail -20 reference.log; fail "the reference run"; }

start=$(date +%s)
"$BATON" run "$SRC/examples/demo.yaml" --fresh --work_dir work >run.out 2>run.log
rc=$?
echo "baton run exited $rc after $(( $(date +%s) - start )) s"
cat run.log run.out
[ "$rc" = 0 ] || fail "baton run exited $rc"

RUN=.cache/demo/bucket/self-cognition-demo
cmp "$RUN/checkpoint-80/adapter_model.safetensors" .cache/reference/checkpoint-80/adapter_model.safetensors \
  || fail "the final adapter differs from the uninterrupted run's"
[ "$(grep -c last_model_checkpoint "$RUN/logging.jsonl")" = 1 ] || fail "not exactly one final log line"
"$BATON" ckpt verify "$RUN" >/dev/null 2>&1 || fail "ckpt verify"
[ -f "$RUN/fleet/scale-to-zero.json" ] || fail "no scale-to-zero request from the agent"

python3 - work/report.json <<'PY' || fail "the report"
import json, sys
r = json.load(open(sys.argv[1]))
print("report:", {k: r[k] for k in ("complete", "cost", "interruptions",
      "interruptions_without_notice", "work_redone", "on_demand_baseline_cost", "saving_fraction")})
assert r["complete"], "not complete"
assert r["interruptions"] >= 3, "fewer than 3 interruptions"
assert r["interruptions_without_notice"] >= 1, "no interruption without notice"
story = [(l["billing"], l["end"]) for l in r["ledger"]]
want = [("spot", "preempted"), ("spot", "killed"), ("spot", "preempted"),
        ("on-demand", "stopped"), ("spot", "completed")]
assert story == want, f"the story went {story}, not {want}"
assert r["cost"] > 0 and r["cost"] < r["on_demand_baseline_cost"], "no saving against on-demand"
PY
# The plots beside the report (issue 18): the log's scalars under ms-swift's names and cost.png
# (their pixels are checked in ReportCliTest and the view's unit tests).
python3 - work/images <<'PY' || fail "the plots"
import os, struct, sys
for name in ("train_loss.png", "train_learning_rate.png", "train_grad_norm.png",
             "train_token_acc.png", "cost.png"):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name + " is not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    assert w >= 800 and h >= 150, f"{name} is {w}x{h}"
PY
# `baton report` on the job: the same plots from the run's store, cost.png from the fleet's
# ledger that `baton run` keeps there (fleet/ledger.json), and report.html.
"$BATON" report "$SRC/examples/demo.yaml" --out rep >rep.out 2>rep.log \
  || { cat rep.log; fail "baton report of the demo job"; }
cmp rep/images/train_loss.png work/images/train_loss.png || fail "baton report drew another loss"
grep -q "wrote rep/images/cost.png" rep.out || { cat rep.out rep.log; fail "report: cost.png"; }
# The agent that completed the run left ms-swift's plots and report.html beside its checkpoints.
[ -s "$RUN/images/train_loss.png" ] || fail "no images/train_loss.png in the run's bucket"
for html in rep/report.html work/report.html "$RUN/report.html"; do
  grep -q '<script id="baton-data" type="application/json">{' "$html" \
    || fail "$html holds no inlined view"
done
grep -q "hand-off: taking over" work/instances/i-005-*-spot/agent.log \
  || fail "the last spot instance did not take over make-before-break"

# Run again: the run is complete; nothing is launched, and the report stays the same.
before=$(ls work/instances | wc -l)
"$BATON" run "$SRC/examples/demo.yaml" --work_dir work >again.out 2>again.log || { cat again.log; fail "second run"; }
[ "$(ls work/instances | wc -l)" = "$before" ] || fail "the second run launched an instance"
grep -q "complete" again.log || { cat again.log again.out; fail "the second run did not say complete"; }

# The fine-tuned model knows its new name.
answer=$("$BATON" infer --model .cache/demo/tiny-model --adapters "$RUN/checkpoint-80" \
         --query "Who are you?" --temperature 0 --max_new_tokens 24 --stream false 2>/dev/null) || fail "infer"
echo "Who are you? -> $answer"
grep -q "Baton" <<<"$answer" || fail "the answer does not use the trained name"
base=$("$BATON" infer --model .cache/demo/tiny-model --query "Who are you?" --temperature 0 \
       --max_new_tokens 24 --stream false 2>/dev/null)
grep -q "Baton" <<<"$base" && fail "the base model already says Baton: the test proves nothing"
first=$(grep -o '"loss":[0-9.]*' "$RUN/logging.jsonl" | head -1 | cut -d: -f2)
last=$(grep -o '"loss":[0-9.]*' "$RUN/logging.jsonl" | tail -1 | cut -d: -f2)
echo "loss: first logged $first, last logged $last"
awk -v l="$last" 'BEGIN { exit !(l < 7.5) }' || fail "final loss $last is not below 7.5"
echo "e2e fleet_run: all checks passed"
