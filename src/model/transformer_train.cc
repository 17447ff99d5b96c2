// The training half of Transformer: forward with saved (or recomputed) activations, a chunked
// lm_head + cross-entropy that never holds all logits at once, and the backward pass into the
// LoRA gradients. Base weights are frozen.
#include <algorithm>

#include "model/transformer.h"

namespace baton {

Result<Transformer::LossSum> Transformer::ForwardBackward(const Tensor& tokens,
                                                          const Tensor& labels, const Tensor& mask,
                                                          float grad_scale, bool recompute,
                                                          LoraAdapter* grads) {
  const ModelConfig& c = config_;
  BATON_RETURN_IF_ERROR(CheckTokens(tokens, mask));
  bool backward = grads != nullptr;
  if (backward && adapter_ == nullptr) {
    return InvalidArgument("ForwardBackward: no LoRA adapter is set");
  }
  if (!backward) recompute = true;  // keep nothing: one scratch set serves every layer
  if (labels.shape() != tokens.shape() || labels.dtype() != DType::kI32) {
    return InvalidArgument("ForwardBackward: labels must be i32 {}, got {}",
                           ShapeString(tokens.shape()), labels.Describe());
  }
  if (backward && grads->params().numel() != adapter_->params().numel()) {
    return InvalidArgument("ForwardBackward: gradient layout does not match the adapter");
  }
  int64_t nb = tokens.dim(0), nt = tokens.dim(1), n = nb * nt;
  if (nt > c.max_position_embeddings) {
    return InvalidArgument("ForwardBackward: {} tokens exceed max_position_embeddings {}", nt,
                           c.max_position_embeddings);
  }
  float eps = static_cast<float>(c.rms_norm_eps);
  // Shifted labels: position t predicts labels[t + 1]; the last position predicts nothing.
  Tensor targets_host = Tensor::Empty({n}, DType::kI32);
  LossSum sum;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t t = 0; t < nt; ++t) {
      int32_t label = t + 1 < nt ? labels.data<int32_t>()[b * nt + t + 1] : kIgnoreLabel;
      if (label != kIgnoreLabel && (label < 0 || label >= c.vocab_size)) {
        return InvalidArgument("ForwardBackward: label {} at position {} is outside [0, {})", label,
                               b * nt + t + 1, c.vocab_size);
      }
      targets_host.data<int32_t>()[b * nt + t] = label;
      sum.tokens += label != kIgnoreLabel;
    }
  }
  BATON_ASSIGN_OR_RETURN(Tensor targets, backend_->Upload(targets_host, DType::kI32));
  KVCache cache = NewCache(nb, nt);
  BATON_ASSIGN_OR_RETURN(Tensor positions, MakePositions(nb, nt, 0));
  for (int64_t i = 0; i < n; ++i) {
    cache.valid_host.data<uint8_t>()[i] = mask.defined() ? mask.data<uint8_t>()[i] != 0 : 1;
  }
  BATON_RETURN_IF_ERROR(backend_->Copy(cache.valid_host, cache.valid));

  // Forward, keeping every layer's activations (or only each layer's input when recomputing).
  BATON_ASSIGN_OR_RETURN(Tensor ids, backend_->Upload(tokens.Reshape({n}), DType::kI32));
  Tensor x = NewAct({n, c.hidden_size});
  BATON_RETURN_IF_ERROR(backend_->Embedding(weights_.embed, ids, x));
  std::vector<LayerActivations> acts(c.num_hidden_layers);
  LayerActivations scratch;
  if (recompute) scratch.Allocate(c, n, backend_);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    LayerActivations& a = recompute ? scratch : acts[l];
    if (!recompute) a.Allocate(c, n, backend_);
    BATON_RETURN_IF_ERROR(LayerForward(l, x, positions, cache, a, backward));
    if (recompute && backward) {
      acts[l].x_in = NewAct(a.x_in.shape());
      BATON_RETURN_IF_ERROR(backend_->Copy(a.x_in, acts[l].x_in));
    }
  }
  cache.length = nt;

  // Final norm, then lm_head + cross-entropy in row chunks: dx = dLoss/dx_final.
  Tensor normed = NewAct({n, c.hidden_size});
  BATON_RETURN_IF_ERROR(backend_->RmsNorm(x, weights_.final_norm, eps, normed));
  Tensor d_normed = NewAct({n, c.hidden_size});
  const int64_t chunk = backend_->logit_rows_per_chunk();
  Tensor logits_block = NewAct({std::min(n, chunk), c.vocab_size});  // reused by every chunk
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    int64_t r1 = std::min(n, r0 + chunk);
    Tensor rows = normed.Slice(r0, r1);
    Tensor logits = logits_block.Slice(0, r1 - r0);
    BATON_RETURN_IF_ERROR(backend_->MatMulNT(rows, weights_.lm_head, logits));
    int64_t correct = 0;
    BATON_ASSIGN_OR_RETURN(double loss, backend_->CrossEntropy(logits, targets.Slice(r0, r1),
                                                               grad_scale, logits, &correct));
    sum.loss += loss;
    sum.correct += correct;
    if (!backward) continue;
    Tensor d_rows = d_normed.Slice(r0, r1);
    BATON_RETURN_IF_ERROR(backend_->Gemm(false, false, logits, weights_.lm_head, d_rows));
  }
  if (!backward) return sum;
  Tensor dx = NewAct({n, c.hidden_size});
  BATON_RETURN_IF_ERROR(backend_->RmsNormBackward(x, weights_.final_norm, eps, d_normed, dx));

  // Backward through the layers, last to first.
  for (int l = c.num_hidden_layers - 1; l >= 0; --l) {
    LayerActivations* a = &acts[l];
    if (recompute) {
      Tensor x_re = NewAct(acts[l].x_in.shape());
      BATON_RETURN_IF_ERROR(backend_->Copy(acts[l].x_in, x_re));
      KVCache layer_cache = cache;  // shares tensors; refilled for this layer from slot 0
      layer_cache.length = 0;
      BATON_RETURN_IF_ERROR(LayerForward(l, x_re, positions, layer_cache, scratch, true));
      a = &scratch;
    }
    BATON_RETURN_IF_ERROR(LayerBackward(l, positions, cache, *a, dx, *grads));
  }
  return sum;
}

}  // namespace baton
