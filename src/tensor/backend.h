// Backend: the ops the transformer needs, on one device. Public methods check shapes and dtypes
// and then call the device implementation (Do*), so every backend gets the same validation and
// model code never sees device details. Shapes are given in comments as [rows, cols].
// Tensors given to ops live on the backend's device. Activations are f32 on the CPU and bf16 on
// CUDA (activation_dtype()); weight vectors (norm weights, biases, inverse frequencies), LoRA
// parameters, their gradients and the optimizer state are f32 everywhere.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "tensor/tensor.h"

namespace baton {

// A label that takes no part in the loss (padding, prompt tokens): Hugging Face's and PyTorch's
// ignore_index, so datasets and reference outputs mean the same by it.
inline constexpr int32_t kIgnoreLabel = -100;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // --- Memory on this backend's device. ---
  // The dtype activations are computed in, and the one weight matrices are kept in.
  virtual DType activation_dtype() const { return DType::kF32; }
  virtual DType weight_dtype() const { return DType::kF32; }
  // Whether ops take floating tensors of `dtype` (f32 always).
  virtual bool SupportsDType(DType dtype) const { return dtype == DType::kF32; }
  // Rows of logits the chunked lm_head + cross-entropy materialises at once.
  virtual int64_t logit_rows_per_chunk() const { return 64; }
  // Uninitialised memory on this device.
  virtual Tensor NewTensor(Shape shape, DType dtype) {
    return Tensor::Empty(std::move(shape), dtype);
  }
  Tensor NewZeros(Shape shape, DType dtype);
  // Copies src's bytes into dst (same dtype and element count), each on the CPU or this device.
  Status Copy(const Tensor& src, Tensor& dst);
  Status Zero(Tensor& t);
  // `host` (a CPU tensor) on this device as `dtype` (floating types convert; others must match).
  // On the CPU with the same dtype this is `host` itself, no copy.
  Result<Tensor> Upload(const Tensor& host, DType dtype);
  // A CPU copy of `t` (same dtype).
  Result<Tensor> Download(const Tensor& t);
  // `t` as a CPU f32 tensor: itself when it already is one, else a converted copy.
  Result<Tensor> DownloadF32(const Tensor& t);
  // Waits for queued device work; reports its first asynchronous error.
  virtual Status Synchronize() { return Status::Ok(); }
  // Device memory high-water mark since the last reset, in bytes (nullopt on the CPU).
  virtual std::optional<int64_t> PeakDeviceBytes() { return std::nullopt; }
  virtual void ResetPeakDeviceBytes() {}

