#include "tensor/backend.h"

#include <cstring>

namespace baton {
namespace {

Status Expect(bool ok, std::string_view op, std::string_view what) {
  if (ok) return Status::Ok();
  return InvalidArgument("{}: {}", op, what);
}

bool AllOf(DType dtype, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (!t->defined() || t->dtype() != dtype) return false;
  }
  return true;
}

// Defined, and all of one dtype (the first's).
bool SameDType(std::initializer_list<const Tensor*> ts) {
  return ts.size() > 0 && (*ts.begin())->defined() && AllOf((*ts.begin())->dtype(), ts);
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
  return SameDType({&q, &k, &v}) && q.rank() == 4 && k.rank() == 4 && k.shape() == v.shape() &&
         k.dim(0) == q.dim(0) && k.dim(3) == q.dim(3) && k.dim(2) > 0 && q.dim(2) % k.dim(2) == 0 &&
         q_positions.dtype() == DType::kI32 && q_positions.rank() == 2 &&
         q_positions.dim(0) == q.dim(0) && q_positions.dim(1) == q.dim(1) &&
         (key_valid.dtype() == DType::kU8 || key_valid.dtype() == DType::kBool) &&
         key_valid.rank() == 2 && key_valid.dim(0) == k.dim(0) && key_valid.dim(1) == k.dim(1);
}

std::string_view DeviceName(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

}  // namespace

Status Backend::CheckTensors(std::string_view op, std::initializer_list<const Tensor*> ts) const {
  for (const Tensor* t : ts) {
    if (!t->defined()) return InvalidArgument("{}: a tensor is undefined", op);
    if (t->device() != device()) {
      return InvalidArgument("{}: tensor {} is on the {} but the {} backend runs on the {}", op,
                             t->Describe(), DeviceName(t->device()), name(), DeviceName(device()));
    }
    if (IsFloating(t->dtype()) && !SupportsDType(t->dtype())) {
      return InvalidArgument("{}: the {} backend does not compute in {} (tensor {})", op, name(),
                             DTypeName(t->dtype()), t->Describe());
    }
  }
  return Status::Ok();
}

Tensor Backend::NewZeros(Shape shape, DType dtype) {
  Tensor t = NewTensor(std::move(shape), dtype);
  if (t.numel() > 0) DoZero(t);
  return t;
}

Status Backend::Copy(const Tensor& src, Tensor& dst) {
  bool ok = src.defined() && dst.defined() && src.dtype() == dst.dtype() &&
            src.numel() == dst.numel() &&
            (src.device() == Device::kCpu || src.device() == device()) &&
            (dst.device() == Device::kCpu || dst.device() == device());
  BATON_RETURN_IF_ERROR(Expect(ok, "Copy",
                               fmt::format("want equal dtypes and sizes on the CPU or the {}; got "
                                           "{}",
                                           DeviceName(device()), Shapes({&src, &dst}))));
  if (src.numel() > 0) DoCopy(src, dst);
  return DeviceError();
}

Status Backend::Zero(Tensor& t) {
  BATON_RETURN_IF_ERROR(Expect(t.defined() && t.device() == device(), "Zero",
                               "want a tensor on this device; got " + Shapes({&t})));
  if (t.numel() > 0) DoZero(t);
  return DeviceError();
}

Result<Tensor> Backend::Upload(const Tensor& host, DType dtype) {
  BATON_RETURN_IF_ERROR(Expect(host.defined() && host.device() == Device::kCpu, "Upload",
                               "want a CPU tensor; got " + Shapes({&host})));
  if (host.dtype() != dtype && !(IsFloating(host.dtype()) && IsFloating(dtype))) {
    return InvalidArgument("Upload: cannot convert {} to {}", host.Describe(), DTypeName(dtype));
  }
  Tensor staged = host.dtype() == dtype ? host : host.ConvertTo(dtype);
  if (device() == Device::kCpu) return staged;  // no copy beyond the conversion
  Tensor t = NewTensor(host.shape(), dtype);
  BATON_RETURN_IF_ERROR(Copy(staged, t));
  return t;
}

Result<Tensor> Backend::Download(const Tensor& t) {
  BATON_RETURN_IF_ERROR(
      Expect(t.defined() && (t.device() == device() || t.device() == Device::kCpu), "Download",
             "want a tensor on this device; got " + Shapes({&t})));
  Tensor host = Tensor::Empty(t.shape(), t.dtype());
  BATON_RETURN_IF_ERROR(Copy(t, host));
  BATON_RETURN_IF_ERROR(Synchronize());
  return host;
}

Result<Tensor> Backend::DownloadF32(const Tensor& t) {
  if (t.defined() && t.device() == Device::kCpu && t.dtype() == DType::kF32) return t;
  BATON_ASSIGN_OR_RETURN(Tensor host, Download(t));
  return host.dtype() == DType::kF32 ? host : host.ToF32();
}

Status Backend::Gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, Tensor& c,
                     float alpha, float beta) {
  BATON_RETURN_IF_ERROR(CheckTensors("Gemm", {&a, &b, &c}));
  bool ok = IsFloating(a.dtype()) && IsFloating(b.dtype()) && IsFloating(c.dtype()) &&
            a.rank() == 2 && b.rank() == 2 && c.rank() == 2;
  if (ok) {
    int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
    int64_t kb = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
    ok = k == kb && c.dim(0) == m && c.dim(1) == n;
  }
  BATON_RETURN_IF_ERROR(Expect(ok, "Gemm",
                               fmt::format("want op(a)[M,K], op(b)[K,N], c[M,N] (trans_a={}, "
                                           "trans_b={}); got {}",
                                           trans_a, trans_b, Shapes({&a, &b, &c}))));
  DoGemm(trans_a, trans_b, a, b, c, alpha, beta);
  return DeviceError();
}

