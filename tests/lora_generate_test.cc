// LoRA adapters (scaling rules, save/load, errors) and generation (KV cache against a full
// forward, sampling processors, stop ids).
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "model/generate.h"
#include "model/lora.h"
#include "model/transformer.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::CopyDir;
using testing::GoldenDir;
using testing::ScopedTempDir;

Env* env = Env::Default();

std::unique_ptr<Transformer> LoadGolden(const std::string& name, Backend* backend) {
  auto m = Transformer::Load(env, GoldenDir(name) + "/model", backend);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(Lora, ScaleRules) {
  Json j = {{"r", 8}, {"lora_alpha", 32}, {"target_modules", {"q_proj", "v_proj"}}};
  LoraConfig c = *LoraConfig::FromJson(j, "t");
  EXPECT_DOUBLE_EQ(c.ScaleFor(0, LinearKind::kQ), 4.0);
  EXPECT_TRUE(c.Targets(1, LinearKind::kV));
  EXPECT_FALSE(c.Targets(1, LinearKind::kK));
  j["use_rslora"] = true;
  c = *LoraConfig::FromJson(j, "t");
  EXPECT_DOUBLE_EQ(c.ScaleFor(0, LinearKind::kQ), 32 / std::sqrt(8.0));
  j["use_rslora"] = false;
  j["rank_pattern"] = {{"v_proj", 4}};
  j["alpha_pattern"] = {{"layers.1.self_attn.q_proj", 8}};
  c = *LoraConfig::FromJson(j, "t");
  EXPECT_EQ(c.RankFor(0, LinearKind::kV), 4);
  EXPECT_DOUBLE_EQ(c.ScaleFor(0, LinearKind::kV), 8.0);
  EXPECT_DOUBLE_EQ(c.ScaleFor(1, LinearKind::kQ), 1.0);
  EXPECT_DOUBLE_EQ(c.ScaleFor(0, LinearKind::kQ), 4.0);
  j["target_modules"] = ".*layers\\.0\\.mlp\\.(up|down)_proj";
  c = *LoraConfig::FromJson(j, "t");
  EXPECT_TRUE(c.Targets(0, LinearKind::kUp));
  EXPECT_FALSE(c.Targets(1, LinearKind::kUp));
  EXPECT_FALSE(c.Targets(0, LinearKind::kGate));
  j["use_dora"] = true;
  EXPECT_EQ(LoraConfig::FromJson(j, "t").status().code(), StatusCode::kUnimplemented);
}

TEST(Lora, SaveLoadRoundTripAndAllLinear) {
  ScopedTempDir tmp;
  ModelConfig mc = *ModelConfig::Load(env, GoldenDir("qwen2/model"));
  LoraAdapter golden = *LoraAdapter::Load(env, GoldenDir("qwen2/adapter"), mc);
  EXPECT_EQ(golden.entries().size(), 14u);  // 7 modules x 2 layers
  ASSERT_TRUE(golden.Save(env, tmp.path()).ok());
  LoraAdapter again = *LoraAdapter::Load(env, tmp.path(), mc);
  ASSERT_EQ(again.params().nbytes(), golden.params().nbytes());
  EXPECT_EQ(std::memcmp(again.params().raw(), golden.params().raw(), golden.params().nbytes()), 0);
  LoraConfig all;
  all.target_modules = {"all-linear"};
  LoraAdapter fresh = LoraAdapter::Create(mc, all);
  EXPECT_EQ(fresh.entries().size(), 14u);
  // Written for old PEFT versions: the expanded module list, not "all-linear".
  EXPECT_TRUE(all.ToJson()["target_modules"].is_array());
}

TEST(Lora, AdapterErrorsNameFileAndTensor) {
  ScopedTempDir tmp;
  ModelConfig mc = *ModelConfig::Load(env, GoldenDir("qwen2/model"));
  EXPECT_NE(
      LoraAdapter::Load(env, tmp.path(), mc).status().message().find("no adapter_config.json"),
      std::string::npos);
  CopyDir(GoldenDir("qwen2/adapter"), tmp.path());
  // Config says r=4 but the tensors have r=8.
  Json c = *ReadJsonFile(env, tmp.Sub("adapter_config.json"));
  c["r"] = 4;
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("adapter_config.json"), c.dump()).ok());
  std::string err = LoraAdapter::Load(env, tmp.path(), mc).status().message();
  EXPECT_NE(err.find("adapter_model.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("has shape [8, 160] but the model and r imply [4, 160]"), std::string::npos)
      << err;
  // Config targets fewer modules than the file holds.
  c["r"] = 8;
  c["target_modules"] = {"q_proj"};
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("adapter_config.json"), c.dump()).ok());
  err = LoraAdapter::Load(env, tmp.path(), mc).status().message();
  EXPECT_NE(err.find("does not belong to any module"), std::string::npos) << err;
  // A model with a different hidden size.
  ModelConfig other = mc;
  other.hidden_size = 32;
  c["target_modules"] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                         "gate_proj", "up_proj", "down_proj"};
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("adapter_config.json"), c.dump()).ok());
  err = LoraAdapter::Load(env, tmp.path(), other).status().message();
  EXPECT_NE(err.find("has shape"), std::string::npos) << err;
}

