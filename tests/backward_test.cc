// Backward pass: every backward op against central finite differences of its forward op, and
// whole-model properties (recomputation is bit-identical; padding changes nothing).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "kernels/cpu/cpu_backend.h"
#include "model/transformer.h"
#include "test_util.h"

namespace baton {
namespace {

Tensor Random(Shape shape, uint64_t seed, float scale = 1.0f) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> dist(0.0f, scale);
  Tensor t = Tensor::Empty(std::move(shape), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = dist(rng);
  return t;
}

// Checks analytic gradient `grad` of L(x) = sum(f(x) * r) against central differences.
void ExpectGradient(Tensor& x, const Tensor& grad, const std::function<double()>& loss,
                    const char* what) {
  const float h = 1e-2f;
  double max_err = 0, max_ref = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    float saved = x.f32()[i];
    x.f32()[i] = saved + h;
    double up = loss();
    x.f32()[i] = saved - h;
    double down = loss();
    x.f32()[i] = saved;
    double fd = (up - down) / (2 * h);
    max_err = std::max(max_err, std::fabs(fd - grad.f32()[i]));
    max_ref = std::max(max_ref, std::fabs(fd));
  }
  EXPECT_LT(max_err, 2e-3 * std::max(1.0, max_ref))
      << what << ": max |fd - analytic| = " << max_err;
}

double Dot(const Tensor& a, const Tensor& r) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a.f32()[i]) * r.f32()[i];
  return s;
}

class BackwardOps : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> cpu = MakeCpuBackend({CpuGemm::kNaive, 1});
};

TEST_F(BackwardOps, RmsNorm) {
  Tensor x = Random({3, 8}, 1), w = Random({8}, 2), r = Random({3, 8}, 3);
  Tensor y = Tensor::Empty({3, 8}, DType::kF32), dx = y.Clone();
  ASSERT_TRUE(cpu->RmsNormBackward(x, w, 1e-6f, r, dx).ok());
  ExpectGradient(
      x, dx,
      [&] {
        (void)cpu->RmsNorm(x, w, 1e-6f, y);
        return Dot(y, r);
      },
      "rmsnorm");
}

TEST_F(BackwardOps, SiluMul) {
  Tensor g = Random({4, 5}, 1), u = Random({4, 5}, 2), r = Random({4, 5}, 3);
  Tensor o = g.Clone(), dg = g.Clone(), du = g.Clone();
  ASSERT_TRUE(cpu->SiluMulBackward(g, u, r, dg, du).ok());
  auto loss = [&] {
    (void)cpu->SiluMul(g, u, o);
    return Dot(o, r);
  };
  ExpectGradient(g, dg, loss, "silu gate");
  ExpectGradient(u, du, loss, "silu up");
}

TEST_F(BackwardOps, Rope) {
  Tensor x = Random({1, 3, 2, 8}, 1), r = Random({1, 3, 2, 8}, 2);
  Tensor pos = Tensor::FromI32({0, 4, 9}, {1, 3});
  Tensor inv = Tensor::FromF32({1.0f, 0.3f, 0.05f, 0.001f}, {4});
  Tensor dx = r.Clone();
  ASSERT_TRUE(cpu->RopeBackward(dx, pos, inv, 1.0f).ok());
  ExpectGradient(
      x, dx,
      [&] {
        Tensor y = x.Clone();
        (void)cpu->Rope(y, pos, inv, 1.0f);
        return Dot(y, r);
      },
      "rope");
}

TEST_F(BackwardOps, AttentionWithGqaAndPadding) {
  // B=2, T=S=4, H=4 query heads over 2 kv heads; the second sequence has padding at slot 0.
  Tensor q = Random({2, 4, 4, 6}, 1), k = Random({2, 4, 2, 6}, 2), v = Random({2, 4, 2, 6}, 3);
  Tensor r = Random({2, 4, 4, 6}, 4);
  Tensor pos = Tensor::FromI32({0, 1, 2, 3, 0, 1, 2, 3}, {2, 4});
  Tensor valid = Tensor::FromI32({0}, {1});  // placeholder, replaced below
  valid = Tensor::Empty({2, 4}, DType::kU8);
  for (int i = 0; i < 8; ++i) valid.data<uint8_t>()[i] = i != 4;
  Tensor out = q.Clone(), dq = q.Clone(), dk = k.Clone(), dv = v.Clone();
  ASSERT_TRUE(cpu->AttentionBackward(q, k, v, pos, valid, r, dq, dk, dv).ok());
  auto loss = [&] {
    (void)cpu->Attention(q, k, v, pos, valid, out);
    return Dot(out, r);
  };
  ExpectGradient(q, dq, loss, "attention q");
  ExpectGradient(k, dk, loss, "attention k");
  ExpectGradient(v, dv, loss, "attention v");
  // Padding slot 0 of sequence 1 receives no gradient.
  for (int i = 0; i < 12; ++i) EXPECT_EQ(dk.f32()[4 * 12 + i], 0.0f);
}

TEST_F(BackwardOps, CrossEntropy) {
  Tensor logits = Random({3, 7}, 1), d = logits.Clone(), scratch = logits.Clone();
  Tensor labels = Tensor::FromI32({2, -100, 6}, {3});
  ASSERT_TRUE(cpu->CrossEntropy(logits, labels, 0.5f, d).ok());
  for (int j = 0; j < 7; ++j) EXPECT_EQ(d.f32()[7 + j], 0.0f);  // ignored row
  ExpectGradient(
      logits, d, [&] { return 0.5 * *cpu->CrossEntropy(logits, labels, 1, scratch); },
      "cross-entropy");
  EXPECT_FALSE(cpu->CrossEntropy(logits, Tensor::FromI32({7, 0, 0}, {3}), 1, d).ok());
}