Status Backend::AddBias(Tensor& x, const Tensor& bias) {
  BATON_RETURN_IF_ERROR(CheckTensors("AddBias", {&x, &bias}));
  bool ok =
      bias.dtype() == DType::kF32 && x.rank() == 2 && bias.rank() == 1 && bias.dim(0) == x.dim(1);
  BATON_RETURN_IF_ERROR(
      Expect(ok, "AddBias", "want x[M,N], bias[N] f32; got " + Shapes({&x, &bias})));
  DoAddBias(x, bias);
  return DeviceError();
}

Status Backend::RmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  BATON_RETURN_IF_ERROR(CheckTensors("RmsNorm", {&x, &w, &y}));
  bool ok = SameDType({&x, &y}) && w.dtype() == DType::kF32 && x.rank() == 2 && w.rank() == 1 &&
            w.dim(0) == x.dim(1) && y.shape() == x.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "RmsNorm", "want x[M,D], w[D] f32, y[M,D] like x; got " + Shapes({&x, &w, &y})));
  DoRmsNorm(x, w, eps, y);
  return DeviceError();
}

Status Backend::Rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale) {
  BATON_RETURN_IF_ERROR(CheckTensors("Rope", {&x, &positions, &inv_freq}));
  bool ok = inv_freq.dtype() == DType::kF32 && x.rank() == 4 && positions.dtype() == DType::kI32 &&
            positions.rank() == 2 && positions.dim(0) == x.dim(0) && positions.dim(1) == x.dim(1) &&
            inv_freq.rank() == 1 && inv_freq.dim(0) * 2 == x.dim(3);
  BATON_RETURN_IF_ERROR(Expect(ok, "Rope",
                               "want x[B,T,H,D], positions[B,T] i32, inv_freq[D/2] f32; got " +
                                   Shapes({&x, &positions, &inv_freq})));
  DoRope(x, positions, inv_freq, scale, 1.0f);
  return DeviceError();
}

Status Backend::Attention(const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& q_positions, const Tensor& key_valid, Tensor& out) {
  BATON_RETURN_IF_ERROR(CheckTensors("Attention", {&q, &k, &v, &q_positions, &key_valid, &out}));
  bool ok = SameDType({&q, &out}) && out.shape() == q.shape() &&
            AttentionInputsOk(q, k, v, q_positions, key_valid);
  BATON_RETURN_IF_ERROR(Expect(
      ok, "Attention",
      "want q[B,T,H,D], k/v[B,S,Hkv,D] (H % Hkv == 0), q_positions[B,T] i32, key_valid[B,S] u8, "
      "out like q; got " +
          Shapes({&q, &k, &v, &q_positions, &key_valid, &out})));
  DoAttention(q, k, v, q_positions, key_valid, out);
  return DeviceError();
}

