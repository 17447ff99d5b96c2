// The arguments of `baton train`: ms-swift's `swift sft` flag names, meanings and defaults, so
// users can paste their command line. One field list (VisitFields) drives the CLI, the copy
// saved in each checkpoint, and the check that a resumed run was started the same way.
#pragma once

#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace baton {

struct TrainArgs {
  // Upper bounds Validate() enforces, far above any real run, so that a typo (`--max_steps 1e30`,
  // `--lora_rank 1000000000`) fails before anything is sized by it. The rank is also checked
  // against the model: at most min(in, out) features of every adapted module.
  static constexpr int64_t kMaxSteps = 1'000'000'000;
  static constexpr double kMaxEpochs = 1'000'000;
  static constexpr int64_t kMaxBatchSize = 1 << 20;
  static constexpr int64_t kMaxGradientAccumulation = 1 << 20;
  static constexpr int64_t kMaxLoraRank = 1 << 16;
  static constexpr int64_t kMaxLength = 1 << 24;

  std::string model;
  std::vector<std::string> dataset;
  std::string output_dir = "output";
  std::string train_type = "lora";
  std::string torch_dtype = "float32";  // float32 (CPU or CUDA) | bfloat16 (CUDA)
  std::string device = "auto";  // auto (CUDA when built with it and a GPU is seen) | cpu | cuda
  std::string template_name;    // --template; empty: from the model's tokenizer_config.json
  double num_train_epochs = 3;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  int64_t per_device_train_batch_size = 1;
  int64_t per_device_eval_batch_size = 1;
  int64_t gradient_accumulation_steps = 0;  // 0: ms-swift's ceil(16 / batch size)
  double learning_rate = 1e-4;
  std::string lr_scheduler_type = "cosine";
  double warmup_ratio = 0.0;
  double weight_decay = 0.1;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  int64_t lora_rank = 8;
  double lora_alpha = 32;
  double lora_dropout = 0.05;
  std::vector<std::string> target_modules = {"all-linear"};
  bool use_rslora = false;
  bool gradient_checkpointing = true;
  int64_t max_length = 2048;
  std::string truncation_strategy = "delete";  // delete | left | right
  std::string system;
  bool system_given = false;
  std::vector<std::string> model_name;    // two values: Chinese, English
  std::vector<std::string> model_author;  // two values: Chinese, English
  // --columns: a JSON object renaming dataset columns, e.g. {"prompt_text": "query"} (ms-swift's
  // --columns); empty: none.
  std::string columns;
  double split_dataset_ratio = 0.0;
  int64_t eval_steps = 500;
  int64_t save_steps = 500;
  int64_t save_total_limit = 0;  // 0: keep all
  int64_t logging_steps = 5;
  uint64_t seed = 42;

  // Calls v(flag_name, field) for every field above, in order.
  template <typename V>
  void VisitFields(V&& v) {
    v("model", model);
    v("dataset", dataset);
    v("output_dir", output_dir);
    v("train_type", train_type);
    v("torch_dtype", torch_dtype);
    v("device", device);
    v("template", template_name);
    v("num_train_epochs", num_train_epochs);
    v("max_steps", max_steps);
    v("per_device_train_batch_size", per_device_train_batch_size);
    v("per_device_eval_batch_size", per_device_eval_batch_size);
    v("gradient_accumulation_steps", gradient_accumulation_steps);
    v("learning_rate", learning_rate);
    v("lr_scheduler_type", lr_scheduler_type);
    v("warmup_ratio", warmup_ratio);
    v("weight_decay", weight_decay);
    v("adam_beta1", adam_beta1);
    v("adam_beta2", adam_beta2);
    v("adam_epsilon", adam_epsilon);
    v("max_grad_norm", max_grad_norm);
    v("lora_rank", lora_rank);
    v("lora_alpha", lora_alpha);
    v("lora_dropout", lora_dropout);
    v("target_modules", target_modules);
    v("use_rslora", use_rslora);
    v("gradient_checkpointing", gradient_checkpointing);
    v("max_length", max_length);
    v("truncation_strategy", truncation_strategy);
    v("system", system);
    v("model_name", model_name);
    v("model_author", model_author);
    v("columns", columns);
    v("split_dataset_ratio", split_dataset_ratio);
    v("eval_steps", eval_steps);
    v("save_steps", save_steps);
    v("save_total_limit", save_total_limit);
    v("logging_steps", logging_steps);
    v("seed", seed);
  }

  Json ToJson() const;
  // Range and consistency checks; errors name the flag. Every number is finite.
  Status Validate() const;
  // The run's optimizer steps: --max_steps, or ceil(--num_train_epochs x steps_per_epoch),
  // which must be within [1, kMaxSteps].
  Result<int64_t> TotalSteps(int64_t steps_per_epoch) const;
  int64_t EffectiveGradientAccumulation() const;
  // Flags whose change would alter the training trajectory, with old and new values.
  std::vector<std::string> TrajectoryDifferences(const Json& saved) const;
};

}  // namespace baton
