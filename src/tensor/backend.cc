#include "tensor/backend.h"

namespace baton {
namespace {

Status Expect(bool ok, std::string_view op, std::string_view what) {
  if (ok) return Status::Ok();
  return InvalidArgument("{}: {}", op, what);
}

bool AllF32(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (!t->defined() || t->dtype() != DType::kF32) return false;
  }
  return true;
}

std::string Shapes(std::initializer_list<const Tensor*> ts) {
  std::string s;
  for (const Tensor* t : ts) {
    if (!s.empty()) s += ", ";
    s += t->defined() ? t->Describe() : "undefined";
  }
  return s;
}

// The shape rules Attention and AttentionBackward share: q[B,T,H,D], k/v[B,S,Hkv,D] with
// H % Hkv == 0, q_positions[B,T] i32, key_valid[B,S] u8/bool.
bool AttentionInputsOk(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& q_positions,
                       const Tensor& key_valid) {
  return AllF32({&q, &k, &v}) && q.rank() == 4 && k.rank() == 4 && k.shape() == v.shape() &&
         k.dim(0) == q.dim(0) && k.dim(3) == q.dim(3) && k.dim(2) > 0 && q.dim(2) % k.dim(2) == 0 &&
         q_positions.dtype() == DType::kI32 && q_positions.rank() == 2 &&
         q_positions.dim(0) == q.dim(0) && q_positions.dim(1) == q.dim(1) &&
         (key_valid.dtype() == DType::kU8 || key_valid.dtype() == DType::kBool) &&
         key_valid.rank() == 2 && key_valid.dim(0) == k.dim(0) && key_valid.dim(1) == k.dim(1);
}

}  // namespace

Status Backend::Gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, Tensor& c,
                     float alpha, float beta) {
  bool ok = AllF32({&a, &b, &c}) && a.rank() == 2 && b.rank() == 2 && c.rank() == 2;
  if (ok) {
    int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
    int64_t kb = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
    ok = k == kb && c.dim(0) == m && c.dim(1) == n;
  }
  BATON_RETURN_IF_ERROR(Expect(ok, "Gemm",
                               fmt::format("want f32 op(a)[M,K], op(b)[K,N], c[M,N] (trans_a={}, "
                                           "trans_b={}); got {}",
                                           trans_a, trans_b, Shapes({&a, &b, &c}))));
  DoGemm(trans_a, trans_b, a, b, c, alpha, beta);
  return Status::Ok();
}

Status Backend::AddBias(Tensor& x, const Tensor& bias) {
  bool ok = AllF32({&x, &bias}) && x.rank() == 2 && bias.rank() == 1 && bias.dim(0) == x.dim(1);
  BATON_RETURN_IF_ERROR(Expect(ok, "AddBias", "want x[M,N], bias[N]; got " + Shapes({&x, &bias})));
  DoAddBias(x, bias);
  return Status::Ok();
}

Status Backend::RmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  bool ok = AllF32({&x, &w, &y}) && x.rank() == 2 && w.rank() == 1 && w.dim(0) == x.dim(1) &&
            y.shape() == x.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "RmsNorm", "want x[M,D], w[D], y[M,D]; got " + Shapes({&x, &w, &y})));
  DoRmsNorm(x, w, eps, y);
  return Status::Ok();
}

Status Backend::Rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale) {
  bool ok = AllF32({&x, &inv_freq}) && x.rank() == 4 && positions.dtype() == DType::kI32 &&
            positions.rank() == 2 && positions.dim(0) == x.dim(0) && positions.dim(1) == x.dim(1) &&
            inv_freq.rank() == 1 && inv_freq.dim(0) * 2 == x.dim(3);
  BATON_RETURN_IF_ERROR(Expect(ok, "Rope",
                               "want x[B,T,H,D], positions[B,T] i32, inv_freq[D/2]; got " +
                                   Shapes({&x, &positions, &inv_freq})));
  DoRope(x, positions, inv_freq, scale);
  return Status::Ok();
}

Status Backend::Attention(const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& q_positions, const Tensor& key_valid, Tensor& out) {
  bool ok = AllF32({&out}) && out.shape() == q.shape() &&
            AttentionInputsOk(q, k, v, q_positions, key_valid);
  BATON_RETURN_IF_ERROR(Expect(
      ok, "Attention",
      "want q[B,T,H,D], k/v[B,S,Hkv,D] (H % Hkv == 0), q_positions[B,T] i32, key_valid[B,S] u8, "
      "out like q; got " +
          Shapes({&q, &k, &v, &q_positions, &key_valid, &out})));
  DoAttention(q, k, v, q_positions, key_valid, out);
  return Status::Ok();
}

Status Backend::SiluMul(const Tensor& gate, const Tensor& up, Tensor& out) {
  bool ok = AllF32({&gate, &up, &out}) && gate.shape() == up.shape() && out.shape() == up.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "SiluMul", "want equal f32 shapes; got " + Shapes({&gate, &up, &out})));
  DoSiluMul(gate, up, out);
  return Status::Ok();
}

