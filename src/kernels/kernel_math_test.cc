// The scalar formulas the CUDA kernels share with the CPU (kernel_math.h), checked on the CPU
// against the CPU backend, dtype.h and AdamW: what passes here is what the GPU computes.
#include "kernels/kernel_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "tensor/dtype.h"
#include "train/adamw.h"

namespace baton {
namespace {

std::vector<float> RandomValues(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(KernelMath, Mix64IsSplitMix64) {
  // splitmix64's first outputs from states 0 and 1 (pinned: masks and checkpoints depend on them).
  EXPECT_EQ(kmath::Mix64(0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(kmath::Mix64(1), 0x910a2dec89025cc1ull);
}

TEST(KernelMath, DropoutMaskIsPinned) {
  // Values the CPU backend's mask had before it moved into kernel_math.h: 4096 elements, the
  // number kept, the first 64 keep bits and an FNV-1a hash of all of them.
  struct Case {
    uint64_t seed;
    float p;
    int kept;
    uint64_t first64, fnv;
  };
  for (const Case& c :
       {Case{1234, 0.1f, 3706, 0xffffffff3fffffffull, 0x9dd3de41dcfa1fabull},
        Case{7, 0.5f, 2056, 0x7bd318ab15226a71ull, 0x4aa60c2d45f6107bull},
        Case{0xdeadbeefcafeull, 0.05f, 3880, 0xfffff7ffbfffefffull, 0xb41be80df7f8e673ull}}) {
    const uint64_t base = kmath::Mix64(c.seed), threshold = kmath::DropoutThreshold(c.p);
    int kept = 0;
    uint64_t first64 = 0, fnv = 1469598103934665603ull;
    for (uint64_t i = 0; i < 4096; ++i) {
      const bool keep = kmath::DropoutKeep(base, i, threshold);
      kept += keep;
      if (i < 64) first64 |= static_cast<uint64_t>(keep) << i;
      fnv = (fnv ^ static_cast<uint64_t>(keep)) * 1099511628211ull;
    }
    EXPECT_EQ(kept, c.kept) << c.seed;
    EXPECT_EQ(first64, c.first64) << c.seed;
    EXPECT_EQ(fnv, c.fnv) << c.seed;
  }
}

TEST(KernelMath, DropoutKeepReproducesCpuBackend) {
  auto cpu = MakeCpuBackend();
  const int64_t n = 5000;
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = 1.0f + 0.001f * static_cast<float>(i);
  Tensor x = Tensor::FromF32(values, {n});
  for (uint64_t seed : {0ull, 1ull, 42ull, 0x123456789abcdefull, ~0ull}) {
    for (float p : {0.0f, 0.05f, 0.1f, 0.3f, 0.5f, 0.9f}) {
      Tensor out = Tensor::Empty({n}, DType::kF32);
      ASSERT_TRUE(cpu->Dropout(x, p, seed, out).ok());
      const uint64_t base = kmath::Mix64(seed), threshold = kmath::DropoutThreshold(p);
      const float scale = 1.0f / (1.0f - p);
      int64_t kept = 0;
      for (int64_t i = 0; i < n; ++i) {
        const bool keep = kmath::DropoutKeep(base, static_cast<uint64_t>(i), threshold);
        kept += keep;
        const float want = keep ? values[i] * scale : 0.0f;
        ASSERT_TRUE(SameBits(out.f32()[i], want)) << "seed " << seed << " p " << p << " i " << i
                                                  << ": " << out.f32()[i] << " vs " << want;
      }
      // The mask is Bernoulli(1 - p): 5000 draws land well within 5 sigma of the mean.
      const double mean = (1.0 - p) * n, sigma = std::sqrt(p * (1.0 - p) * n);
      EXPECT_NEAR(static_cast<double>(kept), mean, 5 * sigma + 1) << seed << " " << p;
    }
  }
}

TEST(KernelMath, BF16RoundingMatchesDType) {
  auto check = [](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    ASSERT_EQ(kmath::F32ToBF16Bits(f), F32ToBF16(f)) << std::hex << bits;
  };
  // Every low half (ties 0x8000 included) under upper halves with even and odd last bits, around
  // zero, denormals, 1, the largest finite values (rounding up to inf), inf and NaN.
  for (uint32_t upper : {0x0000u, 0x0001u, 0x0080u, 0x3f80u, 0x3f81u, 0x7f7fu, 0x7f7eu, 0x7f80u,
                         0x7fc0u, 0x7f81u, 0x8000u, 0x8001u, 0xbf80u, 0xff7fu, 0xff80u, 0xffffu}) {
    for (uint32_t lower = 0; lower < 0x10000u; ++lower) check(upper << 16 | lower);
  }
  // A sweep over all exponents and signs.
  for (uint64_t bits = 0; bits <= 0xffffffffull; bits += 40009) check(static_cast<uint32_t>(bits));
  EXPECT_EQ(kmath::F32ToBF16Bits(1.0f), 0x3f80);
  EXPECT_TRUE(std::isnan(kmath::BF16BitsToF32(kmath::F32ToBF16Bits(std::nanf("")))));
  EXPECT_EQ(kmath::F32ToBF16Bits(std::numeric_limits<float>::infinity()), 0x7f80);
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    ASSERT_TRUE(SameBits(kmath::BF16BitsToF32(static_cast<uint16_t>(h)),
                         BF16ToF32(static_cast<uint16_t>(h))))
        << h;
  }
}

TEST(KernelMath, SiluMatchesCpuBackend) {
  auto cpu = MakeCpuBackend();
  const int64_t n = 4096;
  std::vector<float> g = RandomValues(n, 1, 4.0f), u = RandomValues(n, 2), d = RandomValues(n, 3);
  g[0] = 0.0f;
  g[1] = -100.0f;  // e^100 overflows to inf: silu and its gradient go to (-)0
  g[2] = 100.0f;
  Tensor gate = Tensor::FromF32(g, {n}), up = Tensor::FromF32(u, {n}),
         dout = Tensor::FromF32(d, {n});
  Tensor out = Tensor::Empty({n}, DType::kF32), dgate = out.Clone(), dup = out.Clone();
  ASSERT_TRUE(cpu->SiluMul(gate, up, out).ok());
  ASSERT_TRUE(cpu->SiluMulBackward(gate, up, dout, dgate, dup).ok());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(SameBits(kmath::SiluMul(g[i], u[i]), out.f32()[i])) << i;
    float dg, du;
    kmath::SiluMulGrad(g[i], u[i], d[i], &dg, &du);
    ASSERT_TRUE(SameBits(dg, dgate.f32()[i])) << i << ": " << dg << " vs " << dgate.f32()[i];
    ASSERT_TRUE(SameBits(du, dup.f32()[i])) << i;
  }
}

TEST(KernelMath, AdamWUpdateMatchesAdamWStep) {
  const int64_t n = 3000;
  AdamWOptions options;
  options.weight_decay = 0.01;
  AdamW adamw(n, options);
  Tensor params = Tensor::FromF32(RandomValues(n, 10, 0.02f), {n});
  std::vector<float> p(params.f32(), params.f32() + n), m(n, 0.0f), v(n, 0.0f);
  for (int step = 1; step <= 5; ++step) {
    const double lr = 1e-3 * step;
    std::vector<float> g = RandomValues(n, 100 + step, step == 3 ? 1e-6f : 0.5f);
    g[0] = 0.0f;
    Tensor grads = Tensor::FromF32(g, {n});
    ASSERT_TRUE(adamw.Step(params, grads, lr).ok());
    // The scalars as AdamW::Step rounds them to f32.
    const double bc1 = 1.0 - std::pow(options.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(options.beta2, static_cast<double>(step));
    const kmath::AdamWScalars s{static_cast<float>(options.beta1),
                                static_cast<float>(options.beta2),
                                static_cast<float>(1.0 - lr * options.weight_decay),
                                static_cast<float>(lr / bc1),
                                static_cast<float>(std::sqrt(bc2)),
                                static_cast<float>(options.eps)};
    for (int64_t i = 0; i < n; ++i) kmath::AdamWUpdate(s, g[i], &p[i], &m[i], &v[i]);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(SameBits(p[i], params.f32()[i])) << "step " << step << " i " << i;
      ASSERT_TRUE(SameBits(m[i], adamw.exp_avg().f32()[i])) << "step " << step << " i " << i;
      ASSERT_TRUE(SameBits(v[i], adamw.exp_avg_sq().f32()[i])) << "step " << step << " i " << i;
    }
  }
}

TEST(KernelMath, UniformSymmetricCoversTheRange) {
  const uint64_t base = kmath::Mix64(99);
  const int64_t n = 100000;
  double sum = 0, lo = 1, hi = -1;
  for (int64_t i = 0; i < n; ++i) {
    const float x = kmath::UniformSymmetric(base, static_cast<uint64_t>(i), 0.5f);
    ASSERT_GE(x, -0.5f);
    ASSERT_LT(x, 0.5f);
    sum += x;
    lo = std::min(lo, static_cast<double>(x));
    hi = std::max(hi, static_cast<double>(x));
  }
  EXPECT_NEAR(sum / n, 0.0, 0.005);  // sd of the mean: 0.29 / sqrt(n) ~ 0.001
  EXPECT_LT(lo, -0.499);
  EXPECT_GT(hi, 0.499);
  EXPECT_NE(kmath::UniformSymmetric(kmath::Mix64(1), 0, 1.0f),
            kmath::UniformSymmetric(kmath::Mix64(2), 0, 1.0f));
}

}  // namespace
}  // namespace baton
