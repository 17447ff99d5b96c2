#!/usr/bin/env bash
# Issue 18's browser check of the run's page: `baton run` on the demo with --ui, and Debian's
# headless Chromium (fresh profile) against the page it serves. The page writes what it drew
# into #baton-state (read from the Chart.js charts themselves); the curves must hold the run's
# real points (as many, ending at the same step and value, as logging.jsonl), the timeline one
# row per instance of the run's report with how each ended, and no console error. The JSON API
# answers while the run goes on. A screenshot is kept as a test artifact (its path is printed).
# Chromium's --virtual-time-budget lets the page load and draw without a wall-clock sleep.
set -uo pipefail
BATON="$1"; SRC="$2"
fail() { echo "FAIL: $*"; exit 1; }
CHROMIUM=$(command -v chromium || command -v chromium-browser) \
  || fail "no chromium: scripts/setup.sh --test-servers installs Debian's chromium"
ART="$(cd "$(dirname "$BATON")" && pwd)/test-artifacts"
mkdir -p "$ART" || fail "mkdir $ART"
source "$SRC/tests/e2e/lib/demo.sh"
demo_setup

"$BATON" run "$SRC/examples/demo.yaml" --fresh --work_dir work --ui 0 >run.out 2>run.log &
pid=$!
# wait_log FILE PATTERN: until FILE shows it ($pid exiting first is a failure).
wait_log() {
  for _ in $(seq 1 3000); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$1"; fail "exited before '$2'"; }
    sleep 0.2
  done
  cat "$1"; fail "no '$2' in $1 in 600 s"
}
wait_log run.log "baton ui: http://127.0.0.1:[0-9]*/ shows"
URL=$(grep -o "http://127.0.0.1:[0-9]*/" run.log | head -1)
echo "page: $URL"
# The API answers while the run goes on.
curl -sf "${URL}api/run" -o live.json || fail "GET ${URL}api/run during the run"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["format"]=="baton-run-view", v' \
  live.json || fail "the live view: $(head -c 300 live.json)"
wait_log run.log "the page stays at"
echo "the run is over; the page stays up"
RUN=.cache/demo/bucket/self-cognition-demo
[ -f "$RUN/fleet/ledger.json" ] || fail "baton run wrote no fleet/ledger.json into the bucket"
[ -f "$RUN/fleet/events.json" ] || fail "baton run wrote no fleet/events.json into the bucket"
for api in run progress curves instances cost checkpoints events; do
  curl -sf "${URL}api/$api" -o "api_$api.json" || fail "GET /api/$api"
done

"$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$T/profile-dom" \
  --no-first-run --virtual-time-budget=15000 --dump-dom "$URL" >dom.html 2>chromium.log \
  || { tail -20 chromium.log; fail "chromium --dump-dom"; }
"$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$T/profile-shot" \
  --no-first-run --hide-scrollbars --window-size=1280,1800 --virtual-time-budget=15000 \
  --screenshot="$ART/ui.png" "$URL" >>chromium.log 2>&1 || { tail -20 chromium.log; fail "chromium --screenshot"; }
[ -s "$ART/ui.png" ] || fail "no screenshot"
echo "screenshot: $ART/ui.png"

python3 - dom.html "$RUN/logging.jsonl" work/report.json api_run.json <<'PY' || fail "the page"
import html, json, re, sys
dom, log_path, report_path, api_path = sys.argv[1:5]
m = re.search(r'<pre id="baton-state"[^>]*>(.*?)</pre>', open(dom).read(), re.S)
assert m, "no #baton-state in the page"
state = json.loads(html.unescape(m.group(1)))
assert state["loaded"], f"the page never drew the run: {state}"
assert state["errors"] == [], f"console errors: {state['errors']}"
# logging.jsonl as the view reads it: every number of a line with global_step/max_steps, at
# that step, the later line winning.
series = {}
for line in open(log_path):
    j = json.loads(line)
    if not isinstance(j.get("global_step/max_steps"), str):
        continue
    step = int(j["global_step/max_steps"].split("/")[0])
    for k, v in j.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            series.setdefault(k, {})[step] = v
drawn = state["curves"]
for name in ("loss", "learning_rate", "grad_norm", "token_acc", "eval_loss", "eval_token_acc"):
    if name not in series:
        assert name not in drawn, f"{name} drawn but not in the log"
        continue
    want = series[name]
    last = max(want)
    got = drawn.get(name)
    assert got, f"curve {name} not drawn; drawn: {sorted(drawn)}"
    assert got["points"] == len(want), f"{name}: {got['points']} points, the log has {len(want)}"
    assert got["last_step"] == last, f"{name}: last step {got['last_step']}, the log's {last}"
    assert abs(got["last_value"] - want[last]) <= 1e-12 * max(1, abs(want[last])), \
        f"{name}: last value {got['last_value']}, the log's {want[last]}"
    print(f"{name}: {got['points']} points, last {got['last_value']} at step {last} (= logging.jsonl)")
