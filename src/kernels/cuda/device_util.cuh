// Device helpers shared by elementwise.cu and optimizer.cu: element loads and stores in f32
// (bf16 rounds to nearest even on store, as the CPU does), vector packs, deterministic block
// reductions, the Elem dispatch and a grid-stride elementwise launcher. Include from .cu only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/kernels.h"
#include "kernels/kernel_math.h"

namespace baton::cuda::internal {

constexpr int kThreads = 256;          // threads per block of the elementwise kernels
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops cover the rest

// Blocks for `work` items (one per thread), at least one.
inline unsigned GridFor(int64_t work) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

__device__ __forceinline__ int64_t GlobalThread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GridThreads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// --- one element ------------------------------------------------------------------------------
__device__ __forceinline__ float ToF32(float x) { return x; }
__device__ __forceinline__ float ToF32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T FromF32(float x);
template <>
__device__ __forceinline__ float FromF32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF32<__nv_bfloat16>(float x) {
  __nv_bfloat16_raw raw;
  raw.x = kmath::F32ToBF16Bits(x);  // the CPU's rounding, NaN included
  return __nv_bfloat16(raw);
}

// --- packs of kN elements ---------------------------------------------------------------------
// A pack is loaded in pieces of at most 16 bytes (the widest load on sm_80/sm_90), so a pointer
// given to LoadN/StoreN must be aligned to PackAlign<T, kN>() bytes.
template <typename T, int kN>
struct alignas(sizeof(T) * kN) Pack {
  T v[kN];
};
template <typename T, int kN>
__host__ __device__ constexpr int PieceElems() {
  return sizeof(T) * kN > 16 ? static_cast<int>(16 / sizeof(T)) : kN;
}
template <typename T, int kN>
__host__ __device__ constexpr size_t PackAlign() {
  return sizeof(T) * PieceElems<T, kN>();
}
// Elements per 16-byte pack of T: 4 for f32, 8 for bf16.
template <typename T>
__host__ __device__ constexpr int VecOf() {
  return static_cast<int>(16 / sizeof(T));
}

template <typename T, int kN>
inline bool Aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % PackAlign<T, kN>() == 0;
}

template <int kN, typename T>
__device__ __forceinline__ void LoadN(const T* p, float (&out)[kN]) {
  constexpr int kPiece = PieceElems<T, kN>();
#pragma unroll
  for (int c = 0; c < kN; c += kPiece) {
    const Pack<T, kPiece> pack = *reinterpret_cast<const Pack<T, kPiece>*>(p + c);
#pragma unroll
    for (int k = 0; k < kPiece; ++k) out[c + k] = ToF32(pack.v[k]);
  }
}

template <int kN, typename T>
__device__ __forceinline__ void StoreN(T* p, const float (&in)[kN]) {
  constexpr int kPiece = PieceElems<T, kN>();
#pragma unroll
  for (int c = 0; c < kN; c += kPiece) {
    Pack<T, kPiece> pack;
#pragma unroll
    for (int k = 0; k < kPiece; ++k) pack.v[k] = FromF32<T>(in[c + k]);
    *reinterpret_cast<Pack<T, kPiece>*>(p + c) = pack;
  }
}

// Row packs: the elements [j, j + kN) of a row of `len` elements, j a multiple of kN. One wide
// load or store when kWide (every row start aligned for LoadN) and the pack is whole, else element
// by element; either way the same thread sees the same elements in the same order, so a row
// reduction's bits do not depend on alignment. Returns how many elements exist (the rest read 0).
template <bool kWide, int kN, typename T>
__device__ __forceinline__ int LoadRowPack(const T* row, int64_t j, int64_t len, float (&out)[kN]) {
  if (kWide && j + kN <= len) {
    LoadN<kN>(row + j, out);
    return kN;
  }
  const int valid = len - j < kN ? static_cast<int>(len - j) : kN;
#pragma unroll
  for (int k = 0; k < kN; ++k) out[k] = k < valid ? ToF32(row[j + k]) : 0.0f;
  return valid;
}

template <bool kWide, int kN, typename T>
__device__ __forceinline__ void StoreRowPack(T* row, int64_t j, int64_t len,
                                             const float (&in)[kN]) {
  if (kWide && j + kN <= len) {
    StoreN<kN>(row + j, in);
    return;
  }
#pragma unroll
  for (int k = 0; k < kN; ++k) {
    if (j + k < len) row[j + k] = FromF32<T>(in[k]);
  }
}

// --- block reductions -------------------------------------------------------------------------
struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Scratch a BlockReduce needs: one slot per warp and one for the result.
constexpr int kReduceSlots = 33;

// Reduces `value` over the block (blockDim.x a multiple of 32, at most 1024) and returns the
// result to every thread. The combining order is fixed by the block size alone (xor butterflies
// in each warp, then over the warps' results), so results repeat bit for bit. Every thread of the
// block must call it; `scratch` may be reused by the next call.
template <typename T, typename Op>
__device__ T BlockReduce(T value, Op op, T identity, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  __syncthreads();  // the previous call's readers of scratch are done
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < warps ? scratch[lane] : identity;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
    }
    if (lane == 0) scratch[32] = value;
  }
  __syncthreads();
  return scratch[32];
}

// --- dispatch ---------------------------------------------------------------------------------
template <typename T>
struct Tag {
  using type = T;
};
// Calls f(Tag<float>) or f(Tag<__nv_bfloat16>) for `e`.
template <typename F>
cudaError_t DispatchElem(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32:
      return f(Tag<float>{});
    case Elem::kBF16:
      return f(Tag<__nv_bfloat16>{});
  }
  return cudaErrorInvalidValue;
}

// --- elementwise ------------------------------------------------------------------------------
// Calls op.Apply<kVec>(i) for i = 0, kVec, 2 kVec, ... below n - n % kVec, then op.Apply<1>(i)
// for each of the last n % kVec elements (on the grid's first threads).
template <int kVec, typename Op>
__global__ void __launch_bounds__(kThreads) ElementwiseKernel(Op op, int64_t n) {
  const int64_t groups = n / kVec;
  const int64_t stride = GridThreads();
  const int64_t tid = GlobalThread();
  for (int64_t g = tid; g < groups; g += stride) op.template Apply<kVec>(g * kVec);
  if constexpr (kVec > 1) {
    const int64_t i = groups * kVec + tid;
    if (i < n) op.template Apply<1>(i);
  }
}

// Runs `op` over n elements, kVec at a time when `vectorise` (the caller checked alignment).
template <int kVec, typename Op>
cudaError_t LaunchElementwise(const Op& op, int64_t n, bool vectorise, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (vectorise) {
    ElementwiseKernel<kVec><<<GridFor(n / kVec + 1), kThreads, 0, stream>>>(op, n);
  } else {
    ElementwiseKernel<1><<<GridFor(n), kThreads, 0, stream>>>(op, n);
  }
  return cudaGetLastError();
}

}  // namespace baton::cuda::internal
