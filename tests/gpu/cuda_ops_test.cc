// Every op of the CUDA backend against the f32 CPU reference, in f32 (indexing and math, tight
// tolerance) and bf16 (training precision). Each test skips where no GPU is visible.
#include <gtest/gtest.h>

#include <cstring>

#include "gpu_test_util.h"

namespace baton {
namespace {

using testing::Place;
using testing::RandomHost;
using testing::RelativeError;
using testing::Tolerance;

// An attention shape: q [b, t, h, d], k/v [b, s, hkv, d]; `pad` marks some key slots invalid.
struct AttnCase {
  int64_t b, t, s, h, hkv, d;
  bool pad;
};

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    BATON_REQUIRE_GPU();
    gpu_ = testing::Gpu(GetParam());
    ASSERT_NE(gpu_, nullptr);
    cpu_ = testing::Cpu();
  }
  DType dt() const { return GetParam(); }
  Tensor Up(const Tensor& host, DType dtype) { return *gpu_->Upload(host, dtype); }
  void CheckRowOps(int64_t m, int64_t d);
  void CheckElementwise(int64_t n);
  void CheckCrossEntropy(int64_t v);
  void CheckAttention(const AttnCase& c);

  std::unique_ptr<Backend> gpu_, cpu_;
};

TEST_P(CudaOps, GemmEveryTransposeAndAccumulate) {
  const int64_t m = 70, n = 45, k = 96;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Tensor ah = RandomHost(ta ? Shape{k, m} : Shape{m, k}, 1);
      Tensor bh = RandomHost(tb ? Shape{n, k} : Shape{k, n}, 2);
      Tensor ch = RandomHost({m, n}, 3);
      auto a = Place(*gpu_, ah, dt());
      auto b = Place(*gpu_, bh, dt());
      // f32 output (LoRA gradients) accumulating with beta = 1, and the activation dtype.
      for (DType out : {DType::kF32, dt()}) {
        auto c = Place(*gpu_, ch, out);
        Tensor want = c.cpu.Clone();
        ASSERT_TRUE(cpu_->Gemm(ta, tb, a.cpu, b.cpu, want, 0.5f, 1.0f).ok());
        ASSERT_TRUE(gpu_->Gemm(ta, tb, a.gpu, b.gpu, c.gpu, 0.5f, 1.0f).ok());
        EXPECT_LT(RelativeError(*gpu_, c.gpu, want), Tolerance(out == DType::kF32 ? dt() : out))
            << "ta=" << ta << " tb=" << tb << " out=" << DTypeName(out);
      }
    }
  }
}

TEST_P(CudaOps, GemmMixesActivationsWithF32LoraMatrices) {
  // bf16: the GPU rounds the f32 matrix to bf16 (a Convert kernel; 7 x 61 elements end in a
  // scalar tail after its 16-byte packs). f32: the same product with nothing to convert.
  for (auto [rank, k] : {std::pair<int64_t, int64_t>{8, 64}, {7, 61}}) {
    SCOPED_TRACE(::testing::Message() << "rank " << rank << " k " << k);
    Tensor xh = RandomHost({33, k}, 4), ah = RandomHost({rank, k}, 5);
    auto x = Place(*gpu_, xh, dt());
    auto a = Place(*gpu_, ah, dt());  // the values the GPU multiplies
    Tensor a32 = Up(ah, DType::kF32);
    Tensor t = gpu_->NewTensor({33, rank}, dt());
    Tensor want = Tensor::Empty({33, rank}, DType::kF32);
    ASSERT_TRUE(cpu_->MatMulNT(x.cpu, a.cpu, want).ok());
    ASSERT_TRUE(gpu_->MatMulNT(x.gpu, a32, t).ok());
    EXPECT_LT(RelativeError(*gpu_, t, want), Tolerance(dt()));
  }
}

TEST_P(CudaOps, RowOps) {
  // d = 320: whole 16-byte packs; d = 203: rows that are not, so element loads and a partial
  // last pack (and AddBias without packs).
  for (int64_t d : {320, 203}) {
    SCOPED_TRACE(::testing::Message() << "d " << d);
    CheckRowOps(37, d);
  }
}

