// Writes randomly initialised Hugging Face model folders: the project's own tiny models for the
// demo and tests (nothing can be downloaded here), and full-size shapes with random weights for
// benchmarks. Deterministic for a given seed.
#pragma once

#include <string>
#include <vector>

#include "model/config.h"

namespace baton {

// Names: "tiny" (demo), "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2-7b" (DeepSeek-R1-Distill-Qwen-7B's
// shape). `vocab_size` replaces the preset's when positive.
Result<ModelConfig> ModelPreset(const std::string& name, int64_t vocab_size);
std::vector<std::string> ModelPresetNames();

struct InitModelOptions {
  uint64_t seed = 1234;
  DType dtype = DType::kF32;
  // Files larger than this are split into shards with model.safetensors.index.json.
  uint64_t max_shard_bytes = 2ull << 30;
  double init_std = 0.02;  // HF initializer_range, for the projections
  // Embedding (and tied lm_head) std; <= 0 means 1/sqrt(hidden_size). HF's 0.02 would cap every
  // logit's reach at about 0.02 * hidden_size, too little for a LoRA on a random (frozen) base to
  // learn anything over a 152k vocabulary; 1/sqrt(hidden) gives logits of std ~1 at init.
  double embed_std = 0.0;
};

// Writes config.json and the weights into `dir` (created if needed). Linear and embedding weights
// are N(0, init_std); norm weights are 1; biases 0.
Status WriteRandomModel(Env* env, const ModelConfig& config, const InitModelOptions& options,
                        const std::string& dir);

}  // namespace baton
