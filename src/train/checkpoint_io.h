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

// The files of a checkpoint of `trainable` at `state` (downloads from the device).
Result<std::vector<std::pair<std::string, std::string>>> SerializeCheckpoint(
    const TrainableState& trainable, const TrainerState& state);

// The TrainerState of checkpoint files loaded by CheckpointManager::Load; `where` names the
// checkpoint in errors ("runs/r1/checkpoint-4", "s3://bkt/r1/checkpoint-4").
Result<TrainerState> ReadCheckpointState(const std::map<std::string, std::string>& files,
                                         const std::string& where);

// Puts the adapter, the optimizer moments and step, and (when `saved.micro_step` > 0) the
// accumulated gradients of the checkpoint files into `trainable`; checks every shape and dtype.
Status RestoreCheckpoint(const std::map<std::string, std::string>& files, const std::string& where,
                         const TrainerState& saved, const TrainableState& trainable);

}  // namespace baton
