#include "model/transformer.h"

#include <cstring>

#include "model/rope.h"

namespace baton {

void LayerActivations::Allocate(const ModelConfig& c, int64_t n) {
  int64_t qd = c.num_attention_heads * c.head_dim;
  x_in = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  h1 = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  q = Tensor::Empty({n, qd}, DType::kF32);
  attn = Tensor::Empty({n, qd}, DType::kF32);
  x_mid = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  h2 = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  gate = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
  up = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
  act = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
}

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

Status Transformer::Project(const Tensor& x, int layer, LinearKind kind, Tensor& y, Tensor* t_out) {
  const Linear& lin = weights_.layers[layer][kind];
  BATON_RETURN_IF_ERROR(backend_->MatMulNT(x, lin.weight, y));
  if (lin.bias.defined()) BATON_RETURN_IF_ERROR(backend_->AddBias(y, lin.bias));
  const LoraEntry* lora = adapter_ ? adapter_->Find(layer, kind) : nullptr;
  if (lora != nullptr) {
    Tensor t = t_out != nullptr && t_out->defined() && t_out->dim(0) == x.dim(0)
                   ? *t_out
                   : Tensor::Empty({x.dim(0), lora->rank}, DType::kF32);
    if (dropout_p_ > 0.0f) {  // t = dropout(x) A^T
      Tensor xd = Tensor::Empty(x.shape(), DType::kF32);
      BATON_RETURN_IF_ERROR(backend_->Dropout(x, dropout_p_, DropoutSeed(layer, kind), xd));
      BATON_RETURN_IF_ERROR(backend_->MatMulNT(xd, lora->a, t));
    } else {
      BATON_RETURN_IF_ERROR(backend_->MatMulNT(x, lora->a, t));  // [N, r]
    }
    BATON_RETURN_IF_ERROR(backend_->MatMulNT(t, lora->b, y, lora->scale, 1));  // y += s t B^T
    if (t_out != nullptr) *t_out = t;
  }
  return Status::Ok();
}

Status Transformer::ProjectBackward(const Tensor& x, const Tensor& t, int layer, LinearKind kind,
                                    const Tensor& dy, Tensor& dx, bool accumulate,
                                    LoraAdapter& grads) {
  const Linear& lin = weights_.layers[layer][kind];
  float beta = accumulate ? 1.0f : 0.0f;
  BATON_RETURN_IF_ERROR(backend_->Gemm(false, false, dy, lin.weight, dx, 1.0f, beta));  // dy W
  const LoraEntry* lora = adapter_ ? adapter_->Find(layer, kind) : nullptr;
  if (lora == nullptr) return Status::Ok();
  const LoraEntry* g = grads.Find(layer, kind);
  if (g == nullptr)
    return Internal("LoRA gradients have no entry for layer {} {}", layer, LinearModuleName(kind));
  Tensor gb = g->b, ga = g->a;
  // y += s (x A^T) B^T:  dB += s dy^T t;  dt = s dy B;  dA += dt^T x;  dx += dt A.
  BATON_RETURN_IF_ERROR(backend_->Gemm(true, false, dy, t, gb, lora->scale, 1.0f));
  Tensor dt = Tensor::Empty({x.dim(0), lora->rank}, DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->Gemm(false, false, dy, lora->b, dt, lora->scale, 0.0f));
  if (dropout_p_ == 0.0f) {
    BATON_RETURN_IF_ERROR(backend_->Gemm(true, false, dt, x, ga, 1.0f, 1.0f));
    return backend_->Gemm(false, false, dt, lora->a, dx, 1.0f, 1.0f);
  }
  // With dropout xd = x * mask / (1 - p): dA += dt^T xd, dx += (dt A) * mask / (1 - p).
  uint64_t seed = DropoutSeed(layer, kind);
  Tensor xd = Tensor::Empty(x.shape(), DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->Dropout(x, dropout_p_, seed, xd));
  BATON_RETURN_IF_ERROR(backend_->Gemm(true, false, dt, xd, ga, 1.0f, 1.0f));
  Tensor dxd = Tensor::Empty(x.shape(), DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->Gemm(false, false, dt, lora->a, dxd));
  BATON_RETURN_IF_ERROR(backend_->Dropout(dxd, dropout_p_, seed, dxd));
  return backend_->Add(dx, dxd);
}

Status Transformer::LayerForward(int l, Tensor& x, const Tensor& positions, KVCache& cache,
                                 LayerActivations& a, bool keep_lora_t) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[l];
  int64_t nb = positions.dim(0), nt = positions.dim(1), n = nb * nt;
  int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  float eps = static_cast<float>(c.rms_norm_eps);
  auto t_of = [&](LinearKind k) { return keep_lora_t ? &a.lora_t[static_cast<int>(k)] : nullptr; };
  // Attention block.
  std::memcpy(a.x_in.raw(), x.raw(), x.nbytes());
  BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, w.input_norm, eps, a.h1));
  Tensor k = Tensor::Empty({n, nkv * hd}, DType::kF32),
         v = Tensor::Empty({n, nkv * hd}, DType::kF32);
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kQ, a.q, t_of(LinearKind::kQ)));  // [N, H*hd]
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kK, k, t_of(LinearKind::kK)));  // [N, Hkv*hd]
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kV, v, t_of(LinearKind::kV)));
  Tensor q4 = a.q.Reshape({nb, nt, nh, hd}), k4 = k.Reshape({nb, nt, nkv, hd});
  BATON_RETURN_IF_ERROR(backend_->Rope(q4, positions, inv_freq_, 1.0f));
  BATON_RETURN_IF_ERROR(backend_->Rope(k4, positions, inv_freq_, 1.0f));
  size_t row = static_cast<size_t>(nkv * hd) * sizeof(float);
  for (int64_t b = 0; b < nb; ++b) {  // append to the cache at slots [length, length + T)
    size_t dst = static_cast<size_t>(b * cache.capacity + cache.length) * row;
    std::memcpy(static_cast<char*>(cache.k[l].raw()) + dst, k.f32() + b * nt * nkv * hd, nt * row);
    std::memcpy(static_cast<char*>(cache.v[l].raw()) + dst, v.f32() + b * nt * nkv * hd, nt * row);
  }
  Tensor attn4 = a.attn.Reshape({nb, nt, nh, hd});
  BATON_RETURN_IF_ERROR(
      backend_->Attention(q4, cache.k[l], cache.v[l], positions, cache.valid, attn4));
  BATON_RETURN_IF_ERROR(
      Project(a.attn, l, LinearKind::kO, x, t_of(LinearKind::kO)));  // [N, hidden]
  BATON_RETURN_IF_ERROR(backend_->Add(x, a.x_in));
  // MLP block: down(silu(gate(h)) * up(h)).
  std::memcpy(a.x_mid.raw(), x.raw(), x.nbytes());
  BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, w.post_norm, eps, a.h2));
  BATON_RETURN_IF_ERROR(Project(a.h2, l, LinearKind::kGate, a.gate, t_of(LinearKind::kGate)));
  BATON_RETURN_IF_ERROR(Project(a.h2, l, LinearKind::kUp, a.up, t_of(LinearKind::kUp)));
  BATON_RETURN_IF_ERROR(backend_->SiluMul(a.gate, a.up, a.act));
  BATON_RETURN_IF_ERROR(Project(a.act, l, LinearKind::kDown, x, t_of(LinearKind::kDown)));
  return backend_->Add(x, a.x_mid);
}

