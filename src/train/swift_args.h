// ms-swift's args.json in a checkpoint (run/layout.h kSwiftArgsFile): the run's arguments under
// ms-swift 3.x's names, so that `swift infer --adapters checkpoint-N` and `swift export
// --adapters checkpoint-N --merge_lora true` find the base model and the template without
// `--model`, and so do `baton infer` and `baton export`. ms-swift's BaseArguments.
// load_args_from_ckpt (swift/llm/argument/base_args/base_args.py @v3.12.6) reads `model`,
// `model_type`, `template`, `system`, `torch_dtype`, `max_length`, ... when the command line
// leaves them unset and forces `train_type` and `task_type`; it ignores keys it does not know
// (docs/ms-swift.md lists what Baton writes).
#pragma once

#include <optional>
#include <string>

#include "base/env.h"
#include "base/json.h"
#include "model/lora.h"
#include "text/chat_template.h"
#include "train/train_args.h"

namespace baton {

// ms-swift's names for the model family and chat template a run used.
struct SwiftModelNames {
  std::string model_type;     // ms-swift's registry name: "qwen2_5", "deepseek_r1_distill", ...
  std::string template_name;  // ms-swift's template: "qwen2_5", "qwen", "deepseek_r1", ...
};
// The names for Baton's template `kind` with the default system prompt it inserts.
SwiftModelNames SwiftNamesFor(ChatTemplateKind kind, const std::string& default_system);

// A template by ms-swift's name (also Baton's: "chatml", "qwen", "qwen2_5", "deepseek_r1",
// "llama3") with the default system prompt ms-swift's template of that name inserts.
struct SwiftTemplate {
  ChatTemplateKind kind;
  std::string default_system;
};
Result<SwiftTemplate> ParseSwiftTemplate(const std::string& name);

// The args.json text of a run started with `args` (the model named as given, a URL's secrets
// redacted; `system` null unless --system was given, as ms-swift writes it).
std::string MakeSwiftArgs(const TrainArgs& args, const SwiftModelNames& names);

// Checks a checkpoint's args.json against the checkpoint's other files: a LoRA run
// (train_type "lora") whose lora_rank, lora_alpha, use_rslora and target_modules are those of
// adapter_config.json (`config`), whose model is the config's base_model_name_or_path, and with
// a string `model` and `template`. Corruption naming `source` and the key.
Status CheckSwiftArgs(const std::string& text, const LoraConfig& config, const std::string& source);

// What `baton infer` and `baton export` take from an adapter folder's args.json.
struct SwiftCheckpointArgs {
  std::string model;                         // the base model as training named it
  std::optional<std::string> template_name;  // ms-swift's template name
  std::optional<std::string> system;         // the training's --system
};
// nullopt when `adapter_dir` has no args.json (a plain PEFT adapter, an older checkpoint).
Result<std::optional<SwiftCheckpointArgs>> ReadSwiftArgs(Env* env, const std::string& adapter_dir);

}  // namespace baton
