#!/usr/bin/env bash
# Issue 15's fleet bookkeeping through `baton run`: the demo (examples/demo.yaml, its market keyed
# to the run's steps), whose uninterrupted run e2e.fleet_run checks, with its controller killed
# right after it gave the first spot instance its preemption notice (kill point
# local_fleet.after_notice: the process exits 137, its fake metadata servers with it, while the
# agents run on), and `baton run` started again. The restarted controller delivers the notice
# again, so the run tells the uninterrupted run's story (the first instance is preempted with
# notice, not killed when the window runs out: one interruption without notice, the scripted
# one), and bills every instance once, from its launch to its real end (its agent's final
# heartbeat, or the provider's SIGKILL): nothing twice, nothing past its end.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
source "$SRC/tests/e2e/lib/demo.sh"
demo_setup
sed 's|^store: .*|store: .cache/b/bucket|' "$SRC/examples/demo.yaml" >b.yaml

BATON_KILL_AT=local_fleet.after_notice "$BATON" run b.yaml --fresh --work_dir wb >b1.out 2>b1.log
rc=$?
[ "$rc" = 137 ] || { cat b1.log; fail "run B's controller exited $rc, not at its kill point (137)"; }
grep -q '"noticed": true' wb/local-fleet.json || fail "the notice was not saved before it was sent"
"$BATON" run b.yaml --work_dir wb >b2.out 2>b2.log || { cat b1.log b2.log; fail "run B after the restart"; }
cat b1.log b2.log b2.out
grep -q "delivering its preemption notice again" b2.log || fail "the restart did not deliver the notice again"

python3 - wb .cache/b/bucket <<'PY' || fail "the report"
import json, sys
wb, bucket = sys.argv[1:]
b = json.load(open(wb + "/report.json"))
print({k: b[k] for k in ("complete", "cost", "interruptions", "interruptions_without_notice")},
      [(l["instance"], l["end"], round(l["seconds"]), round(l["cost"], 3)) for l in b["ledger"]])
# e2e.fleet_run's story of the uninterrupted run.
want = [("spot", "preempted"), ("spot", "killed"), ("spot", "preempted"),
        ("on-demand", "stopped"), ("spot", "completed")]
story = [(l["billing"], l["end"]) for l in b["ledger"]]
assert story == want, f"the story went {story}, not {want}"
assert b["complete"] and b["interruptions_without_notice"] == 1
# Each instance is billed once, from its launch to its real end.
state = json.load(open(wb + "/local-fleet.json"))
scale, t0 = state["time_scale"], state["start_unix_ms"]
lines = {l["instance"]: l for l in b["ledger"]}
assert len(lines) == len(b["ledger"]) == len(state["instances"]), "an instance billed twice"
for i in state["instances"]:
    hb = json.load(open(f"{bucket}/agents/{i['id']}.json"))
    if i["end_reason"] == "killed":
        end = i["killed_at"]  # the provider's SIGKILL: no final heartbeat
    else:
        assert hb["state"] in ("stopped", "complete"), (i["id"], hb["state"])
        end = (hb["updated_unix_ms"] - t0) / 1000 * scale
    billed = lines[i["id"]]["seconds"]
    assert abs(billed - (end - i["launched_at"])) < 1, (i["id"], billed, end, i["launched_at"])
# The bill is not compared with the uninterrupted run's: the demo's clock is real time x60, so
# two runs never bill alike (a loaded machine trains slower and pays more). What the restart
# adds is bounded and right: the first instance trained on past its notice while no controller
# was there to tell it, at most the downtime x its price; it was live, so it is billed.
PY
echo "e2e fleet_restart: all checks passed"
