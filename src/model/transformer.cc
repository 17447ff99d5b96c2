#include "model/transformer.h"

#include "model/rope.h"

namespace baton {

void LayerActivations::Allocate(const ModelConfig& c, int64_t n, Backend* backend) {
  int64_t qd = c.num_attention_heads * c.head_dim;
  DType t = backend->activation_dtype();
  x_in = backend->NewTensor({n, c.hidden_size}, t);
  h1 = backend->NewTensor({n, c.hidden_size}, t);
  q = backend->NewTensor({n, qd}, t);
  attn = backend->NewTensor({n, qd}, t);
  x_mid = backend->NewTensor({n, c.hidden_size}, t);
  h2 = backend->NewTensor({n, c.hidden_size}, t);
  gate = backend->NewTensor({n, c.intermediate_size}, t);
  up = backend->NewTensor({n, c.intermediate_size}, t);
  act = backend->NewTensor({n, c.intermediate_size}, t);
}

Result<std::unique_ptr<Transformer>> Transformer::Load(Env* env, const std::string& dir,
                                                       Backend* backend) {
  if (!env->IsDirectory(dir)) return NotFound("model folder '{}' does not exist", dir);
  BATON_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::Load(env, dir));
  BATON_ASSIGN_OR_RETURN(WeightSet set, WeightSet::Open(env, dir));
  BATON_ASSIGN_OR_RETURN(ModelWeights weights, LoadWeights(config, set, backend));
  return Create(std::move(config), std::move(weights), backend);
}

Result<std::unique_ptr<Transformer>> Transformer::Create(ModelConfig config, ModelWeights weights,
                                                         Backend* backend) {
  if (backend->device() != Device::kCpu || backend->weight_dtype() != DType::kF32) {
    Status status = Status::Ok();
    ForEachWeight(config, weights, [&](const std::string&, const Shape&, Tensor& t) {
      // Tensors already on the device stay as they are.
      if (!status.ok() || !t.defined() || t.device() != Device::kCpu) return;
      Result<Tensor> placed =
          backend->Upload(t, t.rank() == 2 ? backend->weight_dtype() : DType::kF32);
      if (placed.ok()) {
        t = std::move(placed).value();
      } else {
        status = placed.status();
      }
    });
    BATON_RETURN_IF_ERROR(status);
    if (config.tie_word_embeddings) weights.lm_head = weights.embed;  // not listed when tied
  }
  auto model = std::make_unique<Transformer>(std::move(config), std::move(weights), backend);
  BATON_ASSIGN_OR_RETURN(model->inv_freq_, backend->Upload(model->inv_freq_, DType::kF32));
  return model;
}

Transformer::Transformer(ModelConfig config, ModelWeights weights, Backend* backend)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      backend_(backend),
      act_(backend->activation_dtype()) {
  inv_freq_ = RopeInvFreq(config_);
}

