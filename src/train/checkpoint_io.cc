#include "train/checkpoint_io.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/json.h"
#include "model/safetensors.h"
#include "run/layout.h"
#include "train/swift_args.h"

namespace baton {
namespace {

// A checkpoint file, or Corruption naming it (CheckpointManager::Load checked the manifest, so a
// file missing here is one the manifest did not list).
Result<const std::string*> File(const std::map<std::string, std::string>& files,
                                const std::string& where, const char* name) {
  auto it = files.find(name);
  if (it == files.end()) return Corruption("{}: no {}", where, name);
  return &it->second;
}

constexpr char kLoraASuffix[] = ".lora_A.weight";
constexpr char kLoraBSuffix[] = ".lora_B.weight";

// Corruption with the message of `s` (any code): a checkpoint that does not parse is damaged.
Status AsCorruption(const Status& s) {
  return s.ok() ? s : Status(StatusCode::kCorruption, s.message());
}

// adapter_config.json against the job's LoRA config: every key that shapes the adapter.
Status CheckConfigIsTheJobs(const LoraConfig& saved, const LoraConfig& job,
                            const std::string& source) {
  Json theirs = saved.ToJson(), mine = job.ToJson();
  for (auto& [key, value] : mine.items()) {
    // Neither changes the adapter's shape: dropout only the trajectory, and the base model's
    // name may be another path to the same model on a new machine.
    if (key == "lora_dropout" || key == "base_model_name_or_path") continue;
    auto found = theirs.find(key);
    Json got = found == theirs.end() ? Json(nullptr) : *found;
    if (got != value) {
      return Corruption("{}: '{}' is {}, but the job's LoRA settings give {}", source, key,
                        DumpJson(got), DumpJson(value));
    }
  }
  if (theirs.contains("layers_to_transform") && !mine.contains("layers_to_transform")) {
    return Corruption("{}: 'layers_to_transform' is {}, but the job adapts every layer", source,
                      DumpJson(theirs["layers_to_transform"]));
  }
  return Status::Ok();
}

// The r and lora_alpha of trainer_state.json's args (where recorded) against the config.
Status CheckArgsMatchConfig(const Json& args, const LoraConfig& config, const std::string& where) {
  if (!args.is_object()) return Status::Ok();
  const std::string source = JoinPath(where, kTrainerStateFile);
  auto rank = args.find("lora_rank");
  if (rank != args.end() && !(rank->is_number_integer() && rank->get<int64_t>() == config.r)) {
    return Corruption("{}: args.lora_rank is {}, but {} says r = {}", source, DumpJson(*rank),
                      kAdapterConfigFile, config.r);
  }
  auto alpha = args.find("lora_alpha");
  if (alpha != args.end() && !(alpha->is_number() && alpha->get<double>() == config.alpha)) {
    return Corruption("{}: args.lora_alpha is {}, but {} says lora_alpha = {}", source,
                      DumpJson(*alpha), kAdapterConfigFile, config.alpha);
  }
  return Status::Ok();
}

// adapter_model.safetensors: 2-D F32 A/B pairs whose ranks agree with each other and the config,
// and with `into`, exactly the adapter's tensors. Returns the number of parameters.
Result<int64_t> CheckAdapterWeights(const SafetensorsFile& weights, const LoraConfig& config,
                                    const LoraAdapter* into) {
  const std::string& source = weights.path();
  int64_t numel = 0;
  for (const std::string& name : weights.Names()) {
    BATON_ASSIGN_OR_RETURN(Shape shape, weights.GetShape(name));
    BATON_ASSIGN_OR_RETURN(DType dtype, weights.GetDType(name));
    if (dtype != DType::kF32 || shape.size() != 2) {
      return Corruption("{}: tensor '{}' is {}{}, want a 2-D F32 matrix", source, name,
                        DTypeName(dtype), ShapeString(shape));
    }
    const bool is_a = name.ends_with(kLoraASuffix);
    if (!is_a && !name.ends_with(kLoraBSuffix)) {
      return Corruption("{}: tensor '{}' is not a LoRA matrix (...{} or ...{})", source, name,
                        kLoraASuffix, kLoraBSuffix);
    }
    std::string pair = name.substr(0, name.size() - std::strlen(kLoraASuffix)) +
                       (is_a ? kLoraBSuffix : kLoraASuffix);
    if (!weights.Has(pair)) return Corruption("{}: tensor '{}' has no '{}'", source, name, pair);
    if (is_a) {
      BATON_ASSIGN_OR_RETURN(Shape b, weights.GetShape(pair));
      if (b.size() != 2 || b[1] != shape[0]) {
        return Corruption("{}: tensor '{}' is {} but '{}' is {}: their ranks differ", source, name,
                          ShapeString(shape), pair, ShapeString(b));
      }
      // With a rank_pattern the rank depends on the module: `into` checks those exactly.
      if (shape[0] < 1 || (config.rank_pattern.empty() && shape[0] != config.r)) {
        return Corruption("{}: tensor '{}' is {}: rank {}, but {} says r = {}", source, name,
                          ShapeString(shape), shape[0], kAdapterConfigFile, config.r);
      }
    }
    numel += shape[0] * shape[1];  // fits: the file holds 4 bytes of each
  }
  if (into == nullptr) return numel;
  size_t expected = 0;
  for (const LoraEntry& e : into->entries()) {
    for (bool a : {true, false}) {
      ++expected;
      const std::string name = LoraAdapter::TensorName(e.layer, e.kind, a);
      const Tensor& slot = a ? e.a : e.b;
      if (!weights.Has(name)) {
        return Corruption("{}: no tensor '{}', which the model and LoRA settings need", source,
                          name);
      }
      BATON_ASSIGN_OR_RETURN(Shape shape, weights.GetShape(name));
      if (shape != slot.shape()) {
        return Corruption("{}: tensor '{}' is {}, but the model and LoRA settings give {}", source,
                          name, ShapeString(shape), ShapeString(slot.shape()));
      }
    }
  }
  if (weights.Names().size() != expected) {
    for (const std::string& name : weights.Names()) {
      bool known = false;
      for (const LoraEntry& e : into->entries()) {
        known = known || name == LoraAdapter::TensorName(e.layer, e.kind, true) ||
                name == LoraAdapter::TensorName(e.layer, e.kind, false);
      }
      if (!known) {
        return Corruption("{}: tensor '{}' belongs to no module the job's LoRA settings adapt",
                          source, name);
      }
    }
  }
  return numel;
}

// optimizer.safetensors: the step it records, and F32 vectors of `numel` each.
Status CheckOptimizer(const SafetensorsFile& opt, int64_t step, int64_t micro_step, int64_t numel) {
  const std::string& source = opt.path();
  auto recorded = opt.metadata().find("step");
  if (recorded != opt.metadata().end()) {
    const std::string& text = recorded->second;
    int64_t value = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value != step) {
      return Corruption("{}: records optimizer step '{}', but the checkpoint is step {}", source,
                        text, step);
    }
  }
  std::vector<std::string> want = {"exp_avg", "exp_avg_sq"};
  if (micro_step > 0) want.push_back("accumulated_grads");
  for (const std::string& name : want) {
    if (!opt.Has(name)) return Corruption("{}: no tensor '{}'", source, name);
    BATON_ASSIGN_OR_RETURN(Shape shape, opt.GetShape(name));
    BATON_ASSIGN_OR_RETURN(DType dtype, opt.GetDType(name));
    if (dtype != DType::kF32 || shape != Shape{numel}) {
      return Corruption("{}: tensor '{}' is {}{}, want F32[{}] (one value per adapter parameter)",
                        source, name, DTypeName(dtype), ShapeString(shape), numel);
    }
  }
  for (const std::string& name : opt.Names()) {
    if (std::find(want.begin(), want.end(), name) == want.end()) {
      return Corruption(
          "{}: tensor '{}' is not expected here{}", source, name,
          name == "accumulated_grads" ? " (trainer_state.json says micro_step 0)" : "");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateCheckpoint(const std::map<std::string, std::string>& files, const std::string& where,
                          int64_t step, const TrainableState* into) {
  for (const char* name :
       {kTrainerStateFile, kAdapterConfigFile, kAdapterWeightsFile, kOptimizerFile}) {
    if (!files.contains(name)) {
      return Corruption("{}: no {} (a training checkpoint holds {}, {}, {} and {})", where, name,
                        kAdapterWeightsFile, kAdapterConfigFile, kOptimizerFile, kTrainerStateFile);
    }
  }
  Result<TrainerState> state = ReadCheckpointState(files, where);
  if (!state.ok()) return AsCorruption(state.status());
  if (state->global_step != step) {
    return Corruption("{}: global_step is {}, but the checkpoint is {}",
                      JoinPath(where, kTrainerStateFile), state->global_step, CheckpointDir(step));
  }
  const std::string config_source = JoinPath(where, kAdapterConfigFile);
  Result<Json> config_json = ParseJson(files.at(kAdapterConfigFile), config_source);
  if (!config_json.ok()) return AsCorruption(config_json.status());
  Result<LoraConfig> config = LoraConfig::FromJson(*config_json, config_source);
  if (!config.ok()) return AsCorruption(config.status());
  if (into) {
    BATON_RETURN_IF_ERROR(CheckConfigIsTheJobs(*config, into->adapter->config(), config_source));
  }
  BATON_RETURN_IF_ERROR(CheckArgsMatchConfig(state->args, *config, where));
  if (auto args_json = files.find(kSwiftArgsFile); args_json != files.end()) {
    BATON_RETURN_IF_ERROR(
        CheckSwiftArgs(args_json->second, *config, JoinPath(where, kSwiftArgsFile)));
  }
  Result<SafetensorsFile> weights = SafetensorsFile::FromBytes(
      files.at(kAdapterWeightsFile), JoinPath(where, kAdapterWeightsFile));
  if (!weights.ok()) return AsCorruption(weights.status());
  BATON_ASSIGN_OR_RETURN(int64_t numel,
                         CheckAdapterWeights(*weights, *config, into ? into->adapter : nullptr));
  Result<SafetensorsFile> opt =
      SafetensorsFile::FromBytes(files.at(kOptimizerFile), JoinPath(where, kOptimizerFile));
  if (!opt.ok()) return AsCorruption(opt.status());
  return CheckOptimizer(*opt, step, state->micro_step, numel);
}

Result<std::vector<std::pair<std::string, std::string>>> SerializeCheckpoint(
    const TrainableState& trainable, const TrainerState& state, const std::string& swift_args) {
  Backend* backend = trainable.backend;
  std::vector<std::pair<std::string, std::string>> files;
  BATON_ASSIGN_OR_RETURN(std::string weights, trainable.adapter->SerializeWeights());
  files.emplace_back(kAdapterWeightsFile, std::move(weights));
  files.emplace_back(kAdapterConfigFile, trainable.adapter->SerializeConfig());
  BATON_ASSIGN_OR_RETURN(Tensor exp_avg, backend->Download(trainable.optimizer->exp_avg()));
  BATON_ASSIGN_OR_RETURN(Tensor exp_avg_sq, backend->Download(trainable.optimizer->exp_avg_sq()));
  std::vector<std::pair<std::string, Tensor>> opt = {{"exp_avg", exp_avg},
                                                     {"exp_avg_sq", exp_avg_sq}};
  if (state.micro_step > 0) {
    BATON_ASSIGN_OR_RETURN(Tensor accumulated, backend->Download(trainable.grads->params()));
    opt.emplace_back("accumulated_grads", accumulated);
  }
  BATON_ASSIGN_OR_RETURN(
      std::string opt_bytes,
      SerializeSafetensors(opt, {{"step", std::to_string(trainable.optimizer->step())}}));
  files.emplace_back(kOptimizerFile, std::move(opt_bytes));
  files.emplace_back(kTrainerStateFile, DumpJson(state.ToJson(), 2));
  if (!swift_args.empty()) files.emplace_back(kSwiftArgsFile, swift_args);
  return files;
}

Result<TrainerState> ReadCheckpointState(const std::map<std::string, std::string>& files,
                                         const std::string& where) {
  const std::string source = JoinPath(where, kTrainerStateFile);
  BATON_ASSIGN_OR_RETURN(const std::string* text, File(files, where, kTrainerStateFile));
  BATON_ASSIGN_OR_RETURN(Json j, ParseJson(*text, source));
  return TrainerState::FromJson(j, source);
}

Status RestoreCheckpoint(const std::map<std::string, std::string>& files, const std::string& where,
                         const TrainerState& saved, const TrainableState& trainable) {
  // Everything is checked before anything is written, so a checkpoint that does not fit leaves
  // the trainable state as it was.
  BATON_RETURN_IF_ERROR(ValidateCheckpoint(files, where, saved.global_step, &trainable));
  BATON_ASSIGN_OR_RETURN(const std::string* weights, File(files, where, kAdapterWeightsFile));
  BATON_RETURN_IF_ERROR(
      trainable.adapter->LoadWeightsFromBytes(*weights, JoinPath(where, kAdapterWeightsFile)));
  const std::string opt_source = JoinPath(where, kOptimizerFile);
  BATON_ASSIGN_OR_RETURN(const std::string* opt_bytes, File(files, where, kOptimizerFile));
  BATON_ASSIGN_OR_RETURN(SafetensorsFile opt, SafetensorsFile::FromBytes(*opt_bytes, opt_source));
  auto load_flat = [&](const std::string& name, Tensor& into) -> Status {
    BATON_ASSIGN_OR_RETURN(Tensor t, opt.Get(name));
    if (t.numel() != into.numel() || t.dtype() != DType::kF32) {
      return Corruption("{}: '{}' is {}, want F32[{}]", opt_source, name, t.Describe(),
                        into.numel());
    }
    return trainable.backend->Copy(t, into);
  };
  BATON_RETURN_IF_ERROR(load_flat("exp_avg", trainable.optimizer->exp_avg()));
  BATON_RETURN_IF_ERROR(load_flat("exp_avg_sq", trainable.optimizer->exp_avg_sq()));
  if (saved.micro_step > 0) {
    BATON_RETURN_IF_ERROR(load_flat("accumulated_grads", trainable.grads->params()));
  }
  trainable.optimizer->set_step(saved.global_step);
  return Status::Ok();
}

}  // namespace baton
