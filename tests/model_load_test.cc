// Loading Hugging Face model folders: every supported layout, and a clear error for each kind of
// bad input (naming the file, key or tensor).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "kernels/cpu/cpu_backend.h"
#include "model/init_model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "staging_device.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::CopyDir;
using testing::GoldenDir;
using testing::ScopedTempDir;

Env* env = Env::Default();

Json ReadJson(const std::string& path) { return *ReadJsonFile(env, path); }
void WriteJson(const std::string& path, const Json& j) {
  ASSERT_TRUE(env->WriteFileAtomic(path, j.dump(2)).ok());
}

std::string LoadError(const std::string& dir) {
  auto backend = MakeCpuBackend();
  auto m = Transformer::Load(env, dir, backend.get());
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.status().ToString();
}

Tensor Logits(const std::string& dir) {
  auto backend = MakeCpuBackend();
  auto m = Transformer::Load(env, dir, backend.get());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  auto logits = (*m)->Forward(Tensor::FromI32({1, 5, 9, 300, 7}, {1, 5}), Tensor());
  EXPECT_TRUE(logits.ok());
  return logits->Clone();
}

double MaxDiff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::fabs(a.At(i) - b.At(i)));
  return d;
}

TEST(ModelLoad, MissingFolderAndFiles) {
  ScopedTempDir tmp;
  EXPECT_NE(LoadError(tmp.Sub("nope")).find("does not exist"), std::string::npos);
  EXPECT_NE(LoadError(tmp.path()).find("no config.json"), std::string::npos);
  CopyDir(GoldenDir("qwen2/model"), tmp.Sub("m"));
  std::remove(tmp.Sub("m/model.safetensors").c_str());
  EXPECT_NE(LoadError(tmp.Sub("m")).find("no model.safetensors"), std::string::npos);
}

TEST(ModelLoad, TruncatedSafetensorsNamesTensorAndFile) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  std::string path = tmp.Sub("model.safetensors");
  std::string data = *env->ReadFile(path);
  ASSERT_TRUE(env->WriteFileAtomic(path, data.substr(0, data.size() - 1000)).ok());
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("Corruption"), std::string::npos) << err;
  EXPECT_NE(err.find("model.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  // A file cut inside its header.
  ASSERT_TRUE(env->WriteFileAtomic(path, data.substr(0, 100)).ok());
  err = LoadError(tmp.path());
  EXPECT_NE(err.find("header length"), std::string::npos) << err;
}

TEST(ModelLoad, GarbageHeaderIsCorruption) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  std::string header = "{\"x\": oops}";
  std::string data(8, '\0');
  data[0] = static_cast<char>(header.size());
  data += header;
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("model.safetensors"), data).ok());
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("invalid JSON"), std::string::npos) << err;
}

TEST(ModelLoad, WrongDtypeIsRejected) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  SafetensorsFile f = *SafetensorsFile::Open(env, tmp.Sub("model.safetensors"));
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : f.Names()) {
    Tensor t = *f.Get(n);
    if (n == "model.norm.weight") {  // same byte size, integer type
      Tensor i = Tensor::Empty(t.shape(), DType::kI32);
      std::memcpy(i.raw(), t.raw(), t.nbytes());
      t = i;
    }
    tensors.emplace_back(n, t.Clone());
  }
  ASSERT_TRUE(WriteSafetensors(env, tmp.Sub("model.safetensors"), tensors).ok());
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("'model.norm.weight' has dtype I32"), std::string::npos) << err;
}

TEST(ModelLoad, ShapeMismatchNamesTensorAndBothShapes) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  Json c = ReadJson(tmp.Sub("config.json"));
  c["intermediate_size"] = 128;
  WriteJson(tmp.Sub("config.json"), c);
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("[160, 64]"), std::string::npos) << err;
  EXPECT_NE(err.find("[128, 64]"), std::string::npos) << err;
}

TEST(ModelLoad, MissingTensorIsNamed) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  Json c = ReadJson(tmp.Sub("config.json"));
  c["num_hidden_layers"] = 3;
  WriteJson(tmp.Sub("config.json"), c);
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("missing tensor 'model.layers.2.input_layernorm.weight'"), std::string::npos)
      << err;
  // Untied config over a tied checkpoint: lm_head is missing.
  CopyDir(GoldenDir("qwen2-tied/model"), tmp.Sub("tied"));
  c = ReadJson(tmp.Sub("tied/config.json"));
  c["tie_word_embeddings"] = false;
  WriteJson(tmp.Sub("tied/config.json"), c);
  err = LoadError(tmp.Sub("tied"));
  EXPECT_NE(err.find("'lm_head.weight'"), std::string::npos) << err;
}

