// Picks the backend a command computes on: `--device auto|cpu|cuda` and `--torch_dtype`.
#pragma once

#include <memory>
#include <string_view>

#include "tensor/backend.h"

namespace baton {

// Whether this binary was built with the CUDA backend.
bool BuiltWithCuda();
// GPUs the CUDA runtime sees (0 without CUDA, a driver or a device).
int VisibleGpuCount();

// device: "auto" (CUDA when built with it and a GPU is visible, else the CPU), "cpu" or "cuda".
// dtype: the activation dtype, f32 or bf16 (bf16 needs CUDA). Errors say what is missing.
Result<std::unique_ptr<Backend>> MakeBackend(std::string_view device, DType dtype);
// The same from the spelling of `--torch_dtype` ("float32", "bfloat16", ...).
Result<std::unique_ptr<Backend>> MakeBackend(std::string_view device, std::string_view torch_dtype);

}  // namespace baton