void CudaOps::CheckRowOps(int64_t m, int64_t d) {
  Tensor xh = RandomHost({m, d}, 6, 3.0f), wh = RandomHost({d}, 7), dyh = RandomHost({m, d}, 8);
  auto x = Place(*gpu_, xh, dt());
  auto dy = Place(*gpu_, dyh, dt());
  Tensor w = Up(wh, DType::kF32);
  Tensor want = Tensor::Empty({m, d}, DType::kF32), got = gpu_->NewTensor({m, d}, dt());
  ASSERT_TRUE(cpu_->RmsNorm(x.cpu, wh, 1e-6f, want).ok());
  ASSERT_TRUE(gpu_->RmsNorm(x.gpu, w, 1e-6f, got).ok());
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "RmsNorm";
  ASSERT_TRUE(cpu_->RmsNormBackward(x.cpu, wh, 1e-6f, dy.cpu, want).ok());
  ASSERT_TRUE(gpu_->RmsNormBackward(x.gpu, w, 1e-6f, dy.gpu, got).ok());
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "RmsNormBackward";
  // AddBias and Add.
  Tensor bh = RandomHost({d}, 9);
  Tensor bias = Up(bh, DType::kF32);
  want = x.cpu.Clone();
  ASSERT_TRUE(cpu_->AddBias(want, bh).ok());
  ASSERT_TRUE(cpu_->Add(want, dy.cpu).ok());
  ASSERT_TRUE(gpu_->AddBias(x.gpu, bias).ok());
  ASSERT_TRUE(gpu_->Add(x.gpu, dy.gpu).ok());
  EXPECT_LT(RelativeError(*gpu_, x.gpu, want), Tolerance(dt())) << "AddBias + Add";
}

TEST_P(CudaOps, RopeForwardAndBackwardAtLongPositions) {
  const int64_t b = 2, t = 9, h = 3, d = 64;
  Tensor xh = RandomHost({b, t, h, d}, 10);
  std::vector<int32_t> pos(b * t);
  for (int64_t i = 0; i < b * t; ++i) pos[i] = static_cast<int32_t>(30000 + 7 * i);
  Tensor ph = Tensor::FromI32(pos, {b, t});
  std::vector<float> freq(d / 2);
  for (int64_t i = 0; i < d / 2; ++i) freq[i] = std::pow(1e6f, -2.0f * i / d);
  Tensor fh = Tensor::FromF32(freq, {d / 2});
  auto x = Place(*gpu_, xh, dt());
  Tensor p = Up(ph, DType::kI32), f = Up(fh, DType::kF32);
  Tensor want = x.cpu.Clone();
  ASSERT_TRUE(cpu_->Rope(want, ph, fh, 1.0f).ok());
  ASSERT_TRUE(gpu_->Rope(x.gpu, p, f, 1.0f).ok());
  EXPECT_LT(RelativeError(*gpu_, x.gpu, want), Tolerance(dt())) << "Rope";
  ASSERT_TRUE(cpu_->RopeBackward(want, ph, fh, 1.0f).ok());
  ASSERT_TRUE(gpu_->RopeBackward(x.gpu, p, f, 1.0f).ok());
  EXPECT_LT(RelativeError(*gpu_, x.gpu, want), Tolerance(dt())) << "RopeBackward";
  EXPECT_LT(RelativeError(*gpu_, x.gpu, x.cpu), Tolerance(dt())) << "round trip";
}

TEST_P(CudaOps, SwiGluDropoutAdd) {
  // n = 1000: whole 16-byte packs (4 f32, 8 bf16). 7, 1003 and 4099 leave n % pack elements to
  // the scalar tail after the vectorised loop; 7 is a tail alone.
  for (int64_t n : {1000, 7, 1003, 4099}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    CheckElementwise(n);
  }
}

