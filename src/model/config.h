// ModelConfig: the narrow set of Hugging Face config.json fields the engine uses, for the
// architectures in scope (Qwen2ForCausalLM, LlamaForCausalLM). One field visitor (VisitFields)
// drives parsing, writing and equality so the three can never disagree.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/json.h"
#include "tensor/dtype.h"

namespace baton {

enum class Architecture { kQwen2, kLlama };

struct ModelConfig {
  // Upper bounds Validate() enforces (far above any released model), so that a broken or
  // hostile config.json fails before anything is sized by it: a count of 10^6 layers or a
  // vocabulary of 10^12 would otherwise be allocated or looped over.
  static constexpr int64_t kMaxVocabSize = 1 << 24;
  static constexpr int64_t kMaxHiddenSize = 1 << 16;
  static constexpr int64_t kMaxIntermediateSize = 1 << 18;
  static constexpr int64_t kMaxLayers = 1024;
  static constexpr int64_t kMaxHeads = 1024;
  static constexpr int64_t kMaxHeadDim = 1024;
  static constexpr int64_t kMaxPositions = 1 << 24;
  static constexpr double kMaxParameters = 2e12;  // the whole model, embeddings included

  Architecture arch = Architecture::kQwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases; always on for Qwen2, also o_proj for Llama
  bool mlp_bias = false;        // Llama only
  // RoPE: transformers 5 writes these under "rope_parameters", older files at the top level
  // ("rope_theta") and in "rope_scaling".
  std::string rope_type = "default";  // default | linear | llama3
  double rope_theta = 10000.0;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position_embeddings = 8192;
  DType dtype = DType::kF32;  // "dtype" (transformers 5) or "torch_dtype" (older)
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;

  // Calls v(key, field) for every plain numeric/bool field stored under its own top-level key.
  template <typename V>
  void VisitFields(V&& v) {
    v("vocab_size", vocab_size, true);
    v("hidden_size", hidden_size, true);
    v("intermediate_size", intermediate_size, true);
    v("num_hidden_layers", num_hidden_layers, true);
    v("num_attention_heads", num_attention_heads, true);
    v("num_key_value_heads", num_key_value_heads, false);
    v("head_dim", head_dim, false);
    v("max_position_embeddings", max_position_embeddings, false);
    v("rms_norm_eps", rms_norm_eps, false);
    v("tie_word_embeddings", tie_word_embeddings, false);
  }

  static Result<ModelConfig> FromJson(const Json& j, const std::string& source);
  // Reads DIR/config.json, and DIR/generation_config.json's eos_token_id when present.
  static Result<ModelConfig> Load(Env* env, const std::string& dir);
  // A config.json that both transformers 5 and older releases read.
  Json ToJson() const;
  // Every field in its range (sizes positive and within the bounds above, the parameter count
  // too; eps, theta and RoPE factors finite and positive; token ids within the vocabulary).
  // Errors name `source` and the key.
  Status Validate(const std::string& source) const;
  // Parameters of the whole model (embeddings, every layer, norms, the head unless tied).
  double ParameterCount() const;
  std::string ArchitectureName() const;
  std::string Summary() const;  // one line for logs
  bool operator==(const ModelConfig& other) const;
};

}  // namespace baton
