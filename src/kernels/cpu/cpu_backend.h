// The CPU backend. Everything is f32. Two matrix-product engines:
//  - kNaive: plain loops accumulating in double; the reference every other path is tested against.
//  - kBlas: OpenBLAS sgemm with a fixed thread count, so results repeat run to run.
#pragma once

#include <memory>

#include "tensor/backend.h"

namespace baton {

enum class CpuGemm { kNaive, kBlas };

struct CpuBackendOptions {
  CpuGemm gemm = CpuGemm::kBlas;
  // OpenBLAS threads. Fixed (not "all cores") so a run repeats bit for bit on any machine.
  int threads = 2;
};

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options = {});

// Reads EnvVar::kThreads (default 2) and EnvVar::kGemm ("blas" or "naive") from the environment.
CpuBackendOptions CpuBackendOptionsFromEnv();

}  // namespace baton