  // c[M,N] = alpha * op(a) . op(b) + beta * c, where op transposes when its flag is set
  // (a is [M,K] or [K,M]; b is [K,N] or [N,K]). beta = 0 ignores what c held.
  Status Gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, Tensor& c,
              float alpha = 1.0f, float beta = 0.0f);
  // c[M,N] = alpha * a[M,K] . b[N,K]^T + beta * c. `b` is a weight stored [out, in] as in PyTorch.
  Status MatMulNT(const Tensor& a, const Tensor& b, Tensor& c, float alpha = 1.0f,
                  float beta = 0.0f) {
    return Gemm(false, true, a, b, c, alpha, beta);
  }
  // x[M,N] += bias[N].
  Status AddBias(Tensor& x, const Tensor& bias);
  // y[M,D] = x / sqrt(mean(x^2) + eps) * w[D].
  Status RmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
  // Rotates x[B,T,H,D] in place (HF rotate_half layout): angle = positions[B,T] * inv_freq[D/2],
  // cos and sin multiplied by `scale` (the rope type's attention scaling).
  Status Rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale);
  // Grouped-query causal attention. q[B,T,H,D], k/v[B,S,Hkv,D] where key slot s holds position s;
  // q_positions[B,T] (i32); key_valid[B,S] (u8, 0 = padding, ignored); out[B,T,H,D].
  // Query at position p sees key slots s <= p that are valid. A query that sees no key gets zeros.
  Status Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& q_positions,
                   const Tensor& key_valid, Tensor& out);
  // out = silu(gate) * up, all [M,N].
  Status SiluMul(const Tensor& gate, const Tensor& up, Tensor& out);
  // x += y, same shape.
  Status Add(Tensor& x, const Tensor& y);
  // out[N,D] = table[ids[N], :], ids i32 in [0, V).
  Status Embedding(const Tensor& table, const Tensor& ids, Tensor& out);

  // out = x * keep / (1 - p) where keep is a Bernoulli(1 - p) mask drawn from a counter-based
  // hash of (seed, element index): the same seed always drops the same elements, so a backward
  // pass or a resumed run needs no stored mask or RNG state. p in [0, 1).
  Status Dropout(const Tensor& x, float p, uint64_t seed, Tensor& out);

  // --- Backward ops (the base weights are frozen: only input gradients are produced). ---
  // dx[M,D] = d(RmsNorm(x, w))/dx applied to dy[M,D].
  Status RmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy, Tensor& dx);
  // Undoes Rope on a gradient: rotates dx[B,T,H,D] in place by the negative angles.
  Status RopeBackward(Tensor& dx, const Tensor& positions, const Tensor& inv_freq, float scale);
  // Gradients of Attention's output `dout`[B,T,H,D] with respect to q, k and v (dk/dv are
  // [B,S,Hkv,D] and summed over the heads of each group). Recomputes the softmax.
  Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Tensor& q_positions, const Tensor& key_valid, const Tensor& dout,
                           Tensor& dq, Tensor& dk, Tensor& dv);
  // dgate, dup of out = silu(gate) * up.
  Status SiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout, Tensor& dgate,
                         Tensor& dup);
  // Cross-entropy of logits[N,V] against labels[N] (i32; kIgnoreLabel = ignored). Returns the
  // summed loss (double) and writes dlogits[N,V] = grad_scale * (softmax - onehot) on labelled
  // rows, 0 on ignored ones. `dlogits` may be `logits` itself (in place). With `correct`, also
  // counts the labelled rows whose first largest logit is the label (argmax == label: the
  // numerator of ms-swift's token_acc), read before dlogits overwrites them.
  Result<double> CrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                              Tensor& dlogits, int64_t* correct = nullptr);

  // --- Optimizer ops on flat f32 vectors (LoRA parameters and gradients). ---
  // sum(x^2), in a fixed order.
  Result<double> SumSquares(const Tensor& x);
  // x *= c.
  Status Scale(Tensor& x, float c);
  // One torch.optim.AdamW update of `params` from `grads`, moments `m` and `v` (all f32 [P]).
  struct AdamWArgs {
    float beta1, beta2;
    float decay;      // 1 - lr * weight_decay
    float step_size;  // lr / (1 - beta1^t)
    float bc2_sqrt;   // sqrt(1 - beta2^t)
    float eps;
  };
  Status AdamWStep(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const AdamWArgs& a);

 protected:
  // The first error a device reported for work queued so far (sticky); every public op returns
  // it after queueing its work.
  virtual Status DeviceError() const { return Status::Ok(); }
  // Checks that tensors live on this device and hold a dtype this backend takes.
  Status CheckTensors(std::string_view op, std::initializer_list<const Tensor*> ts) const;
  virtual void DoCopy(const Tensor& src, Tensor& dst) = 0;
  virtual void DoZero(Tensor& t) = 0;
  virtual double DoSumSquares(const Tensor& x) = 0;
  virtual void DoScale(Tensor& x, float c) = 0;
  virtual void DoAdamWStep(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
                           const AdamWArgs& a) = 0;
  virtual void DoGemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, Tensor& c,
                      float alpha, float beta) = 0;
  virtual void DoAddBias(Tensor& x, const Tensor& bias) = 0;
  virtual void DoRmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  // sign -1 rotates by the negative angles (RopeBackward).
  virtual void DoRope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale,
                      float sign) = 0;
  virtual void DoAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Tensor& q_positions, const Tensor& key_valid, Tensor& out) = 0;
  virtual void DoSiluMul(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  virtual void DoAdd(Tensor& x, const Tensor& y) = 0;
  virtual void DoEmbedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  virtual void DoDropout(const Tensor& x, float p, uint64_t seed, Tensor& out) = 0;
  virtual void DoRmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy,
                                 Tensor& dx) = 0;
  virtual void DoAttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Tensor& q_positions, const Tensor& key_valid,
                                   const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) = 0;
  virtual void DoSiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout,
                                 Tensor& dgate, Tensor& dup) = 0;
  virtual double DoCrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                                Tensor& dlogits, int64_t* correct) = 0;
};

}  // namespace baton
