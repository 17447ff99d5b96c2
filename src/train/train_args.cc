#include "train/train_args.h"

#include <cmath>
#include <string_view>
#include <type_traits>
#include <utility>

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
  // Every number first: finite (nan and inf pass `> 0` and `< 1` checks in surprising ways).
  Status finite;
  copy.VisitFields([&](const char* key, const auto& field) {
    if constexpr (std::is_floating_point_v<std::decay_t<decltype(field)>>) {
      if (finite.ok() && !std::isfinite(field)) {
        finite = InvalidArgument("--{} must be a finite number, got {}", key, field);
      }
    }
  });
  BATON_RETURN_IF_ERROR(finite);
  auto in_range = [](const char* flag, double v, double lo, double hi) -> Status {
    if (v >= lo && v <= hi) return Status::Ok();
    return InvalidArgument("--{} must be in [{}, {}], got {}", flag, lo, hi, v);
  };
  auto positive = [](const char* flag, double v) -> Status {
    if (v > 0) return Status::Ok();
    return InvalidArgument("--{} must be positive, got {}", flag, v);
  };
  auto count = [&](const char* flag, int64_t v, int64_t hi) -> Status {
    if (v >= 1 && v <= hi) return Status::Ok();
    return InvalidArgument("--{} must be in [1, {}], got {}", flag, hi, v);
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
  if (max_steps <= 0) {
    BATON_RETURN_IF_ERROR(positive("num_train_epochs", num_train_epochs));
    BATON_RETURN_IF_ERROR(in_range("num_train_epochs", num_train_epochs, 0, kMaxEpochs));
  } else {
    BATON_RETURN_IF_ERROR(count("max_steps", max_steps, kMaxSteps));
  }
  BATON_RETURN_IF_ERROR(
      count("per_device_train_batch_size", per_device_train_batch_size, kMaxBatchSize));
  BATON_RETURN_IF_ERROR(
      count("per_device_eval_batch_size", per_device_eval_batch_size, kMaxBatchSize));
  if (gradient_accumulation_steps != 0) {
    BATON_RETURN_IF_ERROR(count("gradient_accumulation_steps", gradient_accumulation_steps,
                                kMaxGradientAccumulation));
  }
  BATON_RETURN_IF_ERROR(positive("learning_rate", learning_rate));
  BATON_RETURN_IF_ERROR(count("lora_rank", lora_rank, kMaxLoraRank));
  BATON_RETURN_IF_ERROR(positive("lora_alpha", lora_alpha));
  BATON_RETURN_IF_ERROR(count("max_length", max_length, kMaxLength));
  BATON_RETURN_IF_ERROR(count("eval_steps", eval_steps, kMaxSteps));
  BATON_RETURN_IF_ERROR(count("save_steps", save_steps, kMaxSteps));
  BATON_RETURN_IF_ERROR(count("logging_steps", logging_steps, kMaxSteps));
  if (Result<std::map<std::string, std::string>> c = ParseColumnsFlag(columns); !c.ok()) {
    return c.status();
  }
  if (save_total_limit < 0) {
    return InvalidArgument("--save_total_limit must be >= 0 (0 keeps all), got {}",
                           save_total_limit);
  }
  if (lora_dropout < 0 || lora_dropout >= 1) {
    return InvalidArgument("--lora_dropout must be in [0, 1), got {}", lora_dropout);
  }
  BATON_RETURN_IF_ERROR(in_range("warmup_ratio", warmup_ratio, 0, 1));
  if (split_dataset_ratio < 0 || split_dataset_ratio >= 1) {
    return InvalidArgument("--split_dataset_ratio must be in [0, 1), got {}", split_dataset_ratio);
  }
  if (max_grad_norm < 0) {
    return InvalidArgument("--max_grad_norm must be >= 0 (0 disables clipping), got {}",
                           max_grad_norm);
  }
  if (weight_decay < 0) return InvalidArgument("--weight_decay must be >= 0, got {}", weight_decay);
  for (const auto& [flag, beta] :
       {std::pair{"adam_beta1", adam_beta1}, {"adam_beta2", adam_beta2}}) {
    if (beta < 0 || beta >= 1) return InvalidArgument("--{} must be in [0, 1), got {}", flag, beta);
  }
  BATON_RETURN_IF_ERROR(positive("adam_epsilon", adam_epsilon));
  return Status::Ok();
}

Result<int64_t> TrainArgs::TotalSteps(int64_t steps_per_epoch) const {
  if (max_steps > 0) return max_steps;
  // Ceil in double, checked before it becomes an integer: epochs x steps may be beyond int64.
  double steps = std::ceil(num_train_epochs * static_cast<double>(steps_per_epoch));
  if (!(steps >= 1 && steps <= static_cast<double>(kMaxSteps))) {
    return InvalidArgument(
        "--num_train_epochs {} x {} steps per epoch gives {} steps; the most is {} (or give "
        "--max_steps)",
        num_train_epochs, steps_per_epoch, steps, kMaxSteps);
  }
  return static_cast<int64_t>(steps);
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
