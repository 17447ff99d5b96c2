// RoPE inverse frequencies for the rope types in scope (default, linear, llama3), computed in f32
// as transformers does so angles round the same way.
#pragma once

#include "model/config.h"
#include "tensor/tensor.h"

namespace baton {

Tensor RopeInvFreq(const ModelConfig& c);  // [head_dim / 2] f32

}  // namespace baton
