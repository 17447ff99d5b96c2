// Launchers of Baton's CUDA kernels. Every pointer is device memory; every launcher queues work on
// `stream` and returns cudaGetLastError() of its launch (cudaErrorInvalidValue for a shape it does
// not support). Activations come as f32 or bf16 (`Elem`): bf16 is what training runs; f32 lets
// tests compare a kernel's indexing against the CPU reference almost exactly. Weight vectors
// (norm weights, biases, RoPE inverse frequencies) and the LoRA parameters, gradients and AdamW
// moments are always f32. Arithmetic is f32 (double where the CPU reference uses double) and
// every reduction has a fixed order: no atomics, so results repeat bit for bit on one GPU.
// Shapes are in the comments as [rows, cols]; the CPU twins are in kernels/cpu/cpu_backend.cc.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace baton::cuda {

enum class Elem : uint8_t { kF32, kBF16 };

// --- elementwise and row kernels (elementwise.cu) ------------------------------------------
// y[m,d] = w[d] * (x * rsqrt(mean(x^2) + eps)).
cudaError_t RmsNorm(Elem e, const void* x, const float* w, float eps, void* y, int64_t m,
                    int64_t d, cudaStream_t stream);
// dx[m,d] = r * w * dy - x * r^3 * mean(x * w * dy), r = rsqrt(mean(x^2) + eps).
cudaError_t RmsNormBackward(Elem e, const void* x, const float* w, float eps, const void* dy,
                            void* dx, int64_t m, int64_t d, cudaStream_t stream);
// Rotates x[rows = b*t, heads, d] in place (HF rotate_half): angle = positions[row] * inv_freq[i]
// (an f32 product, as HF), cos/sin times `scale`; `sign` -1 rotates back (the backward pass).
cudaError_t Rope(Elem e, void* x, const int32_t* positions, const float* inv_freq, float scale,
                 float sign, int64_t rows, int64_t heads, int64_t d, cudaStream_t stream);
// out = silu(gate) * up, n elements.
cudaError_t SiluMul(Elem e, const void* gate, const void* up, void* out, int64_t n,
                    cudaStream_t stream);
cudaError_t SiluMulBackward(Elem e, const void* gate, const void* up, const void* dout,
                            void* dgate, void* dup, int64_t n, cudaStream_t stream);
// x += y, n elements.
cudaError_t Add(Elem e, void* x, const void* y, int64_t n, cudaStream_t stream);
// x[m,n] += bias[n].
cudaError_t AddBias(Elem e, void* x, const float* bias, int64_t m, int64_t n,
                    cudaStream_t stream);
// out[n,d] (out_e) = table[ids[n], :] (table_e); ids must be in [0, vocab).
cudaError_t Embedding(Elem table_e, const void* table, const int32_t* ids, Elem out_e, void* out,
                      int64_t n, int64_t d, cudaStream_t stream);
// out = x * keep / (1 - p), keep = (Mix64(Mix64(seed) ^ i) >> 40) >= p * 2^24: the CPU's mask
// (kmath::DropoutKeep). `out` may be `x`.
cudaError_t Dropout(Elem e, const void* x, float p, uint64_t seed, void* out, int64_t n,
                    cudaStream_t stream);
// Cross-entropy of logits[n,v] against labels[n] (-100 = kIgnoreLabel ignored): row_loss[i] = logsumexp - target
// (0 on ignored rows) and dlogits = grad_scale * (softmax - onehot) (0 on ignored rows).
// `dlogits` may alias `logits`. One block per row. `row_hit` (may be null): 1 where the row's
// first largest logit is its label, else 0 (0 on ignored rows).
cudaError_t CrossEntropy(Elem e, const void* logits, const int32_t* labels, float grad_scale,
                         void* dlogits, double* row_loss, int32_t* row_hit, int64_t n, int64_t v,
                         cudaStream_t stream);
// dst (dst_e) = src (src_e), n elements (bf16 rounding to nearest even).
cudaError_t Convert(Elem src_e, const void* src, Elem dst_e, void* dst, int64_t n,
                    cudaStream_t stream);
// x = uniform(-bound, bound) from a counter-based hash of (seed, index): random weights for
// benchmarks, created on the GPU.
cudaError_t FillUniform(Elem e, void* x, int64_t n, uint64_t seed, float bound,
                        cudaStream_t stream);

// --- optimizer (optimizer.cu): f32 LoRA parameters -------------------------------------------
// *out = sum(x^2) in double, in a fixed order (a fixed grid, then one block): deterministic.
// `partials` is scratch of SumSquaresPartials() doubles. n == 0 writes *out = 0.
int SumSquaresPartials();
cudaError_t SumSquares(const float* x, int64_t n, double* partials, double* out,
                       cudaStream_t stream);
// x *= c.
cudaError_t Scale(float* x, float c, int64_t n, cudaStream_t stream);
// torch.optim.AdamW (single tensor) per element, in the CPU's order of f32 operations:
// p *= decay; m += (g - m)(1 - b1); v = v b2 + (1 - b2) g g;
// p -= step_size * (m / (sqrt(v) / bc2_sqrt + eps)) (kmath::AdamWUpdate: no FMA contraction, so
// the GPU step equals the CPU's bit for bit).
cudaError_t AdamW(float* p, const float* g, float* m, float* v, int64_t n, float b1, float b2,
                  float decay, float step_size, float bc2_sqrt, float eps, cudaStream_t stream);

// --- attention (attention.cu) ----------------------------------------------------------------
// Grouped-query causal attention, flash style (no [T, S] matrix in memory):
// q[B,T,H,D], k/v[B,S,Hkv,D] (key slot s holds position s), q_pos[B,T], key_valid[B,S] (u8);
// out[B,T,H,D]. A query at position p sees valid slots s <= p; one that sees none gets zeros.
// H must be a multiple of Hkv. bf16 with D in {16, 32, 64, 128} uses tensor cores; other
// shapes and f32 use a plain kernel.
cudaError_t AttentionForward(Elem e, const void* q, const void* k, const void* v,
                             const int32_t* q_pos, const uint8_t* key_valid, void* out, int64_t B,
                             int64_t T, int64_t S, int64_t H, int64_t Hkv, int64_t D,
                             cudaStream_t stream);
// Bytes of scratch AttentionBackward needs (per-row log-sum-exp and dO.O, f32).
size_t AttentionBackwardWorkspaceBytes(int64_t B, int64_t T, int64_t H);
// dq[B,T,H,D], dk/dv[B,S,Hkv,D] (summed over each group's heads), written, not accumulated.
// Deterministic: dq is computed per query tile, dk/dv per key tile; no atomics.
cudaError_t AttentionBackward(Elem e, const void* q, const void* k, const void* v,
                              const int32_t* q_pos, const uint8_t* key_valid, const void* dout,
                              void* dq, void* dk, void* dv, void* workspace, int64_t B, int64_t T,
                              int64_t S, int64_t H, int64_t Hkv, int64_t D, cudaStream_t stream);

}  // namespace baton::cuda