Status Backend::SiluMul(const Tensor& gate, const Tensor& up, Tensor& out) {
  BATON_RETURN_IF_ERROR(CheckTensors("SiluMul", {&gate, &up, &out}));
  bool ok =
      SameDType({&gate, &up, &out}) && gate.shape() == up.shape() && out.shape() == up.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "SiluMul", "want equal dtypes and shapes; got " + Shapes({&gate, &up, &out})));
  DoSiluMul(gate, up, out);
  return DeviceError();
}

Status Backend::Add(Tensor& x, const Tensor& y) {
  BATON_RETURN_IF_ERROR(CheckTensors("Add", {&x, &y}));
  bool ok = SameDType({&x, &y}) && x.numel() == y.numel();
  BATON_RETURN_IF_ERROR(Expect(ok, "Add", "want equal dtypes and sizes; got " + Shapes({&x, &y})));
  DoAdd(x, y);
  return DeviceError();
}

Status Backend::Embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  BATON_RETURN_IF_ERROR(CheckTensors("Embedding", {&table, &ids, &out}));
  bool ok = IsFloating(table.dtype()) && IsFloating(out.dtype()) && table.rank() == 2 &&
            ids.dtype() == DType::kI32 && out.rank() == 2 && out.dim(0) == ids.numel() &&
            out.dim(1) == table.dim(1);
  BATON_RETURN_IF_ERROR(
      Expect(ok, "Embedding",
             "want table[V,D], ids[N] i32, out[N,D]; got " + Shapes({&table, &ids, &out})));
  if (ids.device() == Device::kCpu) {  // device ids were checked on the host before the upload
    const int32_t* id = ids.data<int32_t>();
    for (int64_t i = 0; i < ids.numel(); ++i) {
      if (id[i] < 0 || id[i] >= table.dim(0)) {
        return InvalidArgument(
            "Embedding: token id {} at position {} is outside the vocabulary [0, {})", id[i], i,
            table.dim(0));
      }
    }
  }
  DoEmbedding(table, ids, out);
  return DeviceError();
}

Status Backend::Dropout(const Tensor& x, float p, uint64_t seed, Tensor& out) {
  BATON_RETURN_IF_ERROR(CheckTensors("Dropout", {&x, &out}));
  bool ok = SameDType({&x, &out}) && x.shape() == out.shape() && p >= 0.0f && p < 1.0f;
  BATON_RETURN_IF_ERROR(Expect(ok, "Dropout",
                               fmt::format("want equal dtypes and shapes and p in [0, 1); got {}, "
                                           "p={}",
                                           Shapes({&x, &out}), p)));
  DoDropout(x, p, seed, out);
  return DeviceError();
}

Status Backend::RmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy,
                                Tensor& dx) {
  BATON_RETURN_IF_ERROR(CheckTensors("RmsNormBackward", {&x, &w, &dy, &dx}));
  bool ok = SameDType({&x, &dy, &dx}) && w.dtype() == DType::kF32 && x.rank() == 2 &&
            w.rank() == 1 && w.dim(0) == x.dim(1) && dy.shape() == x.shape() &&
            dx.shape() == x.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "RmsNormBackward",
             "want x, dy, dx [M,D] of one dtype, w[D] f32; got " + Shapes({&x, &w, &dy, &dx})));
  DoRmsNormBackward(x, w, eps, dy, dx);
  return DeviceError();
}

Status Backend::RopeBackward(Tensor& dx, const Tensor& positions, const Tensor& inv_freq,
                             float scale) {
  // The rotation's transpose is the rotation by the negative angle: sin flips sign.
  BATON_RETURN_IF_ERROR(CheckTensors("RopeBackward", {&dx, &positions, &inv_freq}));
  bool ok = inv_freq.dtype() == DType::kF32 && dx.rank() == 4 && positions.dtype() == DType::kI32 &&
            positions.rank() == 2 && positions.dim(0) == dx.dim(0) &&
            positions.dim(1) == dx.dim(1) && inv_freq.rank() == 1 &&
            inv_freq.dim(0) * 2 == dx.dim(3);
  BATON_RETURN_IF_ERROR(Expect(ok, "RopeBackward",
                               "want dx[B,T,H,D], positions[B,T] i32, inv_freq[D/2] f32; got " +
                                   Shapes({&dx, &positions, &inv_freq})));
  DoRope(dx, positions, inv_freq, scale, -1.0f);
  return DeviceError();
}

