// Scalar formulas shared by the CPU backend and the CUDA kernels, so both compute the same bits
// where the contract asks for it (dropout masks, bf16 rounding, the AdamW update) and CPU tests
// (kernel_math_test.cc) can check what the GPU runs. Plain C++: CUDA spellings sit behind
// __CUDA_ARCH__, so CPU-only code includes this without any CUDA header.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define BATON_HD __host__ __device__
#else
#define BATON_HD
#endif

namespace baton::kmath {

// --- f32 arithmetic rounded once per operation ------------------------------------------------
// nvcc contracts a * b + c into one FMA (a single rounding) unless told otherwise; these keep
// the CPU's two roundings, so a GPU op can match its CPU twin bit for bit.
BATON_HD inline float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
BATON_HD inline float AddRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
BATON_HD inline float SubRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
BATON_HD inline float DivRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
BATON_HD inline float SqrtRn(float a) {
#ifdef __CUDA_ARCH__
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
// e^x: CUDA's expf is within 2 ulp of the C library's, not identical to it.
BATON_HD inline float ExpF(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  return std::exp(x);
#endif
}

// --- bf16 (the upper half of an f32) ----------------------------------------------------------
BATON_HD inline uint32_t F32Bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
#endif
}
BATON_HD inline float F32FromBits(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}
// Round to nearest even, as PyTorch and baton::F32ToBF16 do; NaN stays (a quiet) NaN.
BATON_HD inline uint16_t F32ToBF16Bits(float f) {
  const uint32_t bits = F32Bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}
BATON_HD inline float BF16BitsToF32(uint16_t h) {
  return F32FromBits(static_cast<uint32_t>(h) << 16);
}

// --- counter-based randomness -----------------------------------------------------------------
// splitmix64 finaliser: a counter-based hash, identical on every backend.
BATON_HD inline uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// Dropout keeps element i when the top 24 bits of Mix64(Mix64(seed) ^ i) are >= p * 2^24, so a
// mask is a pure function of (seed, i): `base` is Mix64(seed), `threshold` DropoutThreshold(p).
BATON_HD inline uint64_t DropoutThreshold(float p) {
  return static_cast<uint64_t>(static_cast<double>(p) * (1 << 24));
}
BATON_HD inline bool DropoutKeep(uint64_t base, uint64_t i, uint64_t threshold) {
  return (Mix64(base ^ i) >> 40) >= threshold;
}
// Uniform in [-bound, bound) from element i's hash (`base` = Mix64(seed)); 2u - 1 is exact.
BATON_HD inline float UniformSymmetric(uint64_t base, uint64_t i, float bound) {
  const float u = static_cast<float>(Mix64(base ^ i) >> 40) * (1.0f / 16777216.0f);
  return MulRn(SubRn(MulRn(2.0f, u), 1.0f), bound);
}

// --- SwiGLU -----------------------------------------------------------------------------------
// silu(g) * u, in the CPU's order: g / (1 + e^-g) * u.
BATON_HD inline float SiluMul(float g, float u) {
  return MulRn(DivRn(g, AddRn(1.0f, ExpF(-g))), u);
}
// Gradients of out = silu(g) * u given dout, in the CPU's order:
// dgate = dout * u * sig * (1 + g * (1 - sig)), dup = dout * g * sig, sig = 1 / (1 + e^-g).
BATON_HD inline void SiluMulGrad(float g, float u, float dout, float* dgate, float* dup) {
  const float sig = DivRn(1.0f, AddRn(1.0f, ExpF(-g)));
  const float silu = MulRn(g, sig);
  *dgate = MulRn(MulRn(MulRn(dout, u), sig), AddRn(1.0f, MulRn(g, SubRn(1.0f, sig))));
  *dup = MulRn(dout, silu);
}

// --- AdamW ------------------------------------------------------------------------------------
// The per-step scalars of torch.optim.AdamW, rounded to f32 as AdamW::Step rounds them.
struct AdamWScalars {
  float beta1, beta2;
  float decay;      // 1 - lr * weight_decay
  float step_size;  // lr / (1 - beta1^t)
  float bc2_sqrt;   // sqrt(1 - beta2^t)
  float eps;
};
// One element of AdamW::Step, same f32 operations in the same order:
// p *= decay; m += (g - m)(1 - b1); v = v b2 + (1 - b2) g g; p -= step_size (m / (sqrt(v) /
// bc2_sqrt + eps)).
BATON_HD inline void AdamWUpdate(const AdamWScalars& s, float g, float* p, float* m, float* v) {
  const float pd = MulRn(*p, s.decay);
  const float mn = AddRn(*m, MulRn(SubRn(g, *m), SubRn(1.0f, s.beta1)));
  const float vn = AddRn(MulRn(*v, s.beta2), MulRn(MulRn(SubRn(1.0f, s.beta2), g), g));
  const float denom = AddRn(DivRn(SqrtRn(vn), s.bc2_sqrt), s.eps);
  *p = SubRn(pd, MulRn(s.step_size, DivRn(mn, denom)));
  *m = mn;
  *v = vn;
}

}  // namespace baton::kmath