void CudaOps::CheckElementwise(int64_t n) {
  Tensor gh = RandomHost({n}, 11 + n, 4.0f), uh = RandomHost({n}, 12 + n),
         dh = RandomHost({n}, 13 + n);
  auto g = Place(*gpu_, gh, dt());
  auto u = Place(*gpu_, uh, dt());
  auto dout = Place(*gpu_, dh, dt());
  Tensor want = Tensor::Empty({n}, DType::kF32), got = gpu_->NewTensor({n}, dt());
  ASSERT_TRUE(cpu_->SiluMul(g.cpu, u.cpu, want).ok());
  ASSERT_TRUE(gpu_->SiluMul(g.gpu, u.gpu, got).ok());
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "SiluMul";
  Tensor want_du = Tensor::Empty({n}, DType::kF32), got_du = gpu_->NewTensor({n}, dt());
  ASSERT_TRUE(cpu_->SiluMulBackward(g.cpu, u.cpu, dout.cpu, want, want_du).ok());
  ASSERT_TRUE(gpu_->SiluMulBackward(g.gpu, u.gpu, dout.gpu, got, got_du).ok());
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "dgate";
  EXPECT_LT(RelativeError(*gpu_, got_du, want_du), Tolerance(dt())) << "dup";
  // Dropout keeps exactly the CPU's elements and scales them as it does.
  ASSERT_TRUE(cpu_->Dropout(u.cpu, 0.3f, 77, want).ok());
  ASSERT_TRUE(gpu_->Dropout(u.gpu, 0.3f, 77, got).ok());
  Tensor back = *gpu_->DownloadF32(got);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(back.f32()[i] == 0.0f, want.f32()[i] == 0.0f) << "element " << i;
  }
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "Dropout";
  // Add in place.
  want = g.cpu.Clone();
  ASSERT_TRUE(cpu_->Add(want, u.cpu).ok());
  ASSERT_TRUE(gpu_->Add(g.gpu, u.gpu).ok());
  EXPECT_LT(RelativeError(*gpu_, g.gpu, want), Tolerance(dt())) << "Add";
}

TEST_P(CudaOps, EmbeddingCopiesRows) {
  // From a bf16 or f32 table; rows of 24 are whole packs, rows of 27 are not (element copies).
  for (int64_t d : {24, 27}) {
    SCOPED_TRACE(::testing::Message() << "d " << d);
    Tensor table = RandomHost({50, d}, 14);
    auto tg = Place(*gpu_, table, dt());
    Tensor ids = Tensor::FromI32({3, 0, 49, 3, 17}, {5});
    Tensor want = Tensor::Empty({5, d}, DType::kF32), got = gpu_->NewTensor({5, d}, dt());
    ASSERT_TRUE(cpu_->Embedding(tg.cpu, ids, want).ok());
    ASSERT_TRUE(gpu_->Embedding(tg.gpu, Up(ids, DType::kI32), got).ok());
    EXPECT_EQ(RelativeError(*gpu_, got, want), 0.0);
  }
}

TEST_P(CudaOps, CrossEntropyWithIgnoredRows) {
  // An odd vocabulary (rows off the 16-byte grid: element loads) and an even one, a multiple of
  // 8, as Qwen's 151,936 is (16-byte packs of 4 f32 or 8 bf16 per load).
  for (int64_t v : {5003, 5008}) {
    SCOPED_TRACE(::testing::Message() << "vocab " << v);
    CheckCrossEntropy(v);
  }
}

void CudaOps::CheckCrossEntropy(int64_t v) {
  const int64_t n = 6;
  Tensor lh = RandomHost({n, v}, 15, 8.0f);
  // Labels at both ends of a row (the last one in the last pack) and in the middle.
  Tensor labels = Tensor::FromI32({5, -100, static_cast<int32_t>(v - 1), 0, -100, 1234}, {n});
  // Token accuracy: rows 2 and 3 have their label as the largest logit; row 5 has a tie between
  // index 7 and its label 1234 (the first maximum, 7, is the argmax: a miss).
  lh.f32()[2 * v + v - 1] = 100.0f;
  lh.f32()[3 * v + 0] = 100.0f;
  lh.f32()[5 * v + 7] = lh.f32()[5 * v + 1234] = 100.0f;
  auto logits = Place(*gpu_, lh, dt());
  Tensor want = Tensor::Empty({n, v}, DType::kF32);
  int64_t want_hits = -1, got_hits = -1;
  Result<double> want_loss = cpu_->CrossEntropy(logits.cpu, labels, 0.25f, want, &want_hits);
  Result<double> got_loss = gpu_->CrossEntropy(logits.gpu, Up(labels, DType::kI32), 0.25f,
                                               logits.gpu, &got_hits);  // in place
  ASSERT_TRUE(want_loss.ok() && got_loss.ok()) << got_loss.status().ToString();
  EXPECT_NEAR(*got_loss, *want_loss, 1e-4 * std::fabs(*want_loss));
  EXPECT_EQ(want_hits, 2);
  EXPECT_EQ(got_hits, want_hits);
  EXPECT_LT(RelativeError(*gpu_, logits.gpu, want), Tolerance(dt()));
}