Status Backend::Add(Tensor& x, const Tensor& y) {
  bool ok = AllF32({&x, &y}) && x.numel() == y.numel();
  BATON_RETURN_IF_ERROR(Expect(ok, "Add", "want equal f32 sizes; got " + Shapes({&x, &y})));
  DoAdd(x, y);
  return Status::Ok();
}

Status Backend::Embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  bool ok = AllF32({&table, &out}) && table.rank() == 2 && ids.dtype() == DType::kI32 &&
            out.rank() == 2 && out.dim(0) == ids.numel() && out.dim(1) == table.dim(1);
  BATON_RETURN_IF_ERROR(
      Expect(ok, "Embedding",
             "want table[V,D], ids[N] i32, out[N,D]; got " + Shapes({&table, &ids, &out})));
  const int32_t* id = ids.data<int32_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    if (id[i] < 0 || id[i] >= table.dim(0)) {
      return InvalidArgument(
          "Embedding: token id {} at position {} is outside the vocabulary [0, {})", id[i], i,
          table.dim(0));
    }
  }
  DoEmbedding(table, ids, out);
  return Status::Ok();
}

Status Backend::Dropout(const Tensor& x, float p, uint64_t seed, Tensor& out) {
  bool ok = AllF32({&x, &out}) && x.shape() == out.shape() && p >= 0.0f && p < 1.0f;
  BATON_RETURN_IF_ERROR(Expect(
      ok, "Dropout",
      fmt::format("want equal f32 shapes and p in [0, 1); got {}, p={}", Shapes({&x, &out}), p)));
  DoDropout(x, p, seed, out);
  return Status::Ok();
}

Status Backend::RmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy,
                                Tensor& dx) {
  bool ok = AllF32({&x, &w, &dy, &dx}) && x.rank() == 2 && w.rank() == 1 && w.dim(0) == x.dim(1) &&
            dy.shape() == x.shape() && dx.shape() == x.shape();
  BATON_RETURN_IF_ERROR(Expect(ok, "RmsNormBackward",
                               "want x, dy, dx [M,D], w[D]; got " + Shapes({&x, &w, &dy, &dx})));
  DoRmsNormBackward(x, w, eps, dy, dx);
  return Status::Ok();
}

Status Backend::RopeBackward(Tensor& dx, const Tensor& positions, const Tensor& inv_freq,
                             float scale) {
  // The rotation's transpose is the rotation by the negative angle: sin flips sign.
  Tensor neg = inv_freq.Clone();
  for (int64_t i = 0; i < neg.numel(); ++i) neg.f32()[i] = -neg.f32()[i];
  return Rope(dx, positions, neg, scale);
}

Status Backend::AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& q_positions, const Tensor& key_valid,
                                  const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) {
  bool ok = AllF32({&dout, &dq, &dk, &dv}) && dout.shape() == q.shape() &&
            dq.shape() == q.shape() && dk.shape() == k.shape() && dv.shape() == v.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "AttentionBackward",
             "gradients must match q, k, v; got " + Shapes({&dout, &dq, &dk, &dv})));
  BATON_RETURN_IF_ERROR(
      Expect(AttentionInputsOk(q, k, v, q_positions, key_valid), "AttentionBackward",
             "bad q/k/v/positions/valid: " + Shapes({&q, &k, &v, &q_positions, &key_valid})));
  DoAttentionBackward(q, k, v, q_positions, key_valid, dout, dq, dk, dv);
  return Status::Ok();
}

Status Backend::SiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout,
                                Tensor& dgate, Tensor& dup) {
  bool ok = AllF32({&gate, &up, &dout, &dgate, &dup}) && gate.shape() == up.shape() &&
            dout.shape() == up.shape() && dgate.shape() == up.shape() && dup.shape() == up.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "SiluMulBackward",
             "want equal f32 shapes; got " + Shapes({&gate, &up, &dout, &dgate, &dup})));
  DoSiluMulBackward(gate, up, dout, dgate, dup);
  return Status::Ok();
}

Result<double> Backend::CrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                                     Tensor& dlogits) {
  bool ok = AllF32({&logits, &dlogits}) && logits.rank() == 2 && labels.dtype() == DType::kI32 &&
            labels.numel() == logits.dim(0) && dlogits.shape() == logits.shape();
  BATON_RETURN_IF_ERROR(Expect(ok, "CrossEntropy",
                               "want logits[N,V], labels[N] i32, dlogits[N,V]; got " +
                                   Shapes({&logits, &labels, &dlogits})));
  const int32_t* l = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (l[i] != -100 && (l[i] < 0 || l[i] >= logits.dim(1))) {
      return InvalidArgument("CrossEntropy: label {} at row {} is outside [0, {})", l[i], i,
                             logits.dim(1));
    }
  }
  return DoCrossEntropy(logits, labels, grad_scale, dlogits);
}

}  // namespace baton
