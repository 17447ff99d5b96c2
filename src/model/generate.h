// Token generation with a KV cache: greedy or sampled (temperature, top-k, top-p), with HF's
// repetition penalty, stopping at EOS ids or after max_new_tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "model/transformer.h"

namespace baton {

struct GenerationOptions {
  int64_t max_new_tokens = 512;
  float temperature = 0.0f;  // 0: greedy (as ms-swift and vLLM read it)
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float repetition_penalty = 1.0f;
  uint64_t seed = 42;
  std::vector<int64_t> stop_ids;  // generation ends after emitting one of these

  // Reads do_sample/temperature/top_k/top_p/repetition_penalty/eos_token_id from a model
  // folder's generation_config.json when present (do_sample false -> greedy).
  static Result<GenerationOptions> FromModelDir(Env* env, const std::string& dir);
  // An error unless max_new_tokens >= 1, temperature >= 0, top_k >= 0, top_p in (0, 1] and
  // repetition_penalty > 0, every one finite; `where(key)` names a key's origin in the message
  // ("--top_p", "model/generation_config.json: key 'top_p'").
  Status Validate(const std::function<std::string(const char* key)>& where) const;
};

// Picks the next token from one row of logits, applying the HF processors in HF's order:
// repetition penalty, temperature, top-k, top-p, then a draw from the softmax.
class Sampler {
 public:
  explicit Sampler(const GenerationOptions& options);
  int32_t Next(std::span<const float> logits, std::span<const int32_t> history);

 private:
  GenerationOptions options_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<int32_t> order_;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // new tokens only (a final stop id included)
  bool stopped = false;         // ended at a stop id rather than max_new_tokens
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Runs `prompt` (batch 1) through `model`, then generates. `on_token` sees each new token as it
// comes and may return false to stop early.
Result<GenerationResult> Generate(Transformer& model, std::span<const int32_t> prompt,
                                  const GenerationOptions& options,
                                  const std::function<bool(int32_t)>& on_token = nullptr);

}  // namespace baton
