// A bf16 model folder loaded straight onto the GPU (issue 19: no f32 copy on the host) gives the
// logits of the same file loaded on the CPU, within bf16 rounding; and generation (what `baton
// infer --device cuda` runs) keeps its KV cache on the GPU and answers. Each test skips where no
// GPU is visible.
#include <gtest/gtest.h>

#include "gpu_test_util.h"
#include "model/generate.h"
#include "model/init_model.h"
#include "model/transformer.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::ScopedTempDir;
Env* env = Env::Default();

std::string WriteBf16Model(const ScopedTempDir& tmp) {
  ModelConfig c = *ModelConfig::Load(env, testing::GoldenDir("qwen2/model"));
  InitModelOptions o;
  o.dtype = DType::kBF16;
  EXPECT_TRUE(WriteRandomModel(env, c, o, tmp.path()).ok());
  return tmp.path();
}

TEST(CudaLoad, Bf16ModelLoadsOntoTheGpuAndMatchesTheCpu) {
  BATON_REQUIRE_GPU();
  ScopedTempDir tmp;
  std::string dir = WriteBf16Model(tmp);
  auto gpu = testing::Gpu(DType::kF32);
  auto cpu = testing::Cpu();
  auto on_gpu = Transformer::Load(env, dir, gpu.get());
  ASSERT_TRUE(on_gpu.ok()) << on_gpu.status().ToString();
  auto on_cpu = Transformer::Load(env, dir, cpu.get());
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status().ToString();
  Tensor ids = Tensor::FromI32({1, 5, 9, 300, 7, 11}, {1, 6});
  auto want = (*on_cpu)->Forward(ids, Tensor());
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto got = (*on_gpu)->Forward(ids, Tensor());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  // The same bf16 weights; the GPU rounds f32 activations to bf16 at each weight GEMM.
  EXPECT_LT(testing::RelativeError(*gpu, *got, *want), 3e-2);
}

TEST(CudaLoad, GenerationKeepsItsCacheOnTheGpu) {
  BATON_REQUIRE_GPU();
  ScopedTempDir tmp;
  std::string dir = WriteBf16Model(tmp);
  auto gpu = testing::Gpu(DType::kBF16);
  auto model = Transformer::Load(env, dir, gpu.get());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  KVCache cache = (*model)->NewCache(1, 16);
  EXPECT_EQ(cache.k[0].device(), Device::kCuda);
  GenerationOptions g;
  g.max_new_tokens = 8;
  std::vector<int32_t> prompt = {1, 5, 9, 300};
  auto r = Generate(**model, prompt, g);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tokens.size(), 8u);
  for (int32_t t : r->tokens) EXPECT_LT(t, (*model)->config().vocab_size);
}

}  // namespace
}  // namespace baton
