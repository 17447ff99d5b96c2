#include "model/weights.h"

namespace baton {

const char* LinearModuleName(LinearKind kind) {
  static const char* names[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                "gate_proj", "up_proj", "down_proj"};
  return names[static_cast<int>(kind)];
}

std::string LinearModulePath(int layer, LinearKind kind) {
  bool attn = kind == LinearKind::kQ || kind == LinearKind::kK || kind == LinearKind::kV ||
              kind == LinearKind::kO;
  return fmt::format("model.layers.{}.{}.{}", layer, attn ? "self_attn" : "mlp",
                     LinearModuleName(kind));
}

std::array<int64_t, 2> LinearShape(const ModelConfig& c, LinearKind kind) {
  int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  switch (kind) {
    case LinearKind::kQ:
      return {q, c.hidden_size};
    case LinearKind::kK:
      return {kv, c.hidden_size};
    case LinearKind::kV:
      return {kv, c.hidden_size};
    case LinearKind::kO:
      return {c.hidden_size, q};
    case LinearKind::kGate:
      return {c.intermediate_size, c.hidden_size};
    case LinearKind::kUp:
      return {c.intermediate_size, c.hidden_size};
    case LinearKind::kDown:
      return {c.hidden_size, c.intermediate_size};
  }
  return {0, 0};
}

bool LinearHasBias(const ModelConfig& c, LinearKind kind) {
  switch (kind) {
    case LinearKind::kQ:
    case LinearKind::kK:
    case LinearKind::kV:
      return c.attention_bias;
    case LinearKind::kO:
      return c.arch == Architecture::kLlama && c.attention_bias;
    default:
      return c.mlp_bias;
  }
}

void ForEachWeight(const ModelConfig& c, ModelWeights& w,
                   const std::function<void(const std::string&, const Shape&, Tensor&)>& fn) {
  w.layers.resize(c.num_hidden_layers);
  fn("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, w.embed);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w.layers[i];
    fn(fmt::format("model.layers.{}.input_layernorm.weight", i), {c.hidden_size}, l.input_norm);
    for (LinearKind k : kAllLinearKinds) {
      auto [out, in] = LinearShape(c, k);
      std::string path = LinearModulePath(i, k);
      fn(path + ".weight", {out, in}, l[k].weight);
      if (LinearHasBias(c, k)) fn(path + ".bias", {out}, l[k].bias);
    }
    fn(fmt::format("model.layers.{}.post_attention_layernorm.weight", i), {c.hidden_size},
       l.post_norm);
  }
  fn("model.norm.weight", {c.hidden_size}, w.final_norm);
  if (!c.tie_word_embeddings) fn("lm_head.weight", {c.vocab_size, c.hidden_size}, w.lm_head);
}

Result<ModelWeights> LoadWeights(const ModelConfig& c, const WeightSet& set, Backend* backend) {
  const bool host_f32 = backend == nullptr || (backend->device() == Device::kCpu &&
                                               backend->weight_dtype() == DType::kF32);
  ModelWeights w;
  Status status;
  ForEachWeight(c, w, [&](const std::string& name, const Shape& shape, Tensor& slot) {
    if (!status.ok()) return;
    Result<Tensor> t = set.Get(name);
    if (!t.ok()) {
      status = t.status().WithContext("loading the model");
      return;
    }
    if (!IsFloating(t->dtype())) {
      status = InvalidArgument("{}: tensor '{}' has dtype {}; weights must be F32, BF16 or F16",
                               set.Describe(), name, DTypeName(t->dtype()));
      return;
    }
    if (t->shape() != shape) {
      status = InvalidArgument("{}: tensor '{}' has shape {} but config.json implies {}",
                               set.Describe(), name, ShapeString(t->shape()), ShapeString(shape));
      return;
    }
    if (host_f32) {
      slot = t->dtype() == DType::kF32 ? *t : t->ToF32();
      return;
    }
    Result<Tensor> placed =
        backend->Upload(*t, t->rank() == 2 ? backend->weight_dtype() : DType::kF32);
    if (!placed.ok()) {
      status =
          placed.status().WithContext(fmt::format("loading '{}' from {}", name, set.Describe()));
      return;
    }
    slot = std::move(placed).value();
    // The bytes are on the device (Copy returns once the host memory may be reused).
    set.Release(name);
  });
  BATON_RETURN_IF_ERROR(status);
  if (c.tie_word_embeddings) w.lm_head = w.embed;
  return w;
}

}  // namespace baton
