// Merging a LoRA adapter into its base model (PEFT's merge_and_unload, what `swift export
// --merge_lora true` runs): every adapted projection becomes W' = W + scale * B A, with the
// scale of its module (alpha / r, alpha / sqrt(r) with rsLoRA, rank_pattern and alpha_pattern
// applied: LoraConfig::ScaleFor). The result is a Hugging Face model folder that any loader reads
// without the adapter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/lora.h"

namespace baton {

struct MergeOptions {
  // Files larger than this are split into shards listed by model.safetensors.index.json (HF's
  // save_pretrained default max_shard_size, "5GB").
  uint64_t max_shard_bytes = 5'000'000'000ull;
  // Progress lines ("writing model-00002-of-00004.safetensors: ..."); none when empty.
  std::function<void(const std::string&)> progress;
};

// W[out, in] (f32, row-major) += scale * B A for one adapter entry (whose A and B are on the CPU).
void AddLoraDelta(const LoraEntry& entry, float* w);

// Writes into `out_dir` (created; files of the same names replaced) the weights of the model in
// `model_dir` with `adapter` (on the CPU, loaded for that model) merged in: each tensor in the
// dtype the base model stores it in (the merge itself is computed in f32), sharded as
// `options` says, with model.safetensors.index.json when there is more than one file. Every other
// file of the model folder (config.json, generation_config.json, the tokenizer's files) is
// copied; weight files of other formats (.bin, .pt, .pth) and hidden files are not. Errors name
// the tensor or file; an adapter module whose weight the model folder does not hold is an error.
Status MergeLoraIntoModel(Env* env, const std::string& model_dir, const LoraAdapter& adapter,
                          const std::string& out_dir, const MergeOptions& options = {});

}  // namespace baton