TEST(ModelLoad, ConfigErrorsNameTheKey) {
  ScopedTempDir tmp;
  CopyDir(GoldenDir("llama/model"), tmp.path());
  Json c = ReadJson(tmp.Sub("config.json"));
  c["hidden_size"] = "sixty-four";
  WriteJson(tmp.Sub("config.json"), c);
  std::string err = LoadError(tmp.path());
  EXPECT_NE(err.find("key 'hidden_size': expected an integer, got string"), std::string::npos)
      << err;
  c.erase("hidden_size");
  WriteJson(tmp.Sub("config.json"), c);
  EXPECT_NE(LoadError(tmp.path()).find("missing required key 'hidden_size'"), std::string::npos);
  c = ReadJson(GoldenDir("llama/model/config.json"));
  c["architectures"] = {"MistralForCausalLM"};
  WriteJson(tmp.Sub("config.json"), c);
  EXPECT_NE(LoadError(tmp.path()).find("'MistralForCausalLM' is not supported"), std::string::npos);
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("config.json"), "{\n  \"a\": 1,\n  oops\n}").ok());
  err = LoadError(tmp.path());
  EXPECT_NE(err.find("config.json:3:"), std::string::npos) << err;
}

TEST(ModelLoad, OldConfigLayoutGivesSameModel) {
  // DeepSeek-R1-Distill-Qwen-7B style: top-level rope_theta and torch_dtype, no rope_parameters.
  ScopedTempDir tmp;
  CopyDir(GoldenDir("qwen2/model"), tmp.path());
  Json c = ReadJson(tmp.Sub("config.json"));
  double theta = c["rope_parameters"]["rope_theta"];
  c.erase("rope_parameters");
  c.erase("dtype");
  c["rope_theta"] = theta;
  c["torch_dtype"] = "float32";
  WriteJson(tmp.Sub("config.json"), c);
  auto a = ModelConfig::Load(env, GoldenDir("qwen2/model"));
  auto b = ModelConfig::Load(env, tmp.path());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
  EXPECT_EQ(MaxDiff(Logits(GoldenDir("qwen2/model")), Logits(tmp.path())), 0.0);
  // A different theta must change the model: the key is really read.
  c["rope_theta"] = 500000.0;
  WriteJson(tmp.Sub("config.json"), c);
  EXPECT_GT(MaxDiff(Logits(GoldenDir("qwen2/model")), Logits(tmp.path())), 1e-4);
}

TEST(ModelLoad, ConfigRoundTripsThroughToJson) {
  for (const char* name : {"qwen2", "qwen2-tied", "llama"}) {
    auto a = ModelConfig::Load(env, GoldenDir(std::string(name) + "/model"));
    ASSERT_TRUE(a.ok());
    auto b = ModelConfig::FromJson(a->ToJson(), "roundtrip");
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_TRUE(*a == *b) << name;
  }
}

TEST(ModelLoad, ShardedEqualsSingleFile) {
  ScopedTempDir tmp;
  ModelConfig c = *ModelConfig::Load(env, GoldenDir("qwen2/model"));
  InitModelOptions one, many;
  many.max_shard_bytes = 40000;  // forces several shards
  ASSERT_TRUE(WriteRandomModel(env, c, one, tmp.Sub("one")).ok());
  ASSERT_TRUE(WriteRandomModel(env, c, many, tmp.Sub("many")).ok());
  EXPECT_TRUE(env->FileExists(tmp.Sub("many/model.safetensors.index.json")));
  int shards = 0;
  std::vector<std::string> files = *env->ListDir(tmp.Sub("many"));
  for (const auto& n : files) shards += n.find("-of-") != std::string::npos;
  EXPECT_GE(shards, 3);
  EXPECT_EQ(MaxDiff(Logits(tmp.Sub("one")), Logits(tmp.Sub("many"))), 0.0);
  // An index naming a shard that is gone.
  auto names = *env->ListDir(tmp.Sub("many"));
  for (const auto& n : names) {
    if (n.find("-00001-of-") != std::string::npos) std::remove(tmp.Sub("many/" + n).c_str());
  }
  std::string err = LoadError(tmp.Sub("many"));
  EXPECT_NE(err.find("model.safetensors.index.json"), std::string::npos) << err;
}

TEST(ModelLoad, Bf16AndF16WeightsMatchTheirF32Rounding) {
  ScopedTempDir tmp;
  ModelConfig c = *ModelConfig::Load(env, GoldenDir("llama/model"));
  for (DType d : {DType::kBF16, DType::kF16}) {
    InitModelOptions o;
    o.dtype = d;
    std::string dir = tmp.Sub(std::string(DTypeName(d)));
    ASSERT_TRUE(WriteRandomModel(env, c, o, dir).ok());
    // The same weights rounded to `d` and stored as f32 must give identical logits.
    SafetensorsFile f = *SafetensorsFile::Open(env, dir + "/model.safetensors");
    EXPECT_EQ(*f.GetDType("model.norm.weight"), d);
    std::vector<std::pair<std::string, Tensor>> f32;
    for (const auto& n : f.Names()) f32.emplace_back(n, f.Get(n)->ToF32());
    CopyDir(dir, dir + "_f32");
    ASSERT_TRUE(WriteSafetensors(env, dir + "_f32/model.safetensors", f32).ok());
    EXPECT_EQ(MaxDiff(Logits(dir), Logits(dir + "_f32")), 0.0);
  }
}

