// The CUDA backend: bf16 weights and activations (or f32, for exact checks), f32 LoRA parameters,
// gradients and AdamW moments; cuBLASLt GEMMs and Baton's own kernels (kernels.h). All work is
// queued on one stream; memory comes from the device's stream-ordered pool (cudaMallocAsync),
// which caches it between steps.
#pragma once

#include <memory>

#include "tensor/backend.h"

namespace baton {

struct CudaBackendOptions {
  int device = 0;
  DType activations = DType::kBF16;  // or kF32
};

// GPUs the CUDA runtime sees; 0 when there is no driver or device.
int CudaDeviceCount();
Result<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options = {});

}  // namespace baton