TEST(Lora, ZeroAdapterLeavesLogitsUnchanged) {
  auto cpu = MakeCpuBackend();
  auto model = LoadGolden("llama", cpu.get());
  Tensor ids = Tensor::FromI32({3, 4, 5, 6}, {1, 4});
  Tensor base = model->Forward(ids, Tensor())->Clone();
  LoraConfig all;
  all.target_modules = {"all-linear"};
  LoraAdapter zero = LoraAdapter::Create(model->config(), all);
  model->SetAdapter(&zero);
  Tensor with = *model->Forward(ids, Tensor());
  EXPECT_EQ(std::memcmp(base.raw(), with.raw(), base.nbytes()), 0);
  zero.entries()[0].b.f32()[0] = 1.0f;  // layer 0 q_proj: A is zero, so still no change
  with = *model->Forward(ids, Tensor());
  EXPECT_EQ(std::memcmp(base.raw(), with.raw(), base.nbytes()), 0);
  zero.entries()[0].a.f32()[0] = 1.0f;
  with = *model->Forward(ids, Tensor());
  EXPECT_NE(std::memcmp(base.raw(), with.raw(), base.nbytes()), 0);
}

TEST(Generate, IncrementalDecodingMatchesFullForward) {
  auto cpu = MakeCpuBackend();
  auto model = LoadGolden("qwen2", cpu.get());
  std::vector<int32_t> ids = {5, 17, 300, 2, 999, 64, 1, 8};
  Tensor full = model->Forward(Tensor::FromI32(ids, {1, 8}), Tensor())->Clone();
  KVCache cache = model->NewCache(1, 8);
  ASSERT_TRUE(model->Forward(Tensor::FromI32({5, 17, 300}, {1, 3}), Tensor(), cache, true).ok());
  int64_t v = model->config().vocab_size;
  for (int t = 3; t < 8; ++t) {
    Tensor step = *model->Forward(Tensor::FromI32({ids[t]}, {1, 1}), Tensor(), cache, true);
    for (int64_t j = 0; j < v; ++j) {
      ASSERT_NEAR(step.f32()[j], full.f32()[t * v + j], 1e-5) << "position " << t;
    }
  }
  // The cache is full now.
  EXPECT_FALSE(model->Forward(Tensor::FromI32({1}, {1, 1}), Tensor(), cache, true).ok());
}

TEST(Generate, SamplerProcessors) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f};
  GenerationOptions o;
  Sampler greedy(o);
  EXPECT_EQ(greedy.Next(logits, {}), 1);
  o.repetition_penalty = 2.0f;  // 3.0 -> 1.5 < 2.0
  Sampler rep(o);
  EXPECT_EQ(rep.Next(logits, std::vector<int32_t>{1}), 2);
  o.repetition_penalty = 1.0f;
  o.temperature = 1.0f;
  o.top_k = 1;
  Sampler top1(o);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(top1.Next(logits, {}), 1);
  o.top_k = 0;
  o.top_p = 0.5f;  // token 1 alone holds ~0.66 of the mass
  Sampler nucleus(o);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(nucleus.Next(logits, {}), 1);
  o.top_p = 1.0f;
  Sampler a(o), b(o);
  std::vector<int> counts(4);
  for (int i = 0; i < 2000; ++i) {
    int32_t x = a.Next(logits, {});
    EXPECT_EQ(x, b.Next(logits, {}));  // same seed, same draws
    counts[x]++;
  }
  // softmax([1,3,2,-1]) = [.090, .665, .245, .012]
  EXPECT_NEAR(counts[1] / 2000.0, 0.665, 0.04);
  EXPECT_NEAR(counts[2] / 2000.0, 0.245, 0.04);
}

TEST(Generate, StopsAtStopIdAndRespectsLimits) {
  auto cpu = MakeCpuBackend();
  auto model = LoadGolden("qwen2", cpu.get());
  std::vector<int32_t> prompt = {5, 17, 300};
  GenerationOptions o;
  o.max_new_tokens = 10;
  GenerationResult free_run = *Generate(*model, prompt, o);
  ASSERT_EQ(free_run.tokens.size(), 10u);
  EXPECT_FALSE(free_run.stopped);
  o.stop_ids = {free_run.tokens[3]};
  GenerationResult stopped = *Generate(*model, prompt, o);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_LE(stopped.tokens.size(), 4u);
  EXPECT_EQ(stopped.tokens.back(), free_run.tokens[3]);
  std::vector<int32_t> seen;
  o.stop_ids.clear();
  GenerationResult cut = *Generate(*model, prompt, o, [&](int32_t t) {
    seen.push_back(t);
    return seen.size() < 2;
  });
  EXPECT_EQ(cut.tokens.size(), 2u);
  EXPECT_EQ(seen, cut.tokens);
  std::vector<int32_t> too_long(600, 1);  // max_position_embeddings is 512
  EXPECT_FALSE(Generate(*model, too_long, o).ok());
}

}  // namespace
}  // namespace baton
