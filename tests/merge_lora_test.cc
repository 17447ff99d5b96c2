// `baton export --merge_lora true`'s merge: the merged model computes what the base model with
// the adapter computes (f32, the golden HF/PEFT models and adapters), keeps the base model's
// dtype, shards as asked, and copies the folder's other files.
#include "model/merge_lora.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "model/init_model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "test_util.h"

namespace baton {
namespace {

Env* env = Env::Default();

// Logits of `model_dir` (with the adapter in `adapter_dir`, when given) on a fixed prompt.
Tensor Logits(const std::string& model_dir, const LoraAdapter* adapter) {
  std::unique_ptr<Backend> backend = MakeCpuBackend({CpuGemm::kNaive, 1});
  auto model = Transformer::Load(env, model_dir, backend.get());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return Tensor();
  (*model)->SetAdapter(adapter);
  std::vector<int32_t> ids;
  for (int i = 0; i < 23; ++i) ids.push_back((i * 397 + 11) % 1000);
  Tensor tokens = Tensor::FromI32(ids, {1, static_cast<int64_t>(ids.size())});
  auto logits = (*model)->Forward(tokens, Tensor());
  EXPECT_TRUE(logits.ok()) << logits.status().ToString();
  return logits.ok() ? logits->Clone() : Tensor();
}

// max |a - b| / max |a|.
double RelativeDiff(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a.f32()[i] - b.f32()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(a.f32()[i])));
  }
  return diff / scale;
}

class MergeLoraGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(MergeLoraGolden, MergedLogitsEqualBasePlusAdapter) {
  const std::string dir = testing::GoldenDir(GetParam());
  testing::ScopedTempDir tmp;
  // As the golden adapter is (alpha / r), and with rsLoRA and a per-module alpha.
  for (bool variant : {false, true}) {
    SCOPED_TRACE(variant ? "rslora + alpha_pattern" : "alpha / r");
    std::string adapter_dir = dir + "/adapter";
    if (variant) {
      adapter_dir = tmp.Sub("adapter");
      testing::CopyDir(dir + "/adapter", adapter_dir);
      Json config = *ReadJsonFile(env, adapter_dir + "/adapter_config.json");
      config["use_rslora"] = true;
      config["alpha_pattern"] = {{"q_proj", 5.0}, {"down_proj", 64.0}};
      ASSERT_TRUE(env->WriteFileAtomic(adapter_dir + "/adapter_config.json", config.dump()).ok());
    }
    ModelConfig config = *ModelConfig::Load(env, dir + "/model");
    Result<LoraAdapter> adapter = LoraAdapter::Load(env, adapter_dir, config);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    const std::string out = tmp.Sub(variant ? "merged-variant" : "merged");
    MergeOptions options;
    options.max_shard_bytes = 200'000;  // several shards and an index
    std::vector<std::string> progress;
    options.progress = [&](const std::string& line) { progress.push_back(line); };
    Status s = MergeLoraIntoModel(env, dir + "/model", *adapter, out, options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(env->FileExists(out + "/model.safetensors.index.json"));
    EXPECT_TRUE(env->FileExists(out + "/config.json"));
    EXPECT_TRUE(env->FileExists(out + "/generation_config.json"));
    EXPECT_GT(progress.size(), 1u);
    Tensor want = Logits(dir + "/model", &*adapter);
    Tensor got = Logits(out, nullptr);
    ASSERT_EQ(want.shape(), got.shape());
    EXPECT_LT(RelativeDiff(want, got), 1e-5);
    // The merge changed something: the base model alone answers otherwise.
    EXPECT_GT(RelativeDiff(want, Logits(dir + "/model", nullptr)), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, MergeLoraGolden, ::testing::Values("qwen2", "qwen2-tied", "llama"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(MergeLora, KeepsTheBaseDtypeAndChangesOnlyAdaptedWeights) {
  testing::ScopedTempDir tmp;
  ModelConfig config = *ModelPreset("tiny", 512);
  config.num_hidden_layers = 2;
  InitModelOptions init;
  init.dtype = DType::kBF16;
  ASSERT_TRUE(WriteRandomModel(env, config, init, tmp.Sub("base")).ok());
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("base/tokenizer.json"), "{}").ok());
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("base/.msc"), "hidden").ok());
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("base/pytorch_model.bin"), "old weights").ok());
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 6;
  lc.target_modules = {"v_proj"};
  LoraAdapter adapter = LoraAdapter::Create(config, lc);
  ASSERT_TRUE(adapter.InitLikePeft(5).ok());
  for (LoraEntry& e : adapter.entries()) {
    for (int64_t i = 0; i < e.b.numel(); ++i) e.b.f32()[i] = 0.01f * static_cast<float>(i % 7);
  }
  ASSERT_TRUE(MergeLoraIntoModel(env, tmp.Sub("base"), adapter, tmp.Sub("out")).ok());
  EXPECT_TRUE(env->FileExists(tmp.Sub("out/model.safetensors")));  // one shard
  EXPECT_FALSE(env->FileExists(tmp.Sub("out/model.safetensors.index.json")));
  EXPECT_TRUE(env->FileExists(tmp.Sub("out/tokenizer.json")));
  EXPECT_FALSE(env->FileExists(tmp.Sub("out/.msc")));
  EXPECT_FALSE(env->FileExists(tmp.Sub("out/pytorch_model.bin")));
  WeightSet base = *WeightSet::Open(env, tmp.Sub("base"));
  WeightSet merged = *WeightSet::Open(env, tmp.Sub("out"));
  ASSERT_EQ(base.Names(), merged.Names());
  for (const std::string& name : base.Names()) {
    Tensor b = *base.Get(name), m = *merged.Get(name);
    EXPECT_EQ(m.dtype(), DType::kBF16) << name;
    bool same = b.nbytes() == m.nbytes() && std::memcmp(b.raw(), m.raw(), b.nbytes()) == 0;
    EXPECT_EQ(same, name.find("v_proj.weight") == std::string::npos) << name;
  }
  // The merged v_proj of layer 1 is bf16(W + scale * B A), computed in f32.
  const LoraEntry& e = *adapter.Find(1, LinearKind::kV);
  Tensor w = base.Get("model.layers.1.self_attn.v_proj.weight")->ToF32().Clone();
  AddLoraDelta(e, w.f32());
  Tensor want = w.ConvertTo(DType::kBF16);
  Tensor got = *merged.Get("model.layers.1.self_attn.v_proj.weight");
  EXPECT_EQ(std::memcmp(want.raw(), got.raw(), want.nbytes()), 0);
}

TEST(MergeLora, AddLoraDeltaIsScaleTimesBA) {
  LoraEntry e{0,
              LinearKind::kQ,
              2,
              3,
              2,
              0.5f,
              Tensor::FromF32({1, 2, 3, 4, 5, 6}, {2, 3}),
              Tensor::FromF32({1, 0, 2, 1}, {2, 2})};
  std::vector<float> w(6, 1.0f);
  AddLoraDelta(e, w.data());
  // B A = [[1, 2, 3], [6, 9, 12]]; W + 0.5 * B A.
  EXPECT_EQ(w, (std::vector<float>{1.5f, 2.0f, 2.5f, 4.0f, 5.5f, 7.0f}));
}

}  // namespace
}  // namespace baton