Status Backend::AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& q_positions, const Tensor& key_valid,
                                  const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv) {
  BATON_RETURN_IF_ERROR(CheckTensors("AttentionBackward",
                                     {&q, &k, &v, &q_positions, &key_valid, &dout, &dq, &dk, &dv}));
  bool ok = SameDType({&q, &dout, &dq, &dk, &dv}) && dout.shape() == q.shape() &&
            dq.shape() == q.shape() && dk.shape() == k.shape() && dv.shape() == v.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "AttentionBackward",
             "gradients must match q, k, v; got " + Shapes({&dout, &dq, &dk, &dv})));
  BATON_RETURN_IF_ERROR(
      Expect(AttentionInputsOk(q, k, v, q_positions, key_valid), "AttentionBackward",
             "bad q/k/v/positions/valid: " + Shapes({&q, &k, &v, &q_positions, &key_valid})));
  DoAttentionBackward(q, k, v, q_positions, key_valid, dout, dq, dk, dv);
  return DeviceError();
}

Status Backend::SiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout,
                                Tensor& dgate, Tensor& dup) {
  BATON_RETURN_IF_ERROR(CheckTensors("SiluMulBackward", {&gate, &up, &dout, &dgate, &dup}));
  bool ok = SameDType({&gate, &up, &dout, &dgate, &dup}) && gate.shape() == up.shape() &&
            dout.shape() == up.shape() && dgate.shape() == up.shape() && dup.shape() == up.shape();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "SiluMulBackward",
             "want equal dtypes and shapes; got " + Shapes({&gate, &up, &dout, &dgate, &dup})));
  DoSiluMulBackward(gate, up, dout, dgate, dup);
  return DeviceError();
}

Result<double> Backend::CrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                                     Tensor& dlogits, int64_t* correct) {
  BATON_RETURN_IF_ERROR(CheckTensors("CrossEntropy", {&logits, &labels, &dlogits}));
  bool ok = SameDType({&logits, &dlogits}) && logits.rank() == 2 && labels.dtype() == DType::kI32 &&
            labels.numel() == logits.dim(0) && dlogits.shape() == logits.shape();
  BATON_RETURN_IF_ERROR(Expect(ok, "CrossEntropy",
                               "want logits[N,V], labels[N] i32, dlogits[N,V]; got " +
                                   Shapes({&logits, &labels, &dlogits})));
  if (labels.device() == Device::kCpu) {  // device labels were checked on the host
    const int32_t* l = labels.data<int32_t>();
    for (int64_t i = 0; i < labels.numel(); ++i) {
      if (l[i] != kIgnoreLabel && (l[i] < 0 || l[i] >= logits.dim(1))) {
        return InvalidArgument("CrossEntropy: label {} at row {} is outside [0, {})", l[i], i,
                               logits.dim(1));
      }
    }
  }
  if (correct) *correct = 0;
  double loss = DoCrossEntropy(logits, labels, grad_scale, dlogits, correct);
  BATON_RETURN_IF_ERROR(DeviceError());
  return loss;
}

Result<double> Backend::SumSquares(const Tensor& x) {
  BATON_RETURN_IF_ERROR(CheckTensors("SumSquares", {&x}));
  BATON_RETURN_IF_ERROR(
      Expect(x.dtype() == DType::kF32, "SumSquares", "want f32; got " + Shapes({&x})));
  double sum = DoSumSquares(x);
  BATON_RETURN_IF_ERROR(DeviceError());
  return sum;
}

Status Backend::Scale(Tensor& x, float c) {
  BATON_RETURN_IF_ERROR(CheckTensors("Scale", {&x}));
  BATON_RETURN_IF_ERROR(Expect(x.dtype() == DType::kF32, "Scale", "want f32; got " + Shapes({&x})));
  DoScale(x, c);
  return DeviceError();
}

Status Backend::AdamWStep(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
                          const AdamWArgs& a) {
  BATON_RETURN_IF_ERROR(CheckTensors("AdamWStep", {&params, &grads, &m, &v}));
  bool ok = AllOf(DType::kF32, {&params, &grads, &m, &v}) && grads.numel() == params.numel() &&
            m.numel() == params.numel() && v.numel() == params.numel();
  BATON_RETURN_IF_ERROR(
      Expect(ok, "AdamWStep",
             "want f32 params, grads, m, v of one size; got " + Shapes({&params, &grads, &m, &v})));
  DoAdamWStep(params, grads, m, v, a);
  return DeviceError();
}

}  // namespace baton
