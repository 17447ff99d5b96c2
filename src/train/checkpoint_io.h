// What a training checkpoint holds and how the trainer's state goes in and out of it (the file
// names are run/layout.h's): the PEFT adapter (weights + config), the AdamW moments and, when a
// stop came in the middle of a gradient accumulation, the gradients accumulated so far
// (optimizer.safetensors, f32), and the TrainerState (trainer_state.json). Everything an exact
// resume needs; the commit itself (manifest last, fencing) is ckpt/checkpoint_manager.h's.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/lora.h"
#include "tensor/backend.h"
#include "train/adamw.h"
#include "train/trainer_state.h"

namespace baton {

// The trainable state on the backend's device.
struct TrainableState {
  LoraAdapter* adapter = nullptr;
  LoraAdapter* grads = nullptr;  // accumulated gradients (saved when state.micro_step > 0)
  AdamW* optimizer = nullptr;
  Backend* backend = nullptr;
};

// The files of a checkpoint of `trainable` at `state` (downloads from the device), with
// `swift_args` as args.json when it is not empty (train/swift_args.h MakeSwiftArgs).
Result<std::vector<std::pair<std::string, std::string>>> SerializeCheckpoint(
    const TrainableState& trainable, const TrainerState& state, const std::string& swift_args = "");

// The TrainerState of checkpoint files loaded by CheckpointManager::Load; `where` names the
// checkpoint in errors ("runs/r1/checkpoint-4", "s3://bkt/r1/checkpoint-4").
Result<TrainerState> ReadCheckpointState(const std::map<std::string, std::string>& files,
                                         const std::string& where);

// Checks that the files of checkpoint `step` agree with each other and with the step of their
// folder, reading them only: the four files are there; trainer_state.json is a valid trainer
// state whose global_step is `step`; adapter_config.json is a LoRA config (and the r and alpha
// the state's args record); adapter_model.safetensors holds 2-D F32 lora_A [r, in] / lora_B
// [out, r] pairs of the config's rank; optimizer.safetensors records step `step` and holds F32
// moments as long as the adapter, with accumulated gradients exactly when micro_step > 0; and,
// where the checkpoint has an args.json (older ones have none and stay valid), that it says the
// same LoRA settings and base model as adapter_config.json (train/swift_args.h CheckSwiftArgs).
// With `into`, also that the config is the job's LoRA config (dropout aside: it changes only the
// trajectory) and that the adapter and optimizer have exactly the tensors and shapes of `into`.
// Corruption naming the file ("<where>/<file>") and what disagrees.
Status ValidateCheckpoint(const std::map<std::string, std::string>& files, const std::string& where,
                          int64_t step, const TrainableState* into = nullptr);

// Puts the adapter, the optimizer moments and step, and (when `saved.micro_step` > 0) the
// accumulated gradients of the checkpoint files into `trainable`, after ValidateCheckpoint
// (against `trainable`) passed: a checkpoint that does not fit changes nothing.
Status RestoreCheckpoint(const std::map<std::string, std::string>& files, const std::string& where,
                         const TrainerState& saved, const TrainableState& trainable);

}  // namespace baton
