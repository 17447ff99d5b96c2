// The base model's weights and the single function that lists them. Loading, LoRA targeting,
// init-model and golden comparisons all go through ForEachWeight, so a name is spelled once.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"
#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace baton {

// The linear projections of one decoder layer, in PEFT's module names.
enum class LinearKind : int { kQ = 0, kK, kV, kO, kGate, kUp, kDown };
constexpr int kNumLinearKinds = 7;
constexpr std::array<LinearKind, kNumLinearKinds> kAllLinearKinds = {
    LinearKind::kQ,    LinearKind::kK,  LinearKind::kV,   LinearKind::kO,
    LinearKind::kGate, LinearKind::kUp, LinearKind::kDown};

const char* LinearModuleName(LinearKind kind);  // "q_proj", ..., "down_proj"
// "model.layers.3.self_attn.q_proj" / "model.layers.3.mlp.down_proj".
std::string LinearModulePath(int layer, LinearKind kind);
// [out_features, in_features] of a projection.
std::array<int64_t, 2> LinearShape(const ModelConfig& c, LinearKind kind);
bool LinearHasBias(const ModelConfig& c, LinearKind kind);

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
};

struct LayerWeights {
  Tensor input_norm;  // [hidden]
  Tensor post_norm;   // [hidden]
  std::array<Linear, kNumLinearKinds> proj;
  Linear& operator[](LinearKind k) { return proj[static_cast<int>(k)]; }
  const Linear& operator[](LinearKind k) const { return proj[static_cast<int>(k)]; }
};

struct ModelWeights {
  Tensor embed;       // [vocab, hidden]
  Tensor final_norm;  // [hidden]
  Tensor lm_head;     // [vocab, hidden]; shares `embed` when tied
  std::vector<LayerWeights> layers;
};

// Calls fn(hf_name, expected_shape, slot) for every stored tensor of the model, in file order.
// A tied lm_head is not listed (it is not in the file).
void ForEachWeight(const ModelConfig& c, ModelWeights& w,
                   const std::function<void(const std::string&, const Shape&, Tensor&)>& fn);

// Loads every tensor, checking dtypes and shapes against the config; errors name the tensor, the
// file and the config-implied shape. With no backend, or one that computes in f32 on the CPU,
// every tensor is a host f32 tensor (bf16/f16 converted; f32 files are used in place, mapped).
// For any other backend (the GPU) each tensor goes from the mapped file straight to the device
// in the backend's dtypes (weight matrices as weight_dtype(), vectors as f32), converted on the
// host only when the file's dtype differs, and its file pages are released before the next
// tensor: host memory peaks at about one tensor, not the model (a bf16 7B model is 15 GB; as
// f32 on the host it was 30 GB, the recipe's whole instance).
Result<ModelWeights> LoadWeights(const ModelConfig& c, const WeightSet& set,
                                 Backend* backend = nullptr);

}  // namespace baton