TEST_P(CudaOps, AttentionForwardBackwardAgainstCpu) {
  // GQA, padding (a query that sees no key too), a KV cache (T < S), odd lengths, and the
  // head sizes of the benchmark shapes.
  for (AttnCase c : {AttnCase{1, 37, 37, 4, 2, 16, true}, AttnCase{2, 70, 70, 4, 1, 64, true},
                     AttnCase{1, 5, 133, 2, 2, 64, false}, AttnCase{1, 130, 130, 4, 2, 128, false},
                     AttnCase{1, 17, 17, 3, 3, 40, true}}) {
    CheckAttention(c);
  }
}

TEST_P(CudaOps, AttentionAtWholeTilesAndLargeGrids) {
  // Lengths that are exact multiples of the 64-row tiles (no partial last tile), with a KV
  // cache and padding.
  for (AttnCase c :
       {AttnCase{1, 64, 64, 4, 2, 64, false}, AttnCase{2, 128, 128, 4, 2, 64, true},
        AttnCase{1, 64, 192, 2, 1, 128, true}, AttnCase{1, 192, 192, 2, 2, 32, false}}) {
    CheckAttention(c);
  }
  // The dK/dV pass splits a block's work over two warp groups only while its grid (B x Hkv x
  // key tiles) fits the GPU's SMs, which every case above does: these grids exceed them, so the
  // single-slice kernel runs, with K/V fragments in registers (d 64) and in shared memory (128).
  const int64_t sms = testing::GpuSmCount();
  CheckAttention(AttnCase{sms / 4 + 1, 128, 128, 4, 2, 64, false});  // grid 4 per batch row
  CheckAttention(AttnCase{sms / 6 + 1, 192, 192, 2, 2, 128, true});  // grid 6 per batch row
}

void CudaOps::CheckAttention(const AttnCase& c) {
  SCOPED_TRACE(::testing::Message() << "b" << c.b << " t" << c.t << " s" << c.s << " h" << c.h
                                    << " hkv" << c.hkv << " d" << c.d << (c.pad ? " pad" : ""));
  Tensor qh = RandomHost({c.b, c.t, c.h, c.d}, 20, 2.0f);
  Tensor kh = RandomHost({c.b, c.s, c.hkv, c.d}, 21, 2.0f);
  Tensor vh = RandomHost({c.b, c.s, c.hkv, c.d}, 22);
  Tensor doh = RandomHost({c.b, c.t, c.h, c.d}, 23);
  std::vector<int32_t> pos(c.b * c.t);
  for (int64_t i = 0; i < c.b * c.t; ++i) pos[i] = static_cast<int32_t>(c.s - c.t + i % c.t);
  Tensor ph = Tensor::FromI32(pos, {c.b, c.t});
  Tensor valid = Tensor::Empty({c.b, c.s}, DType::kU8);
  for (int64_t i = 0; i < c.b * c.s; ++i) {
    valid.data<uint8_t>()[i] = c.pad ? (i % c.s == 0 || i % 7 == 3 ? 0 : 1) : 1;
  }
  auto q = Place(*gpu_, qh, dt());
  auto k = Place(*gpu_, kh, dt());
  auto v = Place(*gpu_, vh, dt());
  auto dout = Place(*gpu_, doh, dt());
  Tensor p = Up(ph, DType::kI32), val = Up(valid, DType::kU8);
  Tensor want = Tensor::Empty(qh.shape(), DType::kF32), got = gpu_->NewTensor(qh.shape(), dt());
  ASSERT_TRUE(cpu_->Attention(q.cpu, k.cpu, v.cpu, ph, valid, want).ok());
  ASSERT_TRUE(gpu_->Attention(q.gpu, k.gpu, v.gpu, p, val, got).ok());
  EXPECT_LT(RelativeError(*gpu_, got, want), Tolerance(dt())) << "out";
  Tensor wdq = Tensor::Empty(qh.shape(), DType::kF32), wdk = Tensor::Empty(kh.shape(), DType::kF32),
         wdv = Tensor::Empty(kh.shape(), DType::kF32);
  Tensor gdq = gpu_->NewTensor(qh.shape(), dt()), gdk = gpu_->NewTensor(kh.shape(), dt()),
         gdv = gpu_->NewTensor(kh.shape(), dt());
  ASSERT_TRUE(
      cpu_->AttentionBackward(q.cpu, k.cpu, v.cpu, ph, valid, dout.cpu, wdq, wdk, wdv).ok());
  ASSERT_TRUE(gpu_->AttentionBackward(q.gpu, k.gpu, v.gpu, p, val, dout.gpu, gdq, gdk, gdv).ok());
  EXPECT_LT(RelativeError(*gpu_, gdq, wdq), 2 * Tolerance(dt())) << "dq";
  EXPECT_LT(RelativeError(*gpu_, gdk, wdk), 2 * Tolerance(dt())) << "dk";
  EXPECT_LT(RelativeError(*gpu_, gdv, wdv), 2 * Tolerance(dt())) << "dv";
  // Deterministic: a second backward is bit-identical.
  Tensor gdk2 = gpu_->NewTensor(kh.shape(), dt()), gdq2 = gpu_->NewTensor(qh.shape(), dt()),
         gdv2 = gpu_->NewTensor(kh.shape(), dt());
  ASSERT_TRUE(
      gpu_->AttentionBackward(q.gpu, k.gpu, v.gpu, p, val, dout.gpu, gdq2, gdk2, gdv2).ok());
  Tensor a1 = *gpu_->Download(gdk), a2 = *gpu_->Download(gdk2);
  Tensor b1 = *gpu_->Download(gdq), b2 = *gpu_->Download(gdq2);
  EXPECT_EQ(std::memcmp(a1.raw(), a2.raw(), a1.nbytes()), 0) << "dk repeats bit for bit";
  EXPECT_EQ(std::memcmp(b1.raw(), b2.raw(), b1.nbytes()), 0) << "dq repeats bit for bit";
}

