// Backend: the ops the transformer needs, on one device. Public methods check shapes and dtypes
// and then call the device implementation (Do*), so every backend gets the same validation and
// model code never sees device details. Shapes are given in comments as [rows, cols].
#pragma once

#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace baton {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // c[M,N] = alpha * a[M,K] . b[N,K]^T + beta * c. `b` is a weight stored [out, in] as in PyTorch.
  Status MatMulNT(const Tensor& a, const Tensor& b, Tensor& c, float alpha = 1.0f,
                  float beta = 0.0f);
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

 protected:
  virtual void DoMatMulNT(const Tensor& a, const Tensor& b, Tensor& c, float alpha,
                          float beta) = 0;
  virtual void DoAddBias(Tensor& x, const Tensor& bias) = 0;
  virtual void DoRmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  virtual void DoRope(Tensor& x, const Tensor& positions, const Tensor& inv_freq,
                      float scale) = 0;
  virtual void DoAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Tensor& q_positions, const Tensor& key_valid, Tensor& out) = 0;
  virtual void DoSiluMul(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  virtual void DoAdd(Tensor& x, const Tensor& y) = 0;
  virtual void DoEmbedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
};

}  // namespace baton
