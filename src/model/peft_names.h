// The file names of a PEFT adapter folder (PEFT's SAFETENSORS_WEIGHTS_NAME and CONFIG_NAME, in
// peft/utils/constants.py). A checkpoint holds these two (run/layout.h), so PEFT, vLLM and
// `baton infer` load it as is. A header of its own so that the run layout needs no model code.
#pragma once

namespace baton {

inline constexpr char kPeftWeightsFile[] = "adapter_model.safetensors";
inline constexpr char kPeftConfigFile[] = "adapter_config.json";

}  // namespace baton
