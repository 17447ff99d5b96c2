#include "train/trainer_state.h"

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
            {"args", args}};
  j["best_metric"] = best_metric ? Json(*best_metric) : Json(nullptr);
  j["best_step"] = best_step ? Json(*best_step) : Json(nullptr);
  return j;
}

namespace {

// The seed is a uint64, the one field beyond int64's range (JsonInt refuses it there).
Result<uint64_t> ReadSeed(const Json& j, const std::string& source) {
  auto it = j.find("seed");
  if (it != j.end() && it->is_number_unsigned()) return it->get<uint64_t>();
  BATON_ASSIGN_OR_RETURN(int64_t seed, JsonInt(j, "seed", source));
  if (seed < 0) return InvalidArgument("{}: key 'seed' must not be negative, got {}", source, seed);
  return static_cast<uint64_t>(seed);
}

}  // namespace

Result<TrainerState> TrainerState::FromJson(const Json& j, const std::string& source) {
  if (!j.is_object() || !j.contains("format") || j["format"] != "baton-trainer-state") {
    return Corruption("{}: not a baton trainer state", source);
  }
  TrainerState s;
  BATON_ASSIGN_OR_RETURN(int64_t version, JsonInt(j, "version", source));
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
  BATON_ASSIGN_OR_RETURN(s.seed, ReadSeed(j, source));
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
  // null (no eval yet) or absent: no best checkpoint.
  if (j.contains("best_metric") && !j["best_metric"].is_null()) {
    BATON_ASSIGN_OR_RETURN(s.best_metric, JsonNumber(j, "best_metric", source));
  }
  if (j.contains("best_step") && !j["best_step"].is_null()) {
    BATON_ASSIGN_OR_RETURN(s.best_step, JsonInt(j, "best_step", source));
  }
  if (j.contains("args")) s.args = j["args"];
  return s;
}

}  // namespace baton
