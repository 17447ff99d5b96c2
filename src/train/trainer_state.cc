#include "train/trainer_state.h"

#include <cmath>
#include <utility>

namespace baton {

Json TrainerState::ToJson() const {
  Json j = {{"format", "baton-trainer-state"},
            {"version", kVersion},
            {"global_step", global_step},
            {"max_steps", max_steps},
            {"micro_step", micro_step},
            {"window_loss_sum", window_loss_sum},
            {"log_loss_sum", log_loss_sum},
            {"log_grad_norm_sum", log_grad_norm_sum},
            {"log_steps", log_steps},
            {"seed", seed},
            {"num_train_examples", num_train_examples},
            {"trained_tokens", trained_tokens},
            {"train_seconds", train_seconds},
            {"attempts", attempts},
            {"args", args},
            {"window_correct", window_correct},
            {"log_acc_sum", log_acc_sum},
            {"total_loss_sum", total_loss_sum}};
  j["best_metric"] = best_metric ? Json(*best_metric) : Json(nullptr);
  j["best_step"] = best_step ? Json(*best_step) : Json(nullptr);
  return j;
}

Status TrainerState::CheckRanges(const std::string& source) const {
  auto at_least = [&](const char* key, int64_t value, int64_t min) -> Status {
    if (value >= min) return Status::Ok();
    return Corruption("{}: key '{}' is {}, want an integer >= {}", source, key, value, min);
  };
  BATON_RETURN_IF_ERROR(at_least("global_step", global_step, 0));
  BATON_RETURN_IF_ERROR(at_least("max_steps", max_steps, 0));
  BATON_RETURN_IF_ERROR(at_least("micro_step", micro_step, 0));
  BATON_RETURN_IF_ERROR(at_least("log_steps", log_steps, 0));
  BATON_RETURN_IF_ERROR(at_least("num_train_examples", num_train_examples, 0));
  BATON_RETURN_IF_ERROR(at_least("trained_tokens", trained_tokens, 0));
  BATON_RETURN_IF_ERROR(at_least("attempts", attempts, 1));
  BATON_RETURN_IF_ERROR(at_least("window_correct", window_correct, 0));
  if (best_step) {
    BATON_RETURN_IF_ERROR(at_least("best_step", *best_step, 0));
    if (*best_step > global_step) {
      return Corruption("{}: key 'best_step' is {}, after global_step {}", source, *best_step,
                        global_step);
    }
  }
  const std::pair<const char*, double> numbers[] = {{"window_loss_sum", window_loss_sum},
                                                    {"log_loss_sum", log_loss_sum},
                                                    {"log_grad_norm_sum", log_grad_norm_sum},
                                                    {"train_seconds", train_seconds},
                                                    {"log_acc_sum", log_acc_sum},
                                                    {"total_loss_sum", total_loss_sum}};
  for (const auto& [key, value] : numbers) {
    if (!std::isfinite(value)) return Corruption("{}: key '{}' is not finite", source, key);
  }
  if (train_seconds < 0) return Corruption("{}: key 'train_seconds' is negative", source);
  return Status::Ok();
}

Result<TrainerState> TrainerState::FromJson(const Json& j, const std::string& source) {
  if (!j.is_object() || !j.contains("format") || j["format"] != "baton-trainer-state") {
    return Corruption("{}: not a baton trainer state", source);
  }
  TrainerState s;
  BATON_ASSIGN_OR_RETURN(int64_t version, JsonInt(j, "version", source));
  if (version < 1) return Corruption("{}: trainer state version {} is not >= 1", source, version);
  if (version > kVersion) {
    return Unimplemented("{}: trainer state version {} is newer than this baton ({})", source,
                         version, kVersion);
  }
  BATON_ASSIGN_OR_RETURN(s.global_step, JsonInt(j, "global_step", source));
  BATON_ASSIGN_OR_RETURN(s.max_steps, JsonInt(j, "max_steps", source));
  BATON_ASSIGN_OR_RETURN(s.micro_step, JsonInt(j, "micro_step", source));
  BATON_ASSIGN_OR_RETURN(s.window_loss_sum, JsonNumber(j, "window_loss_sum", source));
  BATON_ASSIGN_OR_RETURN(s.log_loss_sum, JsonNumber(j, "log_loss_sum", source));
  BATON_ASSIGN_OR_RETURN(s.log_grad_norm_sum, JsonNumber(j, "log_grad_norm_sum", source));
  BATON_ASSIGN_OR_RETURN(s.log_steps, JsonInt(j, "log_steps", source));
  // The seed is written unsigned and may be 2^63 or more, beyond JsonInt.
  if (j.contains("seed") && j["seed"].is_number_unsigned()) {
    s.seed = j["seed"].get<uint64_t>();
  } else {
    BATON_ASSIGN_OR_RETURN(int64_t seed, JsonInt(j, "seed", source));
    if (seed < 0) return Corruption("{}: key 'seed' is {}, want an integer >= 0", source, seed);
    s.seed = static_cast<uint64_t>(seed);
  }
  BATON_ASSIGN_OR_RETURN(s.num_train_examples, JsonInt(j, "num_train_examples", source));
  // Appended fields: absent in older files, then the defaults; present, checked like the rest.
  if (j.contains("trained_tokens")) {
    BATON_ASSIGN_OR_RETURN(s.trained_tokens, JsonInt(j, "trained_tokens", source));
  }
  if (j.contains("train_seconds")) {
    BATON_ASSIGN_OR_RETURN(s.train_seconds, JsonNumber(j, "train_seconds", source));
  }
  if (j.contains("attempts")) {
    BATON_ASSIGN_OR_RETURN(s.attempts, JsonInt(j, "attempts", source));
  }
  if (j.contains("window_correct")) {
    BATON_ASSIGN_OR_RETURN(s.window_correct, JsonInt(j, "window_correct", source));
  }
  if (j.contains("log_acc_sum")) {
    BATON_ASSIGN_OR_RETURN(s.log_acc_sum, JsonNumber(j, "log_acc_sum", source));
  }
  if (j.contains("total_loss_sum")) {
    BATON_ASSIGN_OR_RETURN(s.total_loss_sum, JsonNumber(j, "total_loss_sum", source));
  }
  // null (no eval yet) or absent: no best checkpoint.
  if (j.contains("best_metric") && !j["best_metric"].is_null()) {
    BATON_ASSIGN_OR_RETURN(s.best_metric, JsonNumber(j, "best_metric", source));
  }
  if (j.contains("best_step") && !j["best_step"].is_null()) {
    BATON_ASSIGN_OR_RETURN(s.best_step, JsonInt(j, "best_step", source));
  }
  if (j.contains("args") && !j["args"].is_null()) {  // null: saved without arguments
    if (!j["args"].is_object()) {
      return Corruption("{}: key 'args': expected an object, got {}", source,
                        j["args"].type_name());
    }
    s.args = j["args"];
  }
  BATON_RETURN_IF_ERROR(s.CheckRanges(source));
  return s;
}

}  // namespace baton
