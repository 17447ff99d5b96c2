#include "kernels/cpu/cpu_backend.h"

#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace baton {
namespace {

void NaiveMatMulNT(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
                   float alpha, float beta) {
  for (int64_t i = 0; i < m; ++i) {
    const float* ar = a + i * k;
    for (int64_t j = 0; j < n; ++j) {
      const float* br = b + j * k;
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += static_cast<double>(ar[p]) * br[p];
      float prev = beta == 0.0f ? 0.0f : beta * c[i * n + j];
      c[i * n + j] = static_cast<float>(alpha * acc) + prev;
    }
  }
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
  void DoMatMulNT(const Tensor& a, const Tensor& b, Tensor& c, float alpha, float beta) override {
    int64_t m = a.dim(0), k = a.dim(1), n = b.dim(0);
    if (m == 0 || n == 0) return;
    if (options_.gemm == CpuGemm::kNaive) {
      NaiveMatMulNT(a.f32(), b.f32(), c.f32(), m, n, k, alpha, beta);
      return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a.f32(), static_cast<int>(k), b.f32(),
                static_cast<int>(k), beta, c.f32(), static_cast<int>(n));
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

  void DoRope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float scale) override {
    int64_t b = x.dim(0), t = x.dim(1), h = x.dim(2), d = x.dim(3), half = d / 2;
    const int32_t* pos = positions.data<int32_t>();
    const float* freq = inv_freq.f32();
    std::vector<float> cos_v(half), sin_v(half);
    for (int64_t bt = 0; bt < b * t; ++bt) {
      for (int64_t i = 0; i < half; ++i) {
        // Same rounding as HF: the angle is an f32 product, then cos/sin in f32.
        float angle = static_cast<float>(pos[bt]) * freq[i];
        cos_v[i] = std::cos(angle) * scale;
        sin_v[i] = std::sin(angle) * scale;
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
    const uint8_t* valid = key_valid.data<uint8_t>();
    std::vector<float> scores(ns);
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t t = 0; t < nt; ++t) {
        int64_t last = std::min<int64_t>(qpos[b * nt + t], ns - 1);
        for (int64_t h = 0; h < nh; ++h) {
          const float* qv = q.f32() + ((b * nt + t) * nh + h) * d;
          int64_t kh = h / group;
          float* o = out.f32() + ((b * nt + t) * nh + h) * d;
          float max_score = -INFINITY;
          for (int64_t s = 0; s <= last; ++s) {
            if (!valid[b * ns + s]) continue;
            const float* kv = k.f32() + ((b * ns + s) * nkv + kh) * d;
            float dot = 0;
            for (int64_t i = 0; i < d; ++i) dot += qv[i] * kv[i];
            scores[s] = dot * scale;
            max_score = std::max(max_score, scores[s]);
          }
          std::memset(o, 0, d * sizeof(float));
          if (max_score == -INFINITY) continue;
          float sum = 0;
          for (int64_t s = 0; s <= last; ++s) {
            if (!valid[b * ns + s]) continue;
            scores[s] = std::exp(scores[s] - max_score);
            sum += scores[s];
          }
          float inv = 1.0f / sum;
          for (int64_t s = 0; s <= last; ++s) {
            if (!valid[b * ns + s]) continue;
            const float* vv = v.f32() + ((b * ns + s) * nkv + kh) * d;
            float p = scores[s] * inv;
            for (int64_t i = 0; i < d; ++i) o[i] += p * vv[i];
          }
        }
      }
    }
  }

  void DoSiluMul(const Tensor& gate, const Tensor& up, Tensor& out) override {
    const float* g = gate.f32();
    const float* u = up.f32();
    float* o = out.f32();
    for (int64_t i = 0; i < gate.numel(); ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
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
  if (const char* t = std::getenv("BATON_THREADS")) {
    int n = std::atoi(t);
    if (n > 0) options.threads = n;
  }
  if (const char* g = std::getenv("BATON_GEMM")) {
    if (std::string(g) == "naive") options.gemm = CpuGemm::kNaive;
  }
  return options;
}

}  // namespace baton
