#include "model/transformer.h"

#include <cstring>

#include "model/rope.h"

namespace baton {

Result<std::unique_ptr<Transformer>> Transformer::Load(Env* env, const std::string& dir,
                                                       Backend* backend) {
  if (!env->IsDirectory(dir)) return NotFound("model folder '{}' does not exist", dir);
  BATON_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::Load(env, dir));
  BATON_ASSIGN_OR_RETURN(WeightSet set, WeightSet::Open(env, dir));
  BATON_ASSIGN_OR_RETURN(ModelWeights weights, LoadWeights(config, set));
  return std::make_unique<Transformer>(std::move(config), std::move(weights), backend);
}

Transformer::Transformer(ModelConfig config, ModelWeights weights, Backend* backend)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(backend) {
  inv_freq_ = RopeInvFreq(config_);
}

KVCache Transformer::NewCache(int64_t batch, int64_t capacity) const {
  KVCache c;
  c.batch = batch;
  c.capacity = capacity;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    Shape s = {batch, capacity, config_.num_key_value_heads, config_.head_dim};
    c.k.push_back(Tensor::Zeros(s, DType::kF32));
    c.v.push_back(Tensor::Zeros(s, DType::kF32));
  }
  c.valid = Tensor::Zeros({batch, capacity}, DType::kU8);
  return c;
}

Status Transformer::Project(const Tensor& x, int layer, LinearKind kind, Tensor& y) {
  const Linear& lin = weights_.layers[layer][kind];
  BATON_RETURN_IF_ERROR(backend_->MatMulNT(x, lin.weight, y));
  if (lin.bias.defined()) BATON_RETURN_IF_ERROR(backend_->AddBias(y, lin.bias));
  const LoraEntry* lora = adapter_ ? adapter_->Find(layer, kind) : nullptr;
  if (lora != nullptr) {
    Tensor t = Tensor::Empty({x.dim(0), lora->rank}, DType::kF32);
    BATON_RETURN_IF_ERROR(backend_->MatMulNT(x, lora->a, t));                  // [N, r]
    BATON_RETURN_IF_ERROR(backend_->MatMulNT(t, lora->b, y, lora->scale, 1));  // y += s t B^T
  }
  return Status::Ok();
}

Result<Tensor> Transformer::Forward(const Tensor& tokens, const Tensor& mask) {
  KVCache cache = NewCache(tokens.dim(0), tokens.dim(1));
  return Forward(tokens, mask, cache, false);
}