KVCache Transformer::NewCache(int64_t batch, int64_t capacity) const {
  KVCache c;
  c.batch = batch;
  c.capacity = capacity;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    Shape s = {batch, capacity, config_.num_key_value_heads, config_.head_dim};
    c.k.push_back(backend_->NewZeros(s, act_));
    c.v.push_back(backend_->NewZeros(s, act_));
  }
  c.valid_host = Tensor::Zeros({batch, capacity}, DType::kU8);
  c.valid = backend_->device() == Device::kCpu ? c.valid_host
                                               : backend_->NewZeros({batch, capacity}, DType::kU8);
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
                   : NewAct({x.dim(0), lora->rank});
    if (dropout_p_ > 0.0f) {  // t = dropout(x) A^T
      Tensor xd = NewAct(x.shape());
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
  Tensor dt = NewAct({x.dim(0), lora->rank});
  BATON_RETURN_IF_ERROR(backend_->Gemm(false, false, dy, lora->b, dt, lora->scale, 0.0f));
  if (dropout_p_ == 0.0f) {
    BATON_RETURN_IF_ERROR(backend_->Gemm(true, false, dt, x, ga, 1.0f, 1.0f));
    return backend_->Gemm(false, false, dt, lora->a, dx, 1.0f, 1.0f);
  }
  // With dropout xd = x * mask / (1 - p): dA += dt^T xd, dx += (dt A) * mask / (1 - p).
  uint64_t seed = DropoutSeed(layer, kind);
  Tensor xd = NewAct(x.shape());
  BATON_RETURN_IF_ERROR(backend_->Dropout(x, dropout_p_, seed, xd));
  BATON_RETURN_IF_ERROR(backend_->Gemm(true, false, dt, xd, ga, 1.0f, 1.0f));
  Tensor dxd = NewAct(x.shape());
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
  BATON_RETURN_IF_ERROR(backend_->Copy(x, a.x_in));
  BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, w.input_norm, eps, a.h1));
  // Keys and values go straight into the cache when it holds exactly this sequence (training).
  bool direct = cache.length == 0 && cache.capacity == nt;
  Tensor k = direct ? cache.k[l].Reshape({n, nkv * hd}) : NewAct({n, nkv * hd}),
         v = direct ? cache.v[l].Reshape({n, nkv * hd}) : NewAct({n, nkv * hd});
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kQ, a.q, t_of(LinearKind::kQ)));  // [N, H*hd]
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kK, k, t_of(LinearKind::kK)));  // [N, Hkv*hd]
  BATON_RETURN_IF_ERROR(Project(a.h1, l, LinearKind::kV, v, t_of(LinearKind::kV)));
  Tensor q4 = a.q.Reshape({nb, nt, nh, hd}), k4 = k.Reshape({nb, nt, nkv, hd});
  BATON_RETURN_IF_ERROR(backend_->Rope(q4, positions, inv_freq_, 1.0f));
  BATON_RETURN_IF_ERROR(backend_->Rope(k4, positions, inv_freq_, 1.0f));
  if (!direct) {
    Tensor ck = cache.k[l].Reshape({nb * cache.capacity, nkv * hd});
    Tensor cv = cache.v[l].Reshape({nb * cache.capacity, nkv * hd});
    for (int64_t b = 0; b < nb; ++b) {  // append to the cache at slots [length, length + T)
      int64_t dst = b * cache.capacity + cache.length;
      Tensor kd = ck.Slice(dst, dst + nt), vd = cv.Slice(dst, dst + nt);
      BATON_RETURN_IF_ERROR(backend_->Copy(k.Slice(b * nt, (b + 1) * nt), kd));
      BATON_RETURN_IF_ERROR(backend_->Copy(v.Slice(b * nt, (b + 1) * nt), vd));
    }
  }
  Tensor attn4 = a.attn.Reshape({nb, nt, nh, hd});
  BATON_RETURN_IF_ERROR(
      backend_->Attention(q4, cache.k[l], cache.v[l], positions, cache.valid, attn4));
  BATON_RETURN_IF_ERROR(
      Project(a.attn, l, LinearKind::kO, x, t_of(LinearKind::kO)));  // [N, hidden]
  BATON_RETURN_IF_ERROR(backend_->Add(x, a.x_in));
  // MLP block: down(silu(gate(h)) * up(h)).
  BATON_RETURN_IF_ERROR(backend_->Copy(x, a.x_mid));
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
  Tensor d_act = NewAct({n, c.intermediate_size});
  BATON_RETURN_IF_ERROR(ProjectBackward(a.act, t_of(LinearKind::kDown), l, LinearKind::kDown, dx,
                                        d_act, false, grads));
  Tensor d_gate = NewAct(d_act.shape()), d_up = NewAct(d_act.shape());
  BATON_RETURN_IF_ERROR(backend_->SiluMulBackward(a.gate, a.up, d_act, d_gate, d_up));
  Tensor dh = NewAct({n, c.hidden_size});
  BATON_RETURN_IF_ERROR(ProjectBackward(a.h2, t_of(LinearKind::kGate), l, LinearKind::kGate, d_gate,
                                        dh, false, grads));
  BATON_RETURN_IF_ERROR(
      ProjectBackward(a.h2, t_of(LinearKind::kUp), l, LinearKind::kUp, d_up, dh, true, grads));
  Tensor dnorm = NewAct(dh.shape());
  BATON_RETURN_IF_ERROR(backend_->RmsNormBackward(a.x_mid, w.post_norm, eps, dh, dnorm));
  BATON_RETURN_IF_ERROR(backend_->Add(dx, dnorm));  // dx is now d x_mid
  // Attention block: x_mid = x_in + o(attn).
  Tensor d_attn = NewAct({n, nh * hd});
  BATON_RETURN_IF_ERROR(
      ProjectBackward(a.attn, t_of(LinearKind::kO), l, LinearKind::kO, dx, d_attn, false, grads));
  Tensor dq = NewAct({nb, nt, nh, hd});
  Tensor dk = NewAct(cache.k[l].shape()), dv = NewAct(cache.v[l].shape());
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
  if (tokens.device() != Device::kCpu || (mask.defined() && mask.device() != Device::kCpu)) {
    return InvalidArgument("Forward: tokens and mask must be CPU tensors");
  }
  const int32_t* id = tokens.data<int32_t>();
  for (int64_t i = 0; i < tokens.numel(); ++i) {
    if (id[i] < 0 || id[i] >= config_.vocab_size) {
      return InvalidArgument(
          "Forward: token id {} at position {} is outside the vocabulary [0, {})", id[i], i,
          config_.vocab_size);
    }
  }
  return Status::Ok();
}

