#!/usr/bin/env bash
# `baton run` against hostile jobs and flags (issue 15): a job name that climbs out of the work
# area, a typo that --fresh used to find only after deleting the run, a --work_dir that is the
# user's own folder, the user's objects beside the run in its store, a completed run run again
# (it keeps its report), and the agents' copy of a job that holds a webhook token (0600). No
# instance ever trains here: the market has no capacity, so a run gives up after a second.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T" || fail "cd"

job() {  # job NAME_LINE [MARKET_KIND] [POLICY_KEY]
  cat <<EOF
$1
model: $T/model
datasets: [self-cognition#8]
store: $T/bucket/run
train:
  max_steps: 4
hooks:
  webhooks:
    - {url: "https://hook:hunter2@example.com/send?access_token=tok123", format: generic}
fleet:
  provider: local
  ${3:-policy}: spot-only
  time_scale: 60
  offers:
    - {instance_type: t, zone: z1, spot: 1}
  market:
    kind: ${2:-scripted}
    events:
      - {at_minutes: 0, zone: z1, event: outage, minutes: 100000}
EOF
}
seed_store() {  # a checkpoint of the run, and the user's files beside it
  rm -rf "$T/bucket" && mkdir -p "$T/in" "$T/bucket/run/checkpoint-1.bak"
  echo '{"r": 8}' >"$T/in/adapter_config.json"
  "$BATON" ckpt commit "$T/bucket/run" --step 2 "$T/in/adapter_config.json" >/dev/null || fail "commit"
  echo mine >"$T/bucket/run/notes.txt"
  echo mine >"$T/bucket/run/checkpoint-1.bak/adapter_config.json"
}
job "name: demo" >good.yaml

# 1. A name that climbs out of .cache/baton-run: refused (exit 2) before anything is deleted.
mkdir -p victim && echo precious >victim/data
for name in '../../victim' '..' '"a/b"' '"x\ny"'; do
  seed_store
  job "name: $name" >evil.yaml
  out=$("$BATON" run evil.yaml --fresh --max_minutes 0.02 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "name $name: exit $rc, want 2: $out"
  grep -q "evil.yaml:1:.*name" <<<"$out" || fail "name $name: the error does not name it: $out"
  [ -f victim/data ] || fail "name $name: deleted a folder outside the work area"
  [ -f bucket/run/checkpoint-2/MANIFEST.json ] || fail "name $name: deleted the run's store"
done
# No name and a file name that gives none: the same.
cp good.yaml .yaml && sed -i '/^name:/d' .yaml
out=$("$BATON" run .yaml --fresh --max_minutes 0.02 2>&1) && fail "a job named '' was accepted: $out"
grep -q "add one" <<<"$out" || fail "no name: $out"

# 2. A typo anywhere in the job: --fresh deletes nothing.
seed_store
job "name: demo" scriptd >typo.yaml
out=$("$BATON" run typo.yaml --fresh --max_minutes 0.02 2>&1); rc=$?
[ $rc -eq 2 ] || fail "market typo: exit $rc, want 2: $out"
grep -q "scriptd" <<<"$out" || fail "market typo not named: $out"
job "name: demo" scripted polcy >typo2.yaml
out=$("$BATON" run typo2.yaml --fresh --max_minutes 0.02 2>&1) && fail "fleet typo accepted: $out"
grep -q "polcy" <<<"$out" || fail "fleet typo not named: $out"
[ -f bucket/run/checkpoint-2/MANIFEST.json ] || fail "a typo cost the run its checkpoint"

# 3. --work_dir naming the user's folder: --fresh refuses before deleting anything.
mkdir -p thesis && echo chapter1 >thesis/ch1.tex
out=$("$BATON" run good.yaml --fresh --work_dir thesis --max_minutes 0.02 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--work_dir of the user's: exit $rc, want 2: $out"
grep -q "not made by .baton run." <<<"$out" || fail "--work_dir refusal: $out"
[ -f thesis/ch1.tex ] || fail "--fresh deleted the user's folder"
[ -f bucket/run/checkpoint-2/MANIFEST.json ] || fail "--fresh deleted the store before refusing"

# 4. --fresh deletes the run's objects only; the agents' job copy is the owner's only; no
# credential is printed.
out=$("$BATON" run good.yaml --fresh --work_dir w --max_minutes 0.02 2>&1); rc=$?
[ $rc -eq 1 ] || fail "a run with no capacity: exit $rc, want 1: $out"
[ ! -e bucket/run/checkpoint-2 ] || fail "--fresh left the run's checkpoint"
[ -f bucket/run/notes.txt ] && [ -f bucket/run/checkpoint-1.bak/adapter_config.json ] \
  || fail "--fresh deleted the user's objects in the store: $(find bucket)"
grep -q "left 2 object(s)" <<<"$out" || fail "--fresh did not say what it left: $out"
[ "$(stat -c %a w/job.yaml)" = 600 ] || fail "the job copy is $(stat -c %a w/job.yaml), want 600"
grep -q tok123 w/job.yaml || fail "the job copy lost its webhook"
grep -q "hunter2\|tok123" <<<"$out" && fail "a credential was printed: $out"
# A second --fresh on the folder it made is allowed.
"$BATON" run good.yaml --fresh --work_dir w --max_minutes 0.02 >/dev/null 2>&1
[ $? -eq 1 ] || fail "--fresh on its own work folder"

# 5. A completed run, run again: says so, launches nothing, keeps its report and names the
# final adapter from the COMPLETE marker.
seed_store
printf '{"format": "baton-complete", "version": 1, "global_step": 2, "last_model_checkpoint": "checkpoint-2", "best_model_checkpoint": null}\n' \
  >bucket/run/COMPLETE
mkdir -p done
python3 - done/report.json <<'PY' || fail "writing a report"
import json, sys
r = {"scenario": "", "policy": "spot-only", "complete": True, "completed_at": 3600,
     "makespan_seconds": 3600, "cost": 12.34, "spot_seconds": 3600, "on_demand_seconds": 0,
     "spot_cost": 12.34, "on_demand_cost": 0, "instances": 1, "interruptions": 2,
     "interruptions_without_notice": 1, "work_redone": 1, "work_total": 4,
     "overhead_seconds": 60, "on_demand_baseline_cost": 24.68, "saving_fraction": 0.5,
     "ledger": [{"instance": "i-001-z1-spot", "offer": "t@z1/spot", "billing": "spot",
                 "zone": "z1", "seconds": 3600, "cost": 12.34, "end": "completed"}]}
json.dump(r, open(sys.argv[1], "w"), indent=2)
PY
echo "csv" >done/report.csv
cp done/report.json report.before
"$BATON" run good.yaml --work_dir done --max_minutes 0.02 >again.out 2>again.err || { cat again.err; fail "rerun of a completed run"; }
grep -q "is complete" again.err || fail "the rerun did not say complete: $(cat again.err)"
cmp -s done/report.json report.before || fail "the rerun rewrote report.json: $(cat done/report.json)"
[ "$(cat done/report.csv)" = csv ] || fail "the rerun rewrote report.csv"
grep -q "12.34" again.out && grep -q "saving 50.0%" again.out || fail "the kept report not shown: $(cat again.out)"
grep -q "final adapter: $T/bucket/run/checkpoint-2$" again.out || fail "final adapter: $(cat again.out)"
[ ! -e done/instances ] || fail "the rerun launched instances"
echo "e2e run cli: all checks passed"