TEST_P(CudaOps, OptimizerOpsMatchTheCpuBitForBit) {
  const int64_t n = 100003;
  Tensor ph = RandomHost({n}, 30), gh = RandomHost({n}, 31, 1e-3f);
  Tensor mh = Tensor::Zeros({n}, DType::kF32), vh = Tensor::Zeros({n}, DType::kF32);
  Tensor p = Up(ph, DType::kF32), g = Up(gh, DType::kF32), m = Up(mh, DType::kF32),
         v = Up(vh, DType::kF32);
  Result<double> want_sq = cpu_->SumSquares(gh), got_sq = gpu_->SumSquares(g);
  ASSERT_TRUE(want_sq.ok() && got_sq.ok());
  EXPECT_NEAR(*got_sq, *want_sq, 1e-12 * *want_sq);
  Result<double> again = gpu_->SumSquares(g);
  EXPECT_EQ(*again, *got_sq) << "fixed reduction order";
  Backend::AdamWArgs a{0.9f, 0.999f, 0.9999f, 1e-3f / 0.1f, std::sqrt(0.001f), 1e-8f};
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(cpu_->AdamWStep(ph, gh, mh, vh, a).ok());
    ASSERT_TRUE(gpu_->AdamWStep(p, g, m, v, a).ok());
  }
  Tensor back = *gpu_->Download(p);
  EXPECT_EQ(std::memcmp(back.raw(), ph.raw(), ph.nbytes()), 0) << "AdamW matches the CPU exactly";
  ASSERT_TRUE(cpu_->Scale(gh, 0.37f).ok());
  ASSERT_TRUE(gpu_->Scale(g, 0.37f).ok());
  Tensor gb = *gpu_->Download(g);
  EXPECT_EQ(std::memcmp(gb.raw(), gh.raw(), gh.nbytes()), 0);
}

TEST_P(CudaOps, WrongDeviceIsAClearError) {
  Tensor host = RandomHost({4, 4}, 40);
  Tensor dev = Up(host, dt());
  Tensor out = gpu_->NewTensor({4, 4}, dt());
  Status s = gpu_->Add(out, host);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("on the cpu"), std::string::npos) << s.ToString();
  EXPECT_TRUE(gpu_->Add(out, dev).ok());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps, ::testing::Values(DType::kF32, DType::kBF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace baton
