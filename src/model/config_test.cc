// ModelConfig and LoraConfig range checks (issue 15: absurd sizes must fail their check before
// anything is allocated, with a message naming the file and the key).
#include "model/config.h"

#include <gtest/gtest.h>

#include <limits>

#include "model/init_model.h"
#include "model/lora.h"

namespace baton {
namespace {

Json Tiny() { return ModelPreset("tiny", 0)->ToJson(); }

std::string Error(const Json& j) {
  Result<ModelConfig> c = ModelConfig::FromJson(j, "m/config.json");
  EXPECT_FALSE(c.ok()) << j.dump();
  return c.ok() ? "" : c.status().message();
}

TEST(ModelConfigRanges, SizesAreBoundedAndNamed) {
  ASSERT_TRUE(ModelConfig::FromJson(Tiny(), "m/config.json").ok());
  struct Case {
    const char* key;
    Json value;
    const char* want;
  };
  const Case cases[] = {
      {"num_hidden_layers", 1000000, "key 'num_hidden_layers' must be in [1, 1024], got 1000000"},
      {"num_hidden_layers", -1, "key 'num_hidden_layers' must be in [1, 1024], got -1"},
      {"num_hidden_layers", 1e30, "key 'num_hidden_layers': 1e+30 is out of range"},
      {"num_hidden_layers", 2.5, "key 'num_hidden_layers': expected an integer, got 2.5"},
      {"vocab_size", int64_t{1} << 40, "key 'vocab_size' must be in [1, 16777216]"},
      {"hidden_size", 0, "key 'hidden_size' must be in [1, 65536], got 0"},
      {"intermediate_size", int64_t{1} << 31, "key 'intermediate_size' must be in [1, 262144]"},
      {"num_attention_heads", 100000, "key 'num_attention_heads' must be in [1, 1024]"},
      {"head_dim", 4096, "key 'head_dim' must be in [1, 1024]"},
      {"max_position_embeddings", int64_t{1} << 40, "key 'max_position_embeddings' must be in"},
      {"rms_norm_eps", 0, "key 'rms_norm_eps' must be a positive finite number, got 0"},
      {"rms_norm_eps", 5, "key 'rms_norm_eps' must be below 1"},
      {"eos_token_id", 151936, "key 'eos_token_id': token id 151936 is not in the vocabulary"},
      {"eos_token_id", Json::array({1, 1e30}), "key 'eos_token_id'[1]: 1e+30 is out of range"},
      {"bos_token_id", "x", "key 'bos_token_id': expected an integer, got string"},
      {"tie_word_embeddings", 1, "key 'tie_word_embeddings': expected a boolean"},
      // Found by fuzz_documents in CI: nlohmann's value() threw type_error 302 here.
      {"use_sliding_window", 1, "key 'use_sliding_window': expected a boolean, got number"},
      {"use_sliding_window", true, "use_sliding_window=true is not supported"},
  };
  for (const Case& c : cases) {
    Json j = Tiny();
    j[c.key] = c.value;
    std::string err = Error(j);
    EXPECT_NE(err.find(std::string("m/config.json: ") + c.want), std::string::npos)
        << c.key << " = " << c.value.dump() << ": " << err;
  }
  // Nested keys too, and a value that is not finite (a document built in memory may hold one).
  Json j = Tiny();
  j["rope_parameters"]["rope_theta"] = -1;
  EXPECT_NE(Error(j).find("key 'rope_theta' must be a positive finite number, got -1"),
            std::string::npos)
      << Error(j);
  j["rope_parameters"]["rope_theta"] = std::numeric_limits<double>::infinity();
  EXPECT_NE(Error(j).find("m/config.json: rope_parameters: key 'rope_theta': expected a finite "
                          "number, got inf"),
            std::string::npos)
      << Error(j);
}

TEST(ModelConfigRanges, TheParameterCountIsBoundedToo) {
  // Each size within its bound, their product not: 2^24 x 2^16 embeddings are 10^12 each.
  Json j = Tiny();
  j["vocab_size"] = 1 << 24;
  j["hidden_size"] = 1 << 16;
  j["head_dim"] = 128;
  j["tie_word_embeddings"] = false;
  std::string err = Error(j);
  EXPECT_NE(err.find("parameters; the most is 2e+12"), std::string::npos) << err;
}

TEST(LoraConfigRanges, RankFitsEveryAdaptedModule) {
  ModelConfig model = *ModelConfig::FromJson(Tiny(), "m/config.json");  // k/v: 128 -> 64
  LoraConfig lc;
  lc.target_modules = {"all-linear"};
  lc.r = 64;
  EXPECT_TRUE(lc.CheckFits(model, "flags", "--lora_rank").ok());
  lc.r = 65;
  EXPECT_EQ(lc.CheckFits(model, "flags", "--lora_rank").message(),
            "--lora_rank: rank 65 for model.layers.0.self_attn.k_proj must be in [1, 64] (min(in "
            "128, out 64) of that module)");
  lc.r = 1000000000;
  EXPECT_FALSE(lc.CheckFits(model, "flags", "--lora_rank").ok());
  lc.target_modules = {"q_proj"};
  lc.r = 128;
  EXPECT_TRUE(lc.CheckFits(model, "flags", "--lora_rank").ok());
  lc.layers_to_transform = {7};
  EXPECT_NE(lc.CheckFits(model, "a.json", "r")
                .message()
                .find("a.json: layers_to_transform names layer 7, but the model has layers 0..3"),
            std::string::npos);
}

TEST(LoraConfigRanges, AdapterConfigNumbersAreChecked) {
  Json j = {{"peft_type", "LORA"}, {"r", 8}, {"lora_alpha", 16}, {"target_modules", "all-linear"}};
  ASSERT_TRUE(LoraConfig::FromJson(j, "a/adapter_config.json").ok());
  auto error = [&](const char* key, Json value) {
    Json bad = j;
    bad[key] = value;
    Result<LoraConfig> c = LoraConfig::FromJson(bad, "a/adapter_config.json");
    EXPECT_FALSE(c.ok()) << key;
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_EQ(error("r", 1e30),
            "a/adapter_config.json: key 'r': 1e+30 is out of range (at most "
            "9007199254740992 in magnitude)");
  EXPECT_EQ(error("lora_dropout", 1.5),
            "a/adapter_config.json: key 'lora_dropout' must be in [0, 1), got 1.5");
  // These used to throw nlohmann's type_error (a crash) or wrap.
  EXPECT_EQ(error("rank_pattern", {{"q_proj", "big"}}),
            "a/adapter_config.json: key 'rank_pattern': 'q_proj' is \"big\", want a positive "
            "integer");
  EXPECT_EQ(error("rank_pattern", {{"q_proj", 1e30}}),
            "a/adapter_config.json: key 'rank_pattern': 'q_proj' is 1e+30, want a positive "
            "integer");
  EXPECT_EQ(error("alpha_pattern", {{"q_proj", "big"}}),
            "a/adapter_config.json: key 'alpha_pattern': 'q_proj' is \"big\", want a number");
  EXPECT_EQ(error("layers_to_transform", {0, "x"}),
            "a/adapter_config.json: key 'layers_to_transform': \"x\" is not a layer index");
  EXPECT_EQ(error("layers_to_transform", {0, 2.5}),
            "a/adapter_config.json: key 'layers_to_transform': 2.5 is not a layer index");
  // Ranks from rank_pattern are checked against the model like r.
  Json patterned = j;
  patterned["rank_pattern"] = {{"k_proj", 100}};
  Result<LoraConfig> c = LoraConfig::FromJson(patterned, "a/adapter_config.json");
  ASSERT_TRUE(c.ok());
  ModelConfig model = *ModelConfig::FromJson(Tiny(), "m/config.json");
  EXPECT_EQ(
      c->CheckFits(model, "a/adapter_config.json", "a/adapter_config.json: key 'r'").message(),
      "a/adapter_config.json: rank 100 for model.layers.0.self_attn.k_proj must be in [1, 64] "
      "(min(in 128, out 64) of that module) (from rank_pattern)");
}

}  // namespace
}  // namespace baton
