// The decoder-only transformer of Qwen2 and Llama, forward pass with a KV cache and an optional
// LoRA adapter. The model is straight-line calls over a Backend; shapes are in the comments
// (N = batch * tokens).
#pragma once

#include <array>
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
  int64_t length = 0;     // slots filled so far
  std::vector<Tensor> k;  // per layer [batch, capacity, kv_heads, head_dim]
  std::vector<Tensor> v;
  Tensor valid;       // [batch, capacity] u8, on the backend's device
  Tensor valid_host;  // the same on the CPU (what is written first)
};

// What one layer's forward leaves for its backward. In inference one set is reused by every
// layer; in training each layer keeps its own (or only `x_in`, when recomputing).
struct LayerActivations {
  Tensor x_in;   // [N, hidden] residual stream entering the layer
  Tensor h1;     // [N, hidden] input_layernorm(x_in)
  Tensor q;      // [N, H*hd] after RoPE (keys and values live in the KV cache)
  Tensor attn;   // [N, H*hd] attention output
  Tensor x_mid;  // [N, hidden] x_in + o_proj(attn)
  Tensor h2;     // [N, hidden] post_attention_layernorm(x_mid)
  Tensor gate;   // [N, ffn]
  Tensor up;     // [N, ffn]
  Tensor act;    // [N, ffn] silu(gate) * up
  std::array<Tensor, kNumLinearKinds> lora_t;  // [N, r] = x A^T of each adapted projection
  // Every tensor above but lora_t (made by Project), in the backend's activation dtype.
  void Allocate(const ModelConfig& c, int64_t n, Backend* backend);
};

class Transformer {
 public:
  // Reads config.json (+ generation_config.json) and the safetensors weights of `dir`.
  static Result<std::unique_ptr<Transformer>> Load(Env* env, const std::string& dir,
                                                   Backend* backend);
  // Moves those of `weights` that are CPU tensors onto the backend's device in its dtypes: weight
  // matrices as weight_dtype(), vectors as f32. On the CPU backend nothing is copied.
  static Result<std::unique_ptr<Transformer>> Create(ModelConfig config, ModelWeights weights,
                                                     Backend* backend);
  // `weights` must already be what `backend` computes with (CPU f32 for the CPU backend).
  Transformer(ModelConfig config, ModelWeights weights, Backend* backend);

  const ModelConfig& config() const { return config_; }
  ModelWeights& weights() { return weights_; }
  Backend* backend() const { return backend_; }
  // Applies `adapter` on top of the base weights (null: base model only). Not owned.
  void SetAdapter(const LoraAdapter* adapter) { adapter_ = adapter; }
  // LoRA dropout for training (PEFT applies it to the input of lora_A). `seed` must change every
  // micro-batch; masks derive from (seed, layer, module) alone. p = 0 turns it off.
  void SetLoraDropout(float p, uint64_t seed) {
    dropout_p_ = p;
    dropout_seed_ = seed;
  }

  KVCache NewCache(int64_t batch, int64_t capacity) const;

  // Runs tokens[B,T] (i32) through the model, appending them to `cache` at slots
  // [cache.length, cache.length + T). `mask`[B,T] (u8, or undefined for all ones) marks padding.
  // Returns logits [B, T, V], or [B, 1, V] for the last position only when `last_only`.
  Result<Tensor> Forward(const Tensor& tokens, const Tensor& mask, KVCache& cache, bool last_only);
  // Convenience: a fresh cache sized for `tokens`, all logits.
  Result<Tensor> Forward(const Tensor& tokens, const Tensor& mask);

  // Training step half: runs tokens[B,T] forward, computes the causal-LM cross-entropy against
  // labels[B,T] (i32, unshifted as in HF: position t predicts labels[t+1]; kIgnoreLabel is
  // ignored), and ADDS the gradient of grad_scale * (summed loss) for every LoRA tensor into
  // `grads` (an adapter with the same layout as the one set with SetAdapter). Returns the summed
  // loss and the number of labelled tokens (and of those predicted right). With `recompute`, each
  // layer's activations are rebuilt during the backward pass from its input alone (gradient
  // checkpointing).
  struct LossSum {
    double loss = 0;
    int64_t tokens = 0;
    int64_t correct = 0;  // labelled tokens whose argmax logit is the label (token_acc)
  };
  // With `grads` null only the loss is computed (evaluation): nothing is kept for a backward.
  Result<LossSum> ForwardBackward(const Tensor& tokens, const Tensor& labels, const Tensor& mask,
                                  float grad_scale, bool recompute, LoraAdapter* grads);

 private:
  // y[N,out] = x[N,in] W^T + b (+ scale * t B^T with t = x A^T, when the module is adapted;
  // t is kept in `t_out` when given).
  Status Project(const Tensor& x, int layer, LinearKind kind, Tensor& y, Tensor* t_out = nullptr);
  // dx (+)= gradient of Project's input; adds LoRA gradients into `grads`.
  Status ProjectBackward(const Tensor& x, const Tensor& t, int layer, LinearKind kind,
                         const Tensor& dy, Tensor& dx, bool accumulate, LoraAdapter& grads);
  // One decoder layer: x (the residual stream) is updated in place; keys and values are
  // written to `cache` at slots [cache.length, cache.length + T).
  Status LayerForward(int layer, Tensor& x, const Tensor& positions, KVCache& cache,
                      LayerActivations& a, bool keep_lora_t);
  // Given dx = dLoss/d(layer output), replaces it with dLoss/d(layer input).
  Status LayerBackward(int layer, const Tensor& positions, KVCache& cache, LayerActivations& a,
                       Tensor& dx, LoraAdapter& grads);
  // Checks host tokens (shape, dtype, ids inside the vocabulary) and mask.
  Status CheckTokens(const Tensor& tokens, const Tensor& mask) const;
  // Positions [nb, nt] starting at `start`, on the backend's device.
  Result<Tensor> MakePositions(int64_t nb, int64_t nt, int64_t start);
  // A new activation tensor on the backend's device.
  Tensor NewAct(Shape shape) { return backend_->NewTensor(std::move(shape), act_); }

  ModelConfig config_;
  ModelWeights weights_;
  Backend* backend_;
  DType act_;  // the backend's activation dtype
  const LoraAdapter* adapter_ = nullptr;
  Tensor inv_freq_;  // f32 on the backend's device
  float dropout_p_ = 0.0f;
  uint64_t dropout_seed_ = 0;
  uint64_t DropoutSeed(int layer, LinearKind kind) const {
    return dropout_seed_ * 1000003ull + static_cast<uint64_t>(layer) * 16 + static_cast<int>(kind);
  }
};

}  // namespace baton
