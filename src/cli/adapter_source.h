// The base model and adapter that `baton infer` and `baton export` work on, as ms-swift finds
// them: `--adapters` may be a store URL (fetched into the cache), and `--model` may be left out
// when the adapter folder has ms-swift's args.json naming the model it was trained on
// (swift/llm/argument/base_args/base_args.py load_args_from_ckpt @v3.12.6; train/swift_args.h).
#pragma once

#include <optional>
#include <string>

#include "base/env.h"
#include "train/swift_args.h"

namespace baton::cli {

struct ModelAndAdapter {
  std::string model_dir;                    // local folder of the base model
  std::string adapter_dir;                  // local folder of the adapter; empty without --adapters
  std::optional<SwiftCheckpointArgs> args;  // the adapter's args.json, when it has one
};

// `model` and `adapters` as the flags give them (either may be empty). InvalidArgument naming
// --model when neither the flag nor an args.json names the base model.
Result<ModelAndAdapter> ResolveModelAndAdapter(const std::string& model,
                                               const std::string& adapters, Env* env);

}  // namespace baton::cli