Result<Tensor> Transformer::Forward(const Tensor& tokens, const Tensor& mask, KVCache& cache,
                                    bool last_only) {
  const ModelConfig& c = config_;
  if (tokens.rank() != 2 || tokens.dtype() != DType::kI32) {
    return InvalidArgument("Forward: tokens must be i32 [batch, tokens], got {}", tokens.Describe());
  }
  int64_t nb = tokens.dim(0), nt = tokens.dim(1), n = nb * nt;
  if (mask.defined() && (mask.shape() != tokens.shape() || mask.dtype() != DType::kU8)) {
    return InvalidArgument("Forward: mask must be u8 {}, got {}", ShapeString(tokens.shape()),
                           mask.Describe());
  }
  if (nb != cache.batch || cache.length + nt > cache.capacity) {
    return InvalidArgument("Forward: {} tokens for {} sequences do not fit the KV cache ({} of {} "
                           "slots used, batch {})",
                           nt, nb, cache.length, cache.capacity, cache.batch);
  }
  if (cache.length + nt > c.max_position_embeddings) {
    return InvalidArgument("Forward: position {} exceeds max_position_embeddings {}",
                           cache.length + nt - 1, c.max_position_embeddings);
  }
  int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  Tensor positions = Tensor::Empty({nb, nt}, DType::kI32);
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t t = 0; t < nt; ++t) {
      positions.data<int32_t>()[b * nt + t] = static_cast<int32_t>(cache.length + t);
      cache.valid.data<uint8_t>()[b * cache.capacity + cache.length + t] =
          mask.defined() ? (mask.data<uint8_t>()[b * nt + t] != 0) : 1;
    }
  }

  Tensor x = Tensor::Empty({n, c.hidden_size}, DType::kF32);            // residual stream
  BATON_RETURN_IF_ERROR(backend_->Embedding(weights_.embed, tokens.Reshape({n}), x));
  Tensor h = Tensor::Empty({n, c.hidden_size}, DType::kF32);            // normed input
  Tensor q = Tensor::Empty({n, nh * hd}, DType::kF32);
  Tensor k = Tensor::Empty({n, nkv * hd}, DType::kF32);
  Tensor v = Tensor::Empty({n, nkv * hd}, DType::kF32);
  Tensor attn = Tensor::Empty({n, nh * hd}, DType::kF32);
  Tensor proj = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  Tensor gate = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
  Tensor up = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
  float eps = static_cast<float>(c.rms_norm_eps);

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    // Attention block.
    BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, w.input_norm, eps, h));
    BATON_RETURN_IF_ERROR(Project(h, l, LinearKind::kQ, q));  // [N, H*hd]
    BATON_RETURN_IF_ERROR(Project(h, l, LinearKind::kK, k));  // [N, Hkv*hd]
    BATON_RETURN_IF_ERROR(Project(h, l, LinearKind::kV, v));
    Tensor q4 = q.Reshape({nb, nt, nh, hd}), k4 = k.Reshape({nb, nt, nkv, hd});
    BATON_RETURN_IF_ERROR(backend_->Rope(q4, positions, inv_freq_, 1.0f));
    BATON_RETURN_IF_ERROR(backend_->Rope(k4, positions, inv_freq_, 1.0f));
    size_t row = static_cast<size_t>(nkv * hd) * sizeof(float);
    for (int64_t b = 0; b < nb; ++b) {  // append to the cache at slots [length, length + T)
      size_t dst = static_cast<size_t>(b * cache.capacity + cache.length) * row;
      std::memcpy(static_cast<char*>(cache.k[l].raw()) + dst, k.f32() + b * nt * nkv * hd, nt * row);
      std::memcpy(static_cast<char*>(cache.v[l].raw()) + dst, v.f32() + b * nt * nkv * hd, nt * row);
    }
    Tensor attn4 = attn.Reshape({nb, nt, nh, hd});
    BATON_RETURN_IF_ERROR(
        backend_->Attention(q4, cache.k[l], cache.v[l], positions, cache.valid, attn4));
    BATON_RETURN_IF_ERROR(Project(attn, l, LinearKind::kO, proj));  // [N, hidden]
    BATON_RETURN_IF_ERROR(backend_->Add(x, proj));
    // MLP block: down(silu(gate(h)) * up(h)).
    BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, w.post_norm, eps, h));
    BATON_RETURN_IF_ERROR(Project(h, l, LinearKind::kGate, gate));
    BATON_RETURN_IF_ERROR(Project(h, l, LinearKind::kUp, up));
    BATON_RETURN_IF_ERROR(backend_->SiluMul(gate, up, gate));
    BATON_RETURN_IF_ERROR(Project(gate, l, LinearKind::kDown, proj));
    BATON_RETURN_IF_ERROR(backend_->Add(x, proj));
  }
  cache.length += nt;

  Tensor final_in = x;
  int64_t rows = n;
  if (last_only) {  // only each sequence's last position feeds the lm_head
    final_in = Tensor::Empty({nb, c.hidden_size}, DType::kF32);
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(final_in.f32() + b * c.hidden_size, x.f32() + ((b + 1) * nt - 1) * c.hidden_size,
                  c.hidden_size * sizeof(float));
    }
    rows = nb;
  }
  Tensor normed = Tensor::Empty({rows, c.hidden_size}, DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->RmsNorm(final_in, weights_.final_norm, eps, normed));
  Tensor logits = Tensor::Empty({rows, c.vocab_size}, DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->MatMulNT(normed, weights_.lm_head, logits));
  return logits.Reshape({nb, last_only ? 1 : nt, c.vocab_size});
}

}  // namespace baton