Result<Tensor> Transformer::MakePositions(int64_t nb, int64_t nt, int64_t start) {
  Tensor positions = Tensor::Empty({nb, nt}, DType::kI32);
  for (int64_t i = 0; i < nb * nt; ++i) {
    positions.data<int32_t>()[i] = static_cast<int32_t>(start + i % nt);
  }
  return backend_->Upload(positions, DType::kI32);
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
  BATON_ASSIGN_OR_RETURN(Tensor positions, MakePositions(nb, nt, cache.length));
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t t = 0; t < nt; ++t) {
      cache.valid_host.data<uint8_t>()[b * cache.capacity + cache.length + t] =
          mask.defined() ? (mask.data<uint8_t>()[b * nt + t] != 0) : 1;
    }
  }
  BATON_RETURN_IF_ERROR(backend_->Copy(cache.valid_host, cache.valid));
  BATON_ASSIGN_OR_RETURN(Tensor ids, backend_->Upload(tokens.Reshape({n}), DType::kI32));
  Tensor x = NewAct({n, c.hidden_size});  // residual stream
  BATON_RETURN_IF_ERROR(backend_->Embedding(weights_.embed, ids, x));
  LayerActivations scratch;  // shared by all layers: nothing is kept for a backward pass
  scratch.Allocate(c, n, backend_);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    BATON_RETURN_IF_ERROR(LayerForward(l, x, positions, cache, scratch, false));
  }
  cache.length += nt;

  Tensor final_in = x;
  int64_t rows = n;
  if (last_only) {  // only each sequence's last position feeds the lm_head
    final_in = NewAct({nb, c.hidden_size});
    for (int64_t b = 0; b < nb; ++b) {
      Tensor dst = final_in.Slice(b, b + 1);
      BATON_RETURN_IF_ERROR(backend_->Copy(x.Slice((b + 1) * nt - 1, (b + 1) * nt), dst));
    }
    rows = nb;
  }
  Tensor normed = NewAct({rows, c.hidden_size});
  BATON_RETURN_IF_ERROR(
      backend_->RmsNorm(final_in, weights_.final_norm, static_cast<float>(c.rms_norm_eps), normed));
  Tensor logits = NewAct({rows, c.vocab_size});
  BATON_RETURN_IF_ERROR(backend_->MatMulNT(normed, weights_.lm_head, logits));
  return logits.Reshape({nb, last_only ? 1 : nt, c.vocab_size});
}

}  // namespace baton
