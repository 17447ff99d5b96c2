// The CPU backend's ops: OpenBLAS against the naive double-accumulating oracle, and the shape
// checks every backend inherits.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/cpu_backend.h"

namespace baton {
namespace {

Tensor Random(Shape shape, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> dist;
  Tensor t = Tensor::Empty(std::move(shape), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = dist(rng);
  return t;
}

TEST(CpuKernels, BlasMatMulMatchesNaive) {
  auto naive = MakeCpuBackend({CpuGemm::kNaive, 1});
  auto blas = MakeCpuBackend({CpuGemm::kBlas, 2});
  for (auto [m, n, k] :
       {std::tuple{1, 1, 1}, {3, 5, 7}, {37, 1024, 64}, {64, 160, 64}, {128, 96, 513}}) {
    Tensor a = Random({m, k}, 1), b = Random({n, k}, 2), c0 = Random({m, n}, 3);
    Tensor c1 = c0.Clone(), c2 = c0.Clone();
    ASSERT_TRUE(naive->MatMulNT(a, b, c1, 0.5f, 1.0f).ok());
    ASSERT_TRUE(blas->MatMulNT(a, b, c2, 0.5f, 1.0f).ok());
    double max_diff = 0, max_ref = 0;
    for (int64_t i = 0; i < c1.numel(); ++i) {
      max_diff = std::max(max_diff, std::fabs(c1.At(i) - c2.At(i)));
      max_ref = std::max(max_ref, std::fabs(c1.At(i)));
    }
    EXPECT_LE(max_diff, 1e-5 * std::max(1.0, max_ref)) << m << "x" << n << "x" << k;
    // beta = 0 must ignore (not multiply) whatever c held, even NaN.
    Tensor c3 = Tensor::FromF32(std::vector<float>(m * n, NAN), {m, n});
    ASSERT_TRUE(naive->MatMulNT(a, b, c3).ok());
    EXPECT_FALSE(std::isnan(c3.At(0)));
  }
}

TEST(CpuKernels, BlasIsDeterministic) {
  auto blas = MakeCpuBackend({CpuGemm::kBlas, 2});
  Tensor a = Random({200, 300}, 4), b = Random({250, 300}, 5);
  Tensor c1 = Tensor::Empty({200, 250}, DType::kF32), c2 = c1.Clone();
  ASSERT_TRUE(blas->MatMulNT(a, b, c1).ok());
  ASSERT_TRUE(blas->MatMulNT(a, b, c2).ok());
  EXPECT_EQ(std::memcmp(c1.raw(), c2.raw(), c1.nbytes()), 0);
}

TEST(CpuKernels, ShapeErrorsAreReported) {
  auto cpu = MakeCpuBackend();
  Tensor a = Random({2, 3}, 1), b = Random({4, 5}, 2), c = Tensor::Empty({2, 4}, DType::kF32);
  Status s = cpu->MatMulNT(a, b, c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("F32[2, 3], F32[4, 5], F32[2, 4]"), std::string::npos) << s.message();
  Tensor table = Random({10, 4}, 3), out = Tensor::Empty({1, 4}, DType::kF32);
  s = cpu->Embedding(table, Tensor::FromI32({10}, {1}), out);
  EXPECT_NE(s.message().find("token id 10"), std::string::npos) << s.message();
}

TEST(CpuKernels, RmsNormAndSilu) {
  auto cpu = MakeCpuBackend();
  Tensor x = Tensor::FromF32({3, 4}, {1, 2}), w = Tensor::FromF32({1, 2}, {2});
  Tensor y = Tensor::Empty({1, 2}, DType::kF32);
  ASSERT_TRUE(cpu->RmsNorm(x, w, 0, y).ok());
  float rms = std::sqrt(12.5f);
  EXPECT_FLOAT_EQ(y.f32()[0], 3 / rms);
  EXPECT_FLOAT_EQ(y.f32()[1], 2 * 4 / rms);
  Tensor g = Tensor::FromF32({0, 2}, {2}), u = Tensor::FromF32({5, 3}, {2}), o = g.Clone();
  ASSERT_TRUE(cpu->SiluMul(g, u, o).ok());
  EXPECT_FLOAT_EQ(o.f32()[0], 0);
  EXPECT_FLOAT_EQ(o.f32()[1], 2 / (1 + std::exp(-2.0f)) * 3);
}

TEST(CpuKernels, RopeAtPositionZeroIsIdentityAndPreservesNorm) {
  auto cpu = MakeCpuBackend();
  Tensor x = Random({1, 2, 3, 8}, 7), orig = x.Clone();
  Tensor pos = Tensor::FromI32({0, 5}, {1, 2});
  Tensor inv = Tensor::FromF32({1, 0.1f, 0.01f, 0.001f}, {4});
  ASSERT_TRUE(cpu->Rope(x, pos, inv, 1.0f).ok());
  for (int i = 0; i < 24; ++i) EXPECT_EQ(x.f32()[i], orig.f32()[i]);
  for (int h = 0; h < 3; ++h) {  // rotation keeps each pair's length
    for (int i = 0; i < 4; ++i) {
      const float* a = orig.f32() + 24 + h * 8;
      const float* b = x.f32() + 24 + h * 8;
      EXPECT_NEAR(a[i] * a[i] + a[i + 4] * a[i + 4], b[i] * b[i] + b[i + 4] * b[i + 4], 1e-4);
    }
  }
}

TEST(CpuKernels, AttentionIgnoresPaddingAndFuture) {
  auto cpu = MakeCpuBackend();
  // One head, 3 keys; the query at position 1 sees keys 0..1, of which key 0 is padding.
  Tensor q = Random({1, 1, 1, 4}, 1), k = Random({1, 3, 1, 4}, 2), v = Random({1, 3, 1, 4}, 3);
  Tensor valid = Tensor::Zeros({1, 3}, DType::kU8);
  valid.data<uint8_t>()[1] = valid.data<uint8_t>()[2] = 1;
  Tensor out = Tensor::Empty({1, 1, 1, 4}, DType::kF32);
  ASSERT_TRUE(cpu->Attention(q, k, v, Tensor::FromI32({1}, {1, 1}), valid, out).ok());
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out.f32()[i], v.f32()[4 + i]);
}

}  // namespace
}  // namespace baton