assert "loss" in drawn and "learning_rate" in drawn, f"no loss / learning rate curve: {drawn}"
report = json.load(open(report_path))
rows = state["timeline"]
want = [(l["instance"], l["end"]) for l in report["ledger"]]
got = [(r["id"], r["end_reason"]) for r in rows]
assert got == want, f"the timeline shows {got}, the report {want}"
assert all(r["bars"] >= 1 for r in rows), f"an instance without a bar: {rows}"
print("timeline:", got)
api = json.load(open(api_path))
assert api["complete"] and api["progress"]["step"] == api["progress"]["max_steps"] == 80, api["progress"]
assert abs(api["cost"]["so_far"] - report["cost"]) <= 0.02 * report["cost"], \
    f"cost so far {api['cost']['so_far']}, the report's {report['cost']}"
assert any(c["state"] == "valid" and c["step"] == 80 for c in api["checkpoints"]), api["checkpoints"]
assert api["events"], "no events"
PY

kill -TERM "$pid"  # as Ctrl-C: the page stops, the run is done
wait "$pid"; rc=$?
[ "$rc" = 0 ] || { tail run.log; fail "baton run exited $rc when stopped"; }

# Everything else gone, `baton ui` on the bucket alone shows the same run, and on the job file
# too; what it cannot serve it says, naming it.
n=0
for target in "$RUN" "$SRC/examples/demo.yaml"; do
  n=$((n + 1)); log="ui-$n.log"  # a log of its own: the last one's would show its address
  "$BATON" ui "$target" --port 0 >"ui-$n.out" 2>"$log" &
  uipid=$!
  pid=$uipid wait_log "$log" "shows"
  UI=$(grep -o "http://127.0.0.1:[0-9]*/" "$log" | head -1)
  [ -n "$UI" ] || { kill "$uipid"; cat "$log"; fail "baton ui $target printed no address"; }
  curl -sf "${UI}api/curves" -o again.json || {
    curl -s "${UI}api/curves" -w ' (HTTP %{http_code})' | head -c 500; kill "$uipid"; cat "$log"
    fail "baton ui $target: /api/curves"; }
  kill -TERM "$uipid"; wait "$uipid" || fail "baton ui $target exited $? when stopped"
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))["curves"]; assert a == b' \
    again.json api_run.json || fail "baton ui $target shows other curves than the run's page"
done
# baton train --ui: the page of a plain training run (no fleet: no ledger, no bill), up while it
# trains and after it until stopped.
"$BATON" train --model .cache/demo/tiny-model --dataset 'self-cognition#8' --max_steps 2 \
  --model_name 小巴 Baton --model_author 巴顿团队 'Baton Team' --per_device_train_batch_size 4 \
  --logging_steps 1 --save_steps 2 --output_dir trainrun \
  --ui 0 >train.out 2>train.log &
pid=$!
wait_log train.log "the page stays at"
URL=$(grep -o "http://127.0.0.1:[0-9]*/" train.log | head -1)
curl -sf "${URL}api/run" -o train_view.json || fail "baton train --ui: GET /api/run"
python3 - train_view.json <<'PY' || fail "baton train --ui: the view"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["complete"] and v["progress"]["step"] == 2, v["progress"]
assert len(v["curves"]["loss"]) == 2, v["curves"].get("loss")
assert v["cost"] is None and v["warnings"] == [], v
assert [c["step"] for c in v["checkpoints"] if c["state"] == "valid"] == [2], v["checkpoints"]
PY
kill -TERM "$pid"; wait "$pid" || fail "baton train --ui exited $? when stopped"

out=$("$BATON" ui "$RUN" --host my-laptop 2>&1) && fail "--host my-laptop was accepted"
grep -q "my-laptop" <<<"$out" || fail "the --host error does not name it: $out"
out=$("$BATON" ui .cache/demo/bucket/no-such-run 2>&1) && fail "a missing run folder was accepted"
grep -q "no-such-run: no such folder" <<<"$out" || fail "the error does not name the folder: $out"
out=$("$BATON" ui missing-job.yaml 2>&1) && fail "a missing job file was accepted"
grep -q "missing-job.yaml" <<<"$out" || fail "the error does not name the job file: $out"
echo "e2e ui_browser: all checks passed"
