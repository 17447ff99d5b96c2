#include "kernels/cpu/cpu_backend.h"

#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/process_contract.h"
#include "kernels/kernel_math.h"

namespace baton {
namespace {

// c = alpha * op(a) op(b) + beta * c, accumulating in double: the reference for every other path.
void NaiveGemm(bool ta, bool tb, const float* a, const float* b, float* c, int64_t m, int64_t n,
               int64_t k, float alpha, float beta) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        float x = ta ? a[p * m + i] : a[i * k + p];
        float y = tb ? b[j * k + p] : b[p * n + j];
        acc += static_cast<double>(x) * y;
      }
      float prev = beta == 0.0f ? 0.0f : beta * c[i * n + j];
      c[i * n + j] = static_cast<float>(alpha * acc) + prev;
    }
  }
}

// Softmax weights of one query row over key slots [0, last], 0 for invalid slots; returns false
// if no key is visible.
bool AttentionRow(const float* qv, const float* k, const uint8_t* valid, int64_t last,
                  int64_t stride, int64_t d, float scale, float* p) {
  float max_score = -INFINITY;
  for (int64_t s = 0; s <= last; ++s) {
    if (!valid[s]) continue;
    const float* kv = k + s * stride;
    float dot = 0;
    for (int64_t i = 0; i < d; ++i) dot += qv[i] * kv[i];
    p[s] = dot * scale;
    max_score = std::max(max_score, p[s]);
  }
  if (max_score == -INFINITY) return false;
  float sum = 0;
  for (int64_t s = 0; s <= last; ++s) {
    if (!valid[s]) continue;
    p[s] = std::exp(p[s] - max_score);
    sum += p[s];
  }
  float inv = 1.0f / sum;
  for (int64_t s = 0; s <= last; ++s) p[s] = valid[s] ? p[s] * inv : 0.0f;
  return true;
}

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options) : options_(options) {
    if (options_.gemm == CpuGemm::kBlas) openblas_set_num_threads(options_.threads);
  }

  std::string name() const override {
    return options_.gemm == CpuGemm::kBlas
               ? "cpu-openblas(" + std::to_string(options_.threads) + " threads)"
               : "cpu-naive";
  }
  Device device() const override { return Device::kCpu; }

 protected:
  void DoGemm(bool ta, bool tb, const Tensor& a, const Tensor& b, Tensor& c, float alpha,
              float beta) override {
    int64_t m = c.dim(0), n = c.dim(1), k = ta ? a.dim(0) : a.dim(1);
    if (m == 0 || n == 0) return;
    if (options_.gemm == CpuGemm::kNaive) {
      NaiveGemm(ta, tb, a.f32(), b.f32(), c.f32(), m, n, k, alpha, beta);
      return;
    }
    if (k == 0) {  // BLAS leaves c untouched; the contract is c = beta * c
      for (int64_t i = 0; i < m * n; ++i) c.f32()[i] = beta == 0.0f ? 0.0f : beta * c.f32()[i];
      return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a.f32(),
                static_cast<int>(a.dim(1)), b.f32(), static_cast<int>(b.dim(1)), beta, c.f32(),
                static_cast<int>(n));
  }

  void DoAddBias(Tensor& x, const Tensor& bias) override {
    int64_t m = x.dim(0), n = x.dim(1);
    float* px = x.f32();
    const float* pb = bias.f32();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) px[i * n + j] += pb[j];
    }
  }

  void DoRmsNorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    int64_t m = x.dim(0), d = x.dim(1);
    const float* px = x.f32();
    const float* pw = w.f32();
    float* py = y.f32();
    for (int64_t i = 0; i < m; ++i) {
      const float* row = px + i * d;
      double ss = 0;
      for (int64_t j = 0; j < d; ++j) ss += static_cast<double>(row[j]) * row[j];
      float inv = 1.0f / std::sqrt(static_cast<float>(ss / d) + eps);
      for (int64_t j = 0; j < d; ++j) py[i * d + j] = pw[j] * (row[j] * inv);
    }
  }

  void DoRope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale,
              float sign) override {
    int64_t b = x.dim(0), t = x.dim(1), h = x.dim(2), d = x.dim(3), half = d / 2;
    const int32_t* pos = positions.data<int32_t>();
    const float* freq = inv_freq.f32();
    std::vector<float> cos_v(half), sin_v(half);
    for (int64_t bt = 0; bt < b * t; ++bt) {
      for (int64_t i = 0; i < half; ++i) {
        // Same rounding as HF: the angle is an f32 product, then cos/sin in f32.
        float angle = static_cast<float>(pos[bt]) * freq[i];
        cos_v[i] = std::cos(angle) * scale;
        sin_v[i] = sign * (std::sin(angle) * scale);  // sin(-a) = -sin(a), bit for bit
      }
      float* base = x.f32() + bt * h * d;
      for (int64_t hh = 0; hh < h; ++hh) {
        float* v = base + hh * d;
        for (int64_t i = 0; i < half; ++i) {
          float x1 = v[i], x2 = v[i + half];
          v[i] = x1 * cos_v[i] - x2 * sin_v[i];
          v[i + half] = x2 * cos_v[i] + x1 * sin_v[i];
        }
      }
    }
  }

  void DoAttention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& q_positions,
                   const Tensor& key_valid, Tensor& out) override {
    int64_t nb = q.dim(0), nt = q.dim(1), nh = q.dim(2), d = q.dim(3);
    int64_t ns = k.dim(1), nkv = k.dim(2), group = nh / nkv;
    float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int32_t* qpos = q_positions.data<int32_t>();
    std::vector<float> p(ns);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* valid = key_valid.data<uint8_t>() + b * ns;
      for (int64_t t = 0; t < nt; ++t) {
        int64_t last = std::min<int64_t>(qpos[b * nt + t], ns - 1);
        for (int64_t h = 0; h < nh; ++h) {
          int64_t kh = h / group;
          const float* qv = q.f32() + ((b * nt + t) * nh + h) * d;
          const float* kb = k.f32() + (b * ns * nkv + kh) * d;
          const float* vb = v.f32() + (b * ns * nkv + kh) * d;
          float* o = out.f32() + ((b * nt + t) * nh + h) * d;
          std::memset(o, 0, d * sizeof(float));
          if (!AttentionRow(qv, kb, valid, last, nkv * d, d, scale, p.data())) continue;
          for (int64_t s = 0; s <= last; ++s) {
            if (p[s] == 0.0f) continue;
            const float* vv = vb + s * nkv * d;
            for (int64_t i = 0; i < d; ++i) o[i] += p[s] * vv[i];
          }
        }
      }
    }
  }

  void DoAttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Tensor& q_positions, const Tensor& key_valid, const Tensor& dout,
                           Tensor& dq, Tensor& dk, Tensor& dv) override {
    int64_t nb = q.dim(0), nt = q.dim(1), nh = q.dim(2), d = q.dim(3);
    int64_t ns = k.dim(1), nkv = k.dim(2), group = nh / nkv;
    float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int32_t* qpos = q_positions.data<int32_t>();
    std::memset(dq.raw(), 0, dq.nbytes());
    std::memset(dk.raw(), 0, dk.nbytes());
    std::memset(dv.raw(), 0, dv.nbytes());
    std::vector<float> p(ns), dp(ns);
    // Fixed loop order (no threads, no atomics): gradients repeat bit for bit.
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* valid = key_valid.data<uint8_t>() + b * ns;
      for (int64_t t = 0; t < nt; ++t) {
        int64_t last = std::min<int64_t>(qpos[b * nt + t], ns - 1);
        for (int64_t h = 0; h < nh; ++h) {
          int64_t kh = h / group;
          size_t qoff = ((b * nt + t) * nh + h) * d;
          const float* qv = q.f32() + qoff;
          const float* go = dout.f32() + qoff;
          const float* kb = k.f32() + (b * ns * nkv + kh) * d;
          const float* vb = v.f32() + (b * ns * nkv + kh) * d;
          float* dkb = dk.f32() + (b * ns * nkv + kh) * d;
          float* dvb = dv.f32() + (b * ns * nkv + kh) * d;
          if (!AttentionRow(qv, kb, valid, last, nkv * d, d, scale, p.data())) continue;
          // dP = dO . V^T; dS = P * (dP - sum(P * dP)); dq = scale dS K; dk = scale dS^T q.
          float dot_sum = 0;
          for (int64_t s = 0; s <= last; ++s) {
            if (p[s] == 0.0f) {
              dp[s] = 0;
              continue;
            }
            const float* vv = vb + s * nkv * d;
            float acc = 0;
            for (int64_t i = 0; i < d; ++i) acc += go[i] * vv[i];
            dp[s] = acc;
            dot_sum += p[s] * acc;
          }
          float* dqv = dq.f32() + qoff;
          for (int64_t s = 0; s <= last; ++s) {
            if (p[s] == 0.0f) continue;
            float ds = p[s] * (dp[s] - dot_sum) * scale;
            const float* kv = kb + s * nkv * d;
            float* dkv = dkb + s * nkv * d;
            float* dvv = dvb + s * nkv * d;
            for (int64_t i = 0; i < d; ++i) {
              dqv[i] += ds * kv[i];
              dkv[i] += ds * qv[i];
              dvv[i] += p[s] * go[i];
            }
          }
        }
      }
    }
  }

  void DoDropout(const Tensor& x, float p, uint64_t seed, Tensor& out) override {
    // Keep element i when its 24-bit hash is >= p * 2^24 (the mask the CUDA kernel draws too).
    const uint64_t threshold = kmath::DropoutThreshold(p);
    const float scale = 1.0f / (1.0f - p);
    const uint64_t base = kmath::Mix64(seed);
    for (int64_t i = 0; i < x.numel(); ++i) {
      bool keep = kmath::DropoutKeep(base, static_cast<uint64_t>(i), threshold);
      out.f32()[i] = keep ? x.f32()[i] * scale : 0.0f;
    }
  }

  void DoRmsNormBackward(const Tensor& x, const Tensor& w, float eps, const Tensor& dy,
                         Tensor& dx) override {
    // y = w * x * r, r = (mean(x^2) + eps)^-1/2:
    // dx = r * (w*dy) - x * r^3 * mean(x * w * dy).
    int64_t m = x.dim(0), d = x.dim(1);
    const float* pw = w.f32();
    for (int64_t i = 0; i < m; ++i) {
      const float* row = x.f32() + i * d;
      const float* g = dy.f32() + i * d;
      float* out = dx.f32() + i * d;
      double ss = 0, dot = 0;
      for (int64_t j = 0; j < d; ++j) {
        ss += static_cast<double>(row[j]) * row[j];
        dot += static_cast<double>(row[j]) * pw[j] * g[j];
      }
      float r = 1.0f / std::sqrt(static_cast<float>(ss / d) + eps);
      float c = static_cast<float>(dot / d) * r * r * r;
      for (int64_t j = 0; j < d; ++j) out[j] = r * pw[j] * g[j] - row[j] * c;
    }
  }

  void DoSiluMulBackward(const Tensor& gate, const Tensor& up, const Tensor& dout, Tensor& dgate,
                         Tensor& dup) override {
    const float* g = gate.f32();
    const float* u = up.f32();
    const float* go = dout.f32();
    for (int64_t i = 0; i < gate.numel(); ++i) {
      float sig = 1.0f / (1.0f + std::exp(-g[i]));
      float silu = g[i] * sig;
      float dg = go[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
      float du = go[i] * silu;
      dgate.f32()[i] = dg;
      dup.f32()[i] = du;
    }
  }

  double DoCrossEntropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                        Tensor& dlogits, int64_t* correct) override {
    int64_t n = logits.dim(0), v = logits.dim(1);
    const int32_t* l = labels.data<int32_t>();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.f32() + i * v;
      float* g = dlogits.f32() + i * v;
      if (l[i] == kIgnoreLabel) {
        std::memset(g, 0, v * sizeof(float));
        continue;
      }
      float m = row[0];
      int64_t argmax = 0;  // the first largest, as torch.argmax
      for (int64_t j = 1; j < v; ++j) {
        if (row[j] > m) {
          m = row[j];
          argmax = j;
        }
      }
      if (correct && argmax == l[i]) ++*correct;
      float target = row[l[i]];  // read before g (which may alias row) is overwritten
      // One exp per logit, kept in g; the sum accumulates in double.
      double sum = 0;
      for (int64_t j = 0; j < v; ++j) {
        g[j] = std::exp(row[j] - m);
        sum += g[j];
      }
      total += m + std::log(sum) - target;
      float scale = static_cast<float>(grad_scale / sum);
      for (int64_t j = 0; j < v; ++j) g[j] *= scale;
      g[l[i]] -= grad_scale;
    }
    return total;
  }

  void DoSiluMul(const Tensor& gate, const Tensor& up, Tensor& out) override {
    const float* g = gate.f32();
    const float* u = up.f32();
    float* o = out.f32();
    for (int64_t i = 0; i < gate.numel(); ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }

  void DoCopy(const Tensor& src, Tensor& dst) override {
    std::memmove(dst.raw(), src.raw(), src.nbytes());
  }

  void DoZero(Tensor& t) override { std::memset(t.raw(), 0, t.nbytes()); }

  double DoSumSquares(const Tensor& x) override {
    double sq = 0;
    for (int64_t i = 0; i < x.numel(); ++i) sq += static_cast<double>(x.f32()[i]) * x.f32()[i];
    return sq;
  }

  void DoScale(Tensor& x, float c) override {
    for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] *= c;
  }

  void DoAdamWStep(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
                   const AdamWArgs& a) override {
    // The same operations, in the same f32 order, as torch's single-tensor AdamW; the CUDA
    // kernel runs the same function.
    const kmath::AdamWScalars s{a.beta1, a.beta2, a.decay, a.step_size, a.bc2_sqrt, a.eps};
    float* pp = params.f32();
    const float* pg = grads.f32();
    float* pm = m.f32();
    float* pv = v.f32();
    for (int64_t i = 0; i < params.numel(); ++i)
      kmath::AdamWUpdate(s, pg[i], &pp[i], &pm[i], &pv[i]);
  }

  void DoAdd(Tensor& x, const Tensor& y) override {
    float* px = x.f32();
    const float* py = y.f32();
    for (int64_t i = 0; i < x.numel(); ++i) px[i] += py[i];
  }

  void DoEmbedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    int64_t d = table.dim(1);
    const int32_t* id = ids.data<int32_t>();
    for (int64_t i = 0; i < ids.numel(); ++i) {
      std::memcpy(out.f32() + i * d, table.f32() + id[i] * d, d * sizeof(float));
    }
  }

 private:
  CpuBackendOptions options_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

CpuBackendOptions CpuBackendOptionsFromEnv() {
  CpuBackendOptions options;
  if (std::optional<std::string> t = GetEnvVar(EnvVar::kThreads)) {
    int n = std::atoi(t->c_str());
    if (n > 0) options.threads = n;
  }
  if (std::optional<std::string> g = GetEnvVar(EnvVar::kGemm)) {
    if (*g == "naive") options.gemm = CpuGemm::kNaive;
  }
  return options;
}

}  // namespace baton
