// Optimizer kernels (kernels.h) on the flat f32 LoRA block: the gradient norm's sum of squares
// (a fixed grid, then one block: the same order on every GPU and every run), Scale for clipping,
// and AdamW per element in the CPU's f32 operations (kmath::AdamWUpdate), bit for bit.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/kernel_math.h"

namespace baton::cuda {
namespace {

using internal::Aligned;
using internal::BlockReduce;
using internal::kReduceSlots;
using internal::LaunchElementwise;
using internal::LoadN;
using internal::LoadRowPack;
using internal::StoreN;
using internal::SumOp;

// Independent of the GPU so that the summation order (and so the bits) is too.
constexpr int kPartials = 1024;
constexpr int kSumThreads = 256;
constexpr int kVec = 4;  // f32 per 16-byte load

// Block b sums x[i]^2 in double over the packs of kVec elements whose index p satisfies
// p % (kPartials * kSumThreads) == b * kSumThreads + threadIdx.x, then over its threads. Wide
// or not, each thread adds the same elements in the same order: the bits ignore alignment.
template <bool kWide>
__global__ void __launch_bounds__(kSumThreads)
    SumSquaresPartialsKernel(const float* x, int64_t n, double* partials) {
  __shared__ double scratch[kReduceSlots];
  const int64_t packs = (n + kVec - 1) / kVec;
  const int64_t stride = static_cast<int64_t>(kPartials) * kSumThreads;
  double acc = 0;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * kSumThreads + threadIdx.x; p < packs;
       p += stride) {
    float v[kVec];
    LoadRowPack<kWide>(x, p * kVec, n, v);  // past the end reads 0: adds nothing
#pragma unroll
    for (int k = 0; k < kVec; ++k) acc += static_cast<double>(v[k]) * v[k];
  }
  acc = BlockReduce(acc, SumOp{}, 0.0, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kSumThreads)
    SumPartialsKernel(const double* partials, double* out) {
  __shared__ double scratch[kReduceSlots];
  double acc = 0;
  for (int j = threadIdx.x; j < kPartials; j += kSumThreads) acc += partials[j];
  acc = BlockReduce(acc, SumOp{}, 0.0, scratch);
  if (threadIdx.x == 0) *out = acc;
}

struct ScaleOp {
  float* x;
  float c;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float v[kN];
    LoadN<kN>(x + i, v);
#pragma unroll
    for (int k = 0; k < kN; ++k) v[k] = kmath::MulRn(v[k], c);
    StoreN<kN>(x + i, v);
  }
};

struct AdamWOp {
  float* p;
  const float* g;
  float* m;
  float* v;
  kmath::AdamWScalars s;
  template <int kN>
  __device__ void Apply(int64_t i) const {
    float pv[kN], gv[kN], mv[kN], vv[kN];
    LoadN<kN>(p + i, pv);
    LoadN<kN>(g + i, gv);
    LoadN<kN>(m + i, mv);
    LoadN<kN>(v + i, vv);
#pragma unroll
    for (int k = 0; k < kN; ++k) kmath::AdamWUpdate(s, gv[k], &pv[k], &mv[k], &vv[k]);
    StoreN<kN>(p + i, pv);
    StoreN<kN>(m + i, mv);
    StoreN<kN>(v + i, vv);
  }
};

}  // namespace

int SumSquaresPartials() { return kPartials; }

cudaError_t SumSquares(const float* x, int64_t n, double* partials, double* out,
                       cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  // The sum of nothing is still written: callers read *out.
  if (n == 0) return cudaMemsetAsync(out, 0, sizeof(double), stream);
  if (Aligned<float, kVec>(x)) {
    SumSquaresPartialsKernel<true><<<kPartials, kSumThreads, 0, stream>>>(x, n, partials);
  } else {
    SumSquaresPartialsKernel<false><<<kPartials, kSumThreads, 0, stream>>>(x, n, partials);
  }
  if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  SumPartialsKernel<<<1, kSumThreads, 0, stream>>>(partials, out);
  return cudaGetLastError();
}

cudaError_t Scale(float* x, float c, int64_t n, cudaStream_t stream) {
  return LaunchElementwise<kVec>(ScaleOp{x, c}, n, Aligned<float, kVec>(x), stream);
}

cudaError_t AdamW(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2,
                  float decay, float step_size, float bc2_sqrt, float eps, cudaStream_t stream) {
  const kmath::AdamWScalars s{b1, b2, decay, step_size, bc2_sqrt, eps};
  const bool vec = Aligned<float, kVec>(p) && Aligned<float, kVec>(g) && Aligned<float, kVec>(m) &&
                   Aligned<float, kVec>(v);
  return LaunchElementwise<kVec>(AdamWOp{p, g, m, v, s}, n, vec, stream);
}

}  // namespace baton::cuda