Status Transformer::LayerBackward(int l, const Tensor& positions, KVCache& cache,
                                  LayerActivations& a, Tensor& dx, LoraAdapter& grads) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[l];
  int64_t nb = positions.dim(0), nt = positions.dim(1), n = nb * nt;
  int64_t hd = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  float eps = static_cast<float>(c.rms_norm_eps);
  auto t_of = [&](LinearKind k) -> const Tensor& { return a.lora_t[static_cast<int>(k)]; };
  // MLP block: dx is the gradient of x_mid + down(act).
  Tensor d_act = Tensor::Empty({n, c.intermediate_size}, DType::kF32);
  BATON_RETURN_IF_ERROR(ProjectBackward(a.act, t_of(LinearKind::kDown), l, LinearKind::kDown, dx,
                                        d_act, false, grads));
  Tensor d_gate = Tensor::Empty(d_act.shape(), DType::kF32),
         d_up = Tensor::Empty(d_act.shape(), DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->SiluMulBackward(a.gate, a.up, d_act, d_gate, d_up));
  Tensor dh = Tensor::Empty({n, c.hidden_size}, DType::kF32);
  BATON_RETURN_IF_ERROR(ProjectBackward(a.h2, t_of(LinearKind::kGate), l, LinearKind::kGate, d_gate,
                                        dh, false, grads));
  BATON_RETURN_IF_ERROR(
      ProjectBackward(a.h2, t_of(LinearKind::kUp), l, LinearKind::kUp, d_up, dh, true, grads));
  Tensor dnorm = Tensor::Empty(dh.shape(), DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->RmsNormBackward(a.x_mid, w.post_norm, eps, dh, dnorm));
  BATON_RETURN_IF_ERROR(backend_->Add(dx, dnorm));  // dx is now d x_mid
  // Attention block: x_mid = x_in + o(attn).
  Tensor d_attn = Tensor::Empty({n, nh * hd}, DType::kF32);
  BATON_RETURN_IF_ERROR(
      ProjectBackward(a.attn, t_of(LinearKind::kO), l, LinearKind::kO, dx, d_attn, false, grads));
  Tensor dq = Tensor::Empty({nb, nt, nh, hd}, DType::kF32);
  Tensor dk = Tensor::Empty(cache.k[l].shape(), DType::kF32),
         dv = Tensor::Empty(cache.v[l].shape(), DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->AttentionBackward(a.q.Reshape({nb, nt, nh, hd}), cache.k[l],
                                                    cache.v[l], positions, cache.valid,
                                                    d_attn.Reshape({nb, nt, nh, hd}), dq, dk, dv));
  if (cache.capacity != nt || cache.length != nt) {
    return Internal("LayerBackward needs a cache holding exactly this sequence");
  }
  BATON_RETURN_IF_ERROR(backend_->RopeBackward(dq, positions, inv_freq_, 1.0f));
  BATON_RETURN_IF_ERROR(backend_->RopeBackward(dk, positions, inv_freq_, 1.0f));
  BATON_RETURN_IF_ERROR(ProjectBackward(a.h1, t_of(LinearKind::kQ), l, LinearKind::kQ,
                                        dq.Reshape({n, nh * hd}), dh, false, grads));
  BATON_RETURN_IF_ERROR(ProjectBackward(a.h1, t_of(LinearKind::kK), l, LinearKind::kK,
                                        dk.Reshape({n, nkv * hd}), dh, true, grads));
  BATON_RETURN_IF_ERROR(ProjectBackward(a.h1, t_of(LinearKind::kV), l, LinearKind::kV,
                                        dv.Reshape({n, nkv * hd}), dh, true, grads));
  BATON_RETURN_IF_ERROR(backend_->RmsNormBackward(a.x_in, w.input_norm, eps, dh, dnorm));
  return backend_->Add(dx, dnorm);  // dx is now d x_in
}

