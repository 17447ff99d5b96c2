// LoRA adapters in PEFT's format (adapter_config.json + adapter_model.safetensors).
// All A and B matrices live in ONE f32 block (`params`) with a table of entries, so the optimizer
// is one flat loop and a checkpoint one write; per-module tensors are views into that block.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/peft_names.h"
#include "model/weights.h"
#include "tensor/backend.h"

namespace baton {

struct LoraConfig {
  int64_t r = 8;
  double alpha = 32;
  double dropout = 0.0;
  bool use_rslora = false;
  // Short names ("q_proj") or the PEFT special "all-linear"; or a regex over the module path
  // when `target_regex` is set (PEFT's string form).
  std::vector<std::string> target_modules;
  std::optional<std::string> target_regex;
  std::vector<int64_t> layers_to_transform;  // empty: all layers
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  // PEFT's base_model_name_or_path: the base model as the user named it (path, hub id or store
  // URL), so that PEFT and ms-swift find it from the adapter alone. Not part of the adapter's
  // shape: a resume on another machine may name the same model by another path.
  std::optional<std::string> base_model_name_or_path;

  static Result<LoraConfig> FromJson(const Json& j, const std::string& source);
  // Checks this config against `model` before anything is allocated: every adapted module's
  // rank is in [1, min(in, out)] (a larger rank adds parameters and no expressiveness), alphas
  // are finite and positive, layers_to_transform names layers of the model, and the adapter
  // has at most kMaxParameters. Errors start with `rank_source` for the rank ("--lora_rank" or
  // "adapter_config.json: key 'r'") and `source` for the rest.
  Status CheckFits(const ModelConfig& model, const std::string& source,
                   const std::string& rank_source) const;
  static constexpr double kMaxParameters = 1e10;
  Json ToJson() const;  // keys that old PEFT versions know, nothing else
  bool Targets(int layer, LinearKind kind) const;
  int64_t RankFor(int layer, LinearKind kind) const;
  double ScaleFor(int layer, LinearKind kind) const;  // alpha/r, or alpha/sqrt(r) with rslora
};

struct LoraEntry {
  int layer;
  LinearKind kind;
  int64_t rank, in, out;
  float scale;
  Tensor a;  // [rank, in], view into the block
  Tensor b;  // [out, rank], view into the block
};

class LoraAdapter {
 public:
  // Zero-filled adapter for the modules `config` targets on `model`. Its parameters live on
  // `backend`'s device (null: the CPU); reading and writing them goes through host copies.
  static LoraAdapter Create(const ModelConfig& model, const LoraConfig& config,
                            Backend* backend = nullptr);
  // Reads DIR/adapter_config.json and DIR/adapter_model.safetensors, checking every tensor
  // against the model. Errors name the file and tensor.
  static Result<LoraAdapter> Load(Env* env, const std::string& dir, const ModelConfig& model);
  Status Save(Env* env, const std::string& dir) const;
  // A copy whose parameters live on the CPU (a download), or on `backend`'s device.
  Result<LoraAdapter> ToHost() const;
  Result<LoraAdapter> ToBackend(Backend* backend) const;
  // The two files of a PEFT adapter folder, as bytes.
  Result<std::string> SerializeWeights() const;  // adapter_model.safetensors
  std::string SerializeConfig() const;           // adapter_config.json
  // Replaces every value from adapter_model.safetensors bytes written for the same layout.
  Status LoadWeightsFromBytes(std::string bytes, const std::string& name);
  // PEFT's default init: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
  // Counter-based, so the values depend on (seed, module) only.
  Status InitLikePeft(uint64_t seed);

  const LoraConfig& config() const { return config_; }
  const std::vector<LoraEntry>& entries() const { return entries_; }
  std::vector<LoraEntry>& entries() { return entries_; }
  // The entry for a module, or null if it is not adapted.
  const LoraEntry* Find(int layer, LinearKind kind) const;
  Tensor& params() { return params_; }
  const Tensor& params() const { return params_; }
  // PEFT's saved name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".
  static std::string TensorName(int layer, LinearKind kind, bool is_a);

 private:
  // Views of every A and B (in `entries_` order) laid over `block`, a params-sized f32 tensor.
  std::vector<std::pair<Tensor, Tensor>> ViewsOf(const Tensor& block) const;
  // Makes `block` the parameters and points every entry's A and B at their views of it.
  void BindParams(Tensor block);
  // A CPU tensor holding the parameters: params_ itself, or a download of it.
  Result<Tensor> HostParams() const;
  // Writes a CPU block into params_ (a no-op when it is params_).
  Status SetParams(const Tensor& host);

  LoraConfig config_;
  Backend* backend_ = nullptr;
  Tensor params_;  // f32, every A and B back to back
  std::vector<LoraEntry> entries_;
  std::vector<int> index_;  // layer * kNumLinearKinds + kind -> entry or -1
};

}  // namespace baton