// Counts MappedFile::Release calls (bytes asked for) on every file it maps.
class ReleaseCountingEnv : public ForwardingEnv {
 public:
  ReleaseCountingEnv() = default;
  Result<std::shared_ptr<MappedFile>> MapFile(const std::string& path) override {
    BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, ForwardingEnv::MapFile(path));
    return std::shared_ptr<MappedFile>(std::make_shared<Counting>(std::move(f), &released));
  }
  uint64_t released = 0;

 private:
  struct Counting : MappedFile {
    Counting(std::shared_ptr<MappedFile> f, uint64_t* n) : f(std::move(f)), n(n) {}
    const uint8_t* data() const override { return f->data(); }
    size_t size() const override { return f->size(); }
    void Release(size_t offset, size_t len) const override {
      *n += len;
      f->Release(offset, len);
    }
    std::shared_ptr<MappedFile> f;
    uint64_t* n;
  };
};

// A bf16 model loaded for a device goes there tensor by tensor in the device's dtypes with the
// file's own bytes (no f32 round trip on the host), and each tensor's file pages are released
// once it is there (issue 19: a 7B model must load on a 30 GiB host).
TEST(ModelLoad, Bf16WeightsStreamToTheDeviceAsTheyAre) {
  ScopedTempDir tmp;
  ModelConfig c = *ModelConfig::Load(env, GoldenDir("qwen2/model"));
  InitModelOptions o;
  o.dtype = DType::kBF16;
  ASSERT_TRUE(WriteRandomModel(env, c, o, tmp.path()).ok());
  ReleaseCountingEnv counting;
  WeightSet set = *WeightSet::Open(&counting, tmp.path());
  StagingDevice device;
  auto w = LoadWeights(c, set, &device);
  ASSERT_TRUE(w.ok()) << w.status().ToString();

  SafetensorsFile file = *SafetensorsFile::Open(env, tmp.Sub("model.safetensors"));
  uint64_t file_tensor_bytes = 0;
  int64_t listed = 0;
  ForEachWeight(c, *w, [&](const std::string& name, const Shape& shape, Tensor& t) {
    ++listed;
    Tensor stored = *file.Get(name);
    file_tensor_bytes += stored.nbytes();
    ASSERT_EQ(t.device(), Device::kCuda) << name;
    ASSERT_EQ(t.shape(), shape) << name;
    if (shape.size() == 2) {  // matrices keep the file's bf16 bits
      ASSERT_EQ(t.dtype(), DType::kBF16) << name;
      EXPECT_EQ(std::memcmp(t.raw(), stored.raw(), stored.nbytes()), 0) << name;
    } else {  // vectors (norms, biases) are f32 on every device
      ASSERT_EQ(t.dtype(), DType::kF32) << name;
      Tensor want = stored.ToF32();
      EXPECT_EQ(std::memcmp(t.raw(), want.raw(), want.nbytes()), 0) << name;
    }
  });
  EXPECT_EQ(device.tensors(), listed);
  EXPECT_EQ(counting.released, file_tensor_bytes);  // every tensor's pages, once
  if (c.tie_word_embeddings) EXPECT_EQ(w->lm_head.raw(), w->embed.raw());
}

// On the CPU (f32) nothing is released: f32 files are used in place, mapped.
TEST(ModelLoad, CpuLoadKeepsF32FilesMapped) {
  ScopedTempDir tmp;
  ModelConfig c = *ModelConfig::Load(env, GoldenDir("qwen2/model"));
  ASSERT_TRUE(WriteRandomModel(env, c, {}, tmp.path()).ok());
  ReleaseCountingEnv counting;
  WeightSet set = *WeightSet::Open(&counting, tmp.path());
  auto backend = MakeCpuBackend();
  auto w = LoadWeights(c, set, backend.get());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(counting.released, 0u);
  EXPECT_EQ(w->final_norm.dtype(), DType::kF32);
}

// Released pages of a file mapping read back as the file's bytes.
TEST(MappedFile, ReleasedPagesReadBackFromTheFile) {
  ScopedTempDir tmp;
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("f"), bytes).ok());
  auto f = env->MapFile(tmp.Sub("f"));
  ASSERT_TRUE(f.ok());
  const uint8_t* d = (*f)->data();
  EXPECT_EQ(std::memcmp(d, bytes.data(), bytes.size()), 0);
  (*f)->Release(1000, 2 << 20);          // an unaligned range: the whole pages inside it
  (*f)->Release(0, bytes.size() + 100);  // past the end: clipped
  (*f)->Release(bytes.size() + 5, 10);   // outside: nothing
  EXPECT_EQ(std::memcmp(d, bytes.data(), bytes.size()), 0);
}

TEST(DType, ConversionsRoundCorrectly) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(BF16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(F32ToBF16(1.00390625f), 0x3f80);  // halfway: to even
  EXPECT_EQ(F32ToBF16(1.01171875f), 0x3f82);  // halfway: to even (up)
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f}) {
    float back = F16ToF32(F32ToF16(v));
    EXPECT_NEAR(back, v, std::fabs(v) * 1e-3 + 1e-9) << v;
  }
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xc000);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(1e6f), 0x7c00);
  EXPECT_EQ(F16ToF32(0x0001), 5.9604645e-08f);
}

}  // namespace
}  // namespace baton
