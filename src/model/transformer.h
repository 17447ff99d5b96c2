// The decoder-only transformer of Qwen2 and Llama, forward pass with a KV cache and an optional
// LoRA adapter. The model is straight-line calls over a Backend; shapes are in the comments
// (N = batch * tokens).
#pragma once

#include <memory>
#include <string>

#include "model/lora.h"
#include "model/weights.h"
#include "tensor/backend.h"

namespace baton {

// Keys and values of every layer for up to `capacity` positions of `batch` sequences.
// Slot s holds position s; `valid` marks slots holding real (non-padding) tokens.
struct KVCache {
  int64_t batch = 0;
  int64_t capacity = 0;
  int64_t length = 0;       // slots filled so far
  std::vector<Tensor> k;    // per layer [batch, capacity, kv_heads, head_dim]
  std::vector<Tensor> v;
  Tensor valid;             // [batch, capacity] u8
};

class Transformer {
 public:
  // Reads config.json (+ generation_config.json) and the safetensors weights of `dir`.
  static Result<std::unique_ptr<Transformer>> Load(Env* env, const std::string& dir,
                                                   Backend* backend);
  Transformer(ModelConfig config, ModelWeights weights, Backend* backend);

  const ModelConfig& config() const { return config_; }
  ModelWeights& weights() { return weights_; }
  Backend* backend() const { return backend_; }
  // Applies `adapter` on top of the base weights (null: base model only). Not owned.
  void SetAdapter(const LoraAdapter* adapter) { adapter_ = adapter; }

  KVCache NewCache(int64_t batch, int64_t capacity) const;

  // Runs tokens[B,T] (i32) through the model, appending them to `cache` at slots
  // [cache.length, cache.length + T). `mask`[B,T] (u8, or undefined for all ones) marks padding.
  // Returns logits [B, T, V], or [B, 1, V] for the last position only when `last_only`.
  Result<Tensor> Forward(const Tensor& tokens, const Tensor& mask, KVCache& cache,
                         bool last_only);
  // Convenience: a fresh cache sized for `tokens`, all logits.
  Result<Tensor> Forward(const Tensor& tokens, const Tensor& mask);

 private:
  // y[N,out] = x[N,in] W^T + b (+ scale * x A^T B^T when the module is adapted).
  Status Project(const Tensor& x, int layer, LinearKind kind, Tensor& y);

  ModelConfig config_;
  ModelWeights weights_;
  Backend* backend_;
  const LoraAdapter* adapter_ = nullptr;
  Tensor inv_freq_;
};

}  // namespace baton