Status Transformer::CheckTokens(const Tensor& tokens, const Tensor& mask) const {
  if (tokens.rank() != 2 || tokens.dtype() != DType::kI32) {
    return InvalidArgument("Forward: tokens must be i32 [batch, tokens], got {}",
                           tokens.Describe());
  }
  if (mask.defined() && (mask.shape() != tokens.shape() || mask.dtype() != DType::kU8)) {
    return InvalidArgument("Forward: mask must be u8 {}, got {}", ShapeString(tokens.shape()),
                           mask.Describe());
  }
  return Status::Ok();
}

Tensor Transformer::MakePositions(int64_t nb, int64_t nt, int64_t start) const {
  Tensor positions = Tensor::Empty({nb, nt}, DType::kI32);
  for (int64_t i = 0; i < nb * nt; ++i) {
    positions.data<int32_t>()[i] = static_cast<int32_t>(start + i % nt);
  }
  return positions;
}

Result<Tensor> Transformer::Forward(const Tensor& tokens, const Tensor& mask) {
  KVCache cache = NewCache(tokens.dim(0), tokens.dim(1));
  return Forward(tokens, mask, cache, false);
}

Result<Tensor> Transformer::Forward(const Tensor& tokens, const Tensor& mask, KVCache& cache,
                                    bool last_only) {
  const ModelConfig& c = config_;
  BATON_RETURN_IF_ERROR(CheckTokens(tokens, mask));
  int64_t nb = tokens.dim(0), nt = tokens.dim(1), n = nb * nt;
  if (nb != cache.batch || cache.length + nt > cache.capacity) {
    return InvalidArgument(
        "Forward: {} tokens for {} sequences do not fit the KV cache ({} of {} "
        "slots used, batch {})",
        nt, nb, cache.length, cache.capacity, cache.batch);
  }
  if (cache.length + nt > c.max_position_embeddings) {
    return InvalidArgument("Forward: position {} exceeds max_position_embeddings {}",
                           cache.length + nt - 1, c.max_position_embeddings);
  }
  Tensor positions = MakePositions(nb, nt, cache.length);
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t t = 0; t < nt; ++t) {
      cache.valid.data<uint8_t>()[b * cache.capacity + cache.length + t] =
          mask.defined() ? (mask.data<uint8_t>()[b * nt + t] != 0) : 1;
    }
  }
  Tensor x = Tensor::Empty({n, c.hidden_size}, DType::kF32);  // residual stream
  BATON_RETURN_IF_ERROR(backend_->Embedding(weights_.embed, tokens.Reshape({n}), x));
  LayerActivations scratch;  // shared by all layers: nothing is kept for a backward pass
  scratch.Allocate(c, n);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    BATON_RETURN_IF_ERROR(LayerForward(l, x, positions, cache, scratch, false));
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
  BATON_RETURN_IF_ERROR(
      backend_->RmsNorm(final_in, weights_.final_norm, static_cast<float>(c.rms_norm_eps), normed));
  Tensor logits = Tensor::Empty({rows, c.vocab_size}, DType::kF32);
  BATON_RETURN_IF_ERROR(backend_->MatMulNT(normed, weights_.lm_head, logits));
  return logits.Reshape({nb, last_only ? 1 : nt, c.vocab_size});
}

}  // namespace baton