// token_acc's numerator: labelled rows whose first largest logit is the label, counted before
// the in-place gradient overwrites the logits.
TEST_F(BackwardOps, CrossEntropyCountsArgmaxHits) {
  Tensor logits = Tensor::FromF32({0, 3, 1, /**/ 9, 0, 0, /**/ 2, 5, 5, /**/ 7, 1, 1}, {4, 3});
  // Row 0: argmax 1 == label (hit). Row 1: ignored. Row 2: a tie of 1 and 2, label 2: the first
  // maximum is 1 (a miss, as torch.argmax). Row 3: argmax 0, label 1 (a miss).
  Tensor labels = Tensor::FromI32({1, -100, 2, 1}, {4});
  int64_t hits = -1;
  ASSERT_TRUE(cpu->CrossEntropy(logits, labels, 1.0f, logits, &hits).ok());
  EXPECT_EQ(hits, 1);
  Tensor again = Tensor::FromF32({0, 3, 1, 9, 0, 0, 2, 5, 5, 7, 1, 1}, {4, 3});
  ASSERT_TRUE(
      cpu->CrossEntropy(again, Tensor::FromI32({1, 0, 1, 0}, {4}), 1.0f, again, &hits).ok());
  EXPECT_EQ(hits, 4);
}

class ModelBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Transformer::Load(Env::Default(), testing::GoldenDir("qwen2") + "/model", cpu.get());
    ASSERT_TRUE(m.ok());
    model = std::move(m).value();
    adapter = *LoraAdapter::Load(Env::Default(), testing::GoldenDir("qwen2") + "/adapter",
                                 model->config());
    model->SetAdapter(&adapter);
  }
  LoraAdapter NewGrads() { return LoraAdapter::Create(model->config(), adapter.config()); }

  std::unique_ptr<Backend> cpu = MakeCpuBackend();
  std::unique_ptr<Transformer> model;
  LoraAdapter adapter = LoraAdapter::Create(ModelConfig(), LoraConfig());
};

TEST_F(ModelBackward, RecomputeIsBitIdentical) {
  Tensor ids = Tensor::FromI32({5, 9, 33, 700, 2, 18, 41, 3}, {2, 4});
  Tensor labels = Tensor::FromI32({-100, 9, 33, 700, -100, -100, 41, 3}, {2, 4});
  LoraAdapter g1 = NewGrads(), g2 = NewGrads();
  auto a = model->ForwardBackward(ids, labels, Tensor(), 0.25f, false, &g1);
  auto b = model->ForwardBackward(ids, labels, Tensor(), 0.25f, true, &g2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->loss, b->loss);
  EXPECT_EQ(a->tokens, 5);  // shifted: 3 in row 1, 2 in row 2
  EXPECT_EQ(std::memcmp(g1.params().raw(), g2.params().raw(), g1.params().nbytes()), 0);
}

TEST_F(ModelBackward, PaddedBatchEqualsSeparateSequences) {
  // Row 2 is right-padded; gradients of the batch = sum of each sequence's own gradients.
  Tensor ids = Tensor::FromI32({5, 9, 33, 700, 2, 18, 0, 0}, {2, 4});
  Tensor mask = Tensor::Empty({2, 4}, DType::kU8);
  for (int i = 0; i < 8; ++i) mask.data<uint8_t>()[i] = i < 6;
  Tensor labels = Tensor::FromI32({5, 9, 33, 700, 2, 18, -100, -100}, {2, 4});
  LoraAdapter batch = NewGrads(), sep = NewGrads();
  auto a = model->ForwardBackward(ids, labels, mask, 1.0f, false, &batch);
  ASSERT_TRUE(a.ok());
  auto b =
      model->ForwardBackward(Tensor::FromI32({5, 9, 33, 700}, {1, 4}),
                             Tensor::FromI32({5, 9, 33, 700}, {1, 4}), Tensor(), 1.0f, false, &sep);
  auto c =
      model->ForwardBackward(Tensor::FromI32({2, 18}, {1, 2}), Tensor::FromI32({2, 18}, {1, 2}),
                             Tensor(), 1.0f, false, &sep);  // accumulates
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_NEAR(a->loss, b->loss + c->loss, 1e-5);
  EXPECT_EQ(a->tokens, 4);
  double max_diff = 0, max_ref = 0;
  for (int64_t i = 0; i < batch.params().numel(); ++i) {
    max_diff = std::max(max_diff, std::fabs(batch.params().At(i) - sep.params().At(i)));
    max_ref = std::max(max_ref, std::fabs(sep.params().At(i)));
  }
  EXPECT_LT(max_diff, 1e-5 * max_ref);
  EXPECT_GT(max_ref, 0);
}

TEST_F(ModelBackward, RejectsBadInputs) {
  LoraAdapter g = NewGrads();
  Tensor ids = Tensor::FromI32({1, 2, 3}, {1, 3});
  EXPECT_FALSE(
      model->ForwardBackward(ids, Tensor::FromI32({1, 2}, {1, 2}), Tensor(), 1, false, &g).ok());
  EXPECT_FALSE(
      model->ForwardBackward(ids, Tensor::FromI32({1, 2, 5000}, {1, 3}), Tensor(), 1, false, &g)
          .ok());
  model->SetAdapter(nullptr);
  EXPECT_FALSE(model->ForwardBackward(ids, ids, Tensor(), 1, false, &g).ok());
}

}  // namespace
}  // namespace baton
