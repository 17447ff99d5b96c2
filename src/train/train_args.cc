#include "train/train_args.h"

#include <cmath>
#include <string_view>
#include <type_traits>

#include "base/utf8.h"
#include "data/row_mapping.h"

namespace baton {

Json TrainArgs::ToJson() const {
  Json j;
  TrainArgs copy = *this;
  copy.VisitFields([&](const char* key, const auto& field) { j[key] = field; });
  return j;
}

Status TrainArgs::Validate() const {
  // Every string is saved in each checkpoint's JSON: refuse what is not UTF-8 before any work.
  Status utf8 = Status::Ok();
  TrainArgs copy = *this;
  copy.VisitFields([&](const char* key, const auto& field) {
    using T = std::decay_t<decltype(field)>;
    auto check = [&](std::string_view value) {
      if (utf8.ok()) utf8 = CheckUtf8(value, fmt::format("--{}", key));
    };
    if constexpr (std::is_same_v<T, std::string>) {
      check(field);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      for (const std::string& v : field) check(v);
    }
  });
  BATON_RETURN_IF_ERROR(utf8);
  auto positive = [](const char* flag, double v) -> Status {
    if (v > 0) return Status::Ok();
    return InvalidArgument("--{} must be positive, got {}", flag, v);
  };
  if (model.empty()) return InvalidArgument("--model is required");
  if (dataset.empty()) return InvalidArgument("--dataset is required");
  if (train_type != "lora") {
    return Unimplemented("--train_type {} is not supported (only lora)", train_type);
  }
  if (torch_dtype != "float32" && torch_dtype != "fp32" && torch_dtype != "bfloat16" &&
      torch_dtype != "bf16") {
    return InvalidArgument("--torch_dtype {}: expected float32 or bfloat16", torch_dtype);
  }
  if (device != "auto" && device != "cpu" && device != "cuda") {
    return InvalidArgument("--device {}: expected auto, cpu or cuda", device);
  }
  if (max_steps <= 0) BATON_RETURN_IF_ERROR(positive("num_train_epochs", num_train_epochs));
  BATON_RETURN_IF_ERROR(positive("per_device_train_batch_size", per_device_train_batch_size));
  BATON_RETURN_IF_ERROR(positive("per_device_eval_batch_size", per_device_eval_batch_size));
  if (gradient_accumulation_steps < 0) {
    return InvalidArgument("--gradient_accumulation_steps must be >= 1");
  }
  BATON_RETURN_IF_ERROR(positive("learning_rate", learning_rate));
  BATON_RETURN_IF_ERROR(positive("lora_rank", static_cast<double>(lora_rank)));
  BATON_RETURN_IF_ERROR(positive("lora_alpha", lora_alpha));
  BATON_RETURN_IF_ERROR(positive("max_length", static_cast<double>(max_length)));
  BATON_RETURN_IF_ERROR(positive("eval_steps", static_cast<double>(eval_steps)));
  BATON_RETURN_IF_ERROR(positive("save_steps", static_cast<double>(save_steps)));
  BATON_RETURN_IF_ERROR(positive("logging_steps", static_cast<double>(logging_steps)));
  if (lora_dropout < 0 || lora_dropout >= 1)
    return InvalidArgument("--lora_dropout must be in [0, 1)");
  if (warmup_ratio < 0 || warmup_ratio > 1)
    return InvalidArgument("--warmup_ratio must be in [0, 1]");
  if (Result<std::map<std::string, std::string>> c = ParseColumnsFlag(columns); !c.ok()) {
    return c.status();
  }
  if (split_dataset_ratio < 0 || split_dataset_ratio >= 1) {
    return InvalidArgument("--split_dataset_ratio must be in [0, 1)");
  }
  if (max_grad_norm < 0)
    return InvalidArgument("--max_grad_norm must be >= 0 (0 disables clipping)");
  if (weight_decay < 0) return InvalidArgument("--weight_decay must be >= 0");
  return Status::Ok();
}

int64_t TrainArgs::EffectiveGradientAccumulation() const {
  if (gradient_accumulation_steps > 0) return gradient_accumulation_steps;
  // ms-swift: ceil(16 / (per_device_train_batch_size * world_size)), world size 1 here.
  return static_cast<int64_t>(std::ceil(16.0 / static_cast<double>(per_device_train_batch_size)));
}

std::vector<std::string> TrainArgs::TrajectoryDifferences(const Json& saved) const {
  // Flags that only affect output cadence or presentation may change between attempts.
  static const char* kFree[] = {"output_dir",    "eval_steps",
                                "save_steps",    "save_total_limit",
                                "logging_steps", "per_device_eval_batch_size",
                                "model",         "gradient_checkpointing",
                                "device"};
  std::vector<std::string> diffs;
  Json now = ToJson();
  for (auto& [key, value] : now.items()) {
    bool free = false;
    for (const char* f : kFree) free = free || key == f;
    if (free || !saved.contains(key) || saved[key] == value) continue;
    diffs.push_back(
        fmt::format("--{}: checkpoint {} vs now {}", key, DumpJson(saved[key]), DumpJson(value)));
  }
  return diffs;
}

}  // namespace baton
