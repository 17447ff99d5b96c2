// Shared by the GPU tests: a CUDA backend or a skip, random host tensors, and comparisons of a
// GPU result with the f32 CPU reference.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "base/process_contract.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace baton::testing {

// Skips the calling test where no GPU is visible (CI, and machines without a driver), or fails it
// when EnvVar::kGpuRequired is set: on the machine lent for the GPU check a skip would pass
// without testing anything (scripts/gpu_check.sh sets it).
#define BATON_REQUIRE_GPU()                                                              \
  do {                                                                                   \
    if (::baton::CudaDeviceCount() == 0) {                                               \
      if (::baton::GetEnvVar(::baton::EnvVar::kGpuRequired)) {                           \
        FAIL() << "GPU required (" << ::baton::EnvVarName(::baton::EnvVar::kGpuRequired) \
               << " is set), but " << ::baton::testing::NoGpuReason();                   \
      }                                                                                  \
      GTEST_SKIP() << ::baton::testing::NoGpuReason();                                   \
    }                                                                                    \
  } while (0)

// Why no GPU is visible, in the CUDA runtime's words.
inline std::string NoGpuReason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  return std::string("no GPU is visible (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")";
}

// Streaming multiprocessors of the current GPU: the tests size grids beyond it to reach the
// kernels' paths for large grids.
inline int GpuSmCount() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    ADD_FAILURE() << "cannot read the GPU's multiprocessor count";
    return 1;
  }
  return sms;
}

inline std::unique_ptr<Backend> Gpu(DType activations) {
  CudaBackendOptions o;
  o.activations = activations;
  Result<std::unique_ptr<Backend>> b = MakeCudaBackend(o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

inline std::unique_ptr<Backend> Cpu() {
  CpuBackendOptions o;
  o.gemm = CpuGemm::kNaive;  // the reference: double accumulation
  return MakeCpuBackend(o);
}

inline Tensor RandomHost(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  Tensor t = Tensor::Empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = u(rng);
  return t;
}

// `host` on the GPU as `dtype`, and the host f32 values the GPU actually sees (rounded to bf16
// when dtype is bf16), so the CPU reference computes from the same inputs.
struct Pair {
  Tensor cpu, gpu;
};
inline Pair Place(Backend& gpu, const Tensor& host, DType dtype) {
  Tensor rounded = dtype == DType::kF32 ? host.Clone() : host.ConvertTo(dtype).ToF32();
  Result<Tensor> g = gpu.Upload(host, dtype);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return {rounded, g.ok() ? *g : Tensor()};
}

// max |got - want| / max |want| over all elements (NaN counts as a failure).
inline double RelativeError(Backend& gpu, const Tensor& got_gpu, const Tensor& want) {
  Result<Tensor> got = gpu.DownloadF32(got_gpu);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok() || got->numel() != want.numel()) return INFINITY;
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double d = std::fabs(static_cast<double>(got->f32()[i]) - want.f32()[i]);
    if (!(d <= max_diff)) max_diff = d;
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want.f32()[i])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

// Tolerances: f32 kernels differ from the CPU by summation order only; bf16 by its 8-bit
// mantissa (2^-8 relative per rounding) accumulated over a few roundings.
inline double Tolerance(DType dtype) { return dtype == DType::kF32 ? 2e-5 : 2e-2; }

}  // namespace baton::testing
