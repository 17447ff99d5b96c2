#include "train/checkpoint_io.h"

#include "model/safetensors.h"
#include "run/layout.h"

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

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> SerializeCheckpoint(
    const TrainableState& trainable, const TrainerState& state) {
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
