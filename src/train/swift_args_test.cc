// args.json in ms-swift's shape: what it holds, how a template name maps both ways, and reading
// it back from an adapter folder.
#include "train/swift_args.h"

#include <gtest/gtest.h>

#include <set>

#include "test_util.h"

namespace baton {
namespace {

TEST(SwiftArgsTest, HoldsWhatSwiftInferAndExportRead) {
  TrainArgs args;
  args.model = "s3://bkt/models/qwen?endpoint=http://u:secret@127.0.0.1:9000";
  args.lora_rank = 16;
  args.lora_alpha = 64;
  args.max_length = 1024;
  args.torch_dtype = "bf16";
  args.gradient_accumulation_steps = 0;
  args.per_device_train_batch_size = 2;
  Json j = *ParseJson(MakeSwiftArgs(args, SwiftNamesFor(ChatTemplateKind::kDeepSeekR1, "")), "t");
  EXPECT_EQ(j["model"], "s3://bkt/models/qwen?endpoint=http://u:***@127.0.0.1:9000");
  EXPECT_EQ(j["model_type"], "deepseek_r1_distill");
  EXPECT_EQ(j["template"], "deepseek_r1");
  EXPECT_TRUE(j["system"].is_null());  // not given: the template's default applies
  EXPECT_EQ(j["train_type"], "lora");
  EXPECT_EQ(j["task_type"], "causal_lm");
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  EXPECT_EQ(j["lora_rank"], 16);
  EXPECT_EQ(j["lora_alpha"], 64.0);
  EXPECT_EQ(j["target_modules"], Json({"all-linear"}));
  EXPECT_EQ(j["max_length"], 1024);
  EXPECT_EQ(j["gradient_accumulation_steps"], 8);  // ms-swift's ceil(16 / batch size)
  EXPECT_FALSE(j.contains("device"));
  args.system = "You are Baton.";
  args.system_given = true;
  j = *ParseJson(MakeSwiftArgs(args, {"qwen2_5", "qwen2_5"}), "t");
  EXPECT_EQ(j["system"], "You are Baton.");
}

TEST(SwiftArgsTest, TemplateNamesRoundTrip) {
  struct Case {
    ChatTemplateKind kind;
    std::string default_system;
    const char* model_type;
    const char* name;
  };
  for (const Case& c :
       {Case{ChatTemplateKind::kChatML, std::string(kQwen25DefaultSystem), "qwen2_5", "qwen2_5"},
        Case{ChatTemplateKind::kChatML, "You are a helpful assistant.", "qwen2", "qwen"},
        Case{ChatTemplateKind::kChatML, "", "qwen2", "chatml"},
        Case{ChatTemplateKind::kDeepSeekR1, "", "deepseek_r1_distill", "deepseek_r1"},
        Case{ChatTemplateKind::kLlama3, "", "llama3", "llama3"}}) {
    SwiftModelNames names = SwiftNamesFor(c.kind, c.default_system);
    EXPECT_EQ(names.model_type, c.model_type);
    EXPECT_EQ(names.template_name, c.name);
    Result<SwiftTemplate> back = ParseSwiftTemplate(names.template_name);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->kind, c.kind);
    EXPECT_EQ(back->default_system, c.default_system);
  }
  Result<SwiftTemplate> bad = ParseSwiftTemplate("glm4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'glm4'"), std::string::npos);
}

TEST(SwiftArgsTest, ReadsAnAdapterFoldersArgsJson) {
  testing::ScopedTempDir tmp;
  Env* env = Env::Default();
  Result<std::optional<SwiftCheckpointArgs>> none = ReadSwiftArgs(env, tmp.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("args.json"),
                                   R"({"model": "/m", "template": "qwen2_5", "system": null,
                                       "unknown_key": [1]})")
                  .ok());
  Result<std::optional<SwiftCheckpointArgs>> got = ReadSwiftArgs(env, tmp.path());
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  EXPECT_EQ((*got)->model, "/m");
  EXPECT_EQ((*got)->template_name, "qwen2_5");
  EXPECT_FALSE((*got)->system.has_value());
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("args.json"), R"({"model": 7})").ok());
  got = ReadSwiftArgs(env, tmp.path());
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("args.json"), std::string::npos);
  EXPECT_NE(got.status().message().find("'model'"), std::string::npos);
}

// PEFT <= 0.13 rejects any key its LoraConfig does not have (TypeError) and ms-swift 3.x allows
// PEFT 0.11+: adapter_config.json keeps to the fields PEFT 0.10's LoraConfig and PeftConfig have
// (peft v0.10.0 src/peft/tuners/lora/config.py, src/peft/config.py).
TEST(SwiftArgsTest, AdapterConfigKeepsToPeft010Keys) {
  const std::set<std::string> peft_010 = {"peft_type",
                                          "auto_mapping",
                                          "base_model_name_or_path",
                                          "revision",
                                          "task_type",
                                          "inference_mode",
                                          "r",
                                          "target_modules",
                                          "lora_alpha",
                                          "lora_dropout",
                                          "fan_in_fan_out",
                                          "bias",
                                          "modules_to_save",
                                          "init_lora_weights",
                                          "layers_to_transform",
                                          "layers_pattern",
                                          "rank_pattern",
                                          "alpha_pattern",
                                          "megatron_config",
                                          "megatron_core",
                                          "loftq_config",
                                          "use_rslora",
                                          "use_dora",
                                          "layer_replication"};
  LoraConfig c;
  c.target_modules = {"all-linear"};
  c.layers_to_transform = {0};
  c.rank_pattern = {{"q_proj", 4}};
  c.base_model_name_or_path = "/models/qwen";
  Json j = c.ToJson();
  for (auto& [key, value] : j.items()) EXPECT_TRUE(peft_010.contains(key)) << key;
  EXPECT_EQ(j["base_model_name_or_path"], "/models/qwen");
  EXPECT_TRUE(j["target_modules"].is_array());  // old PEFT does not know "all-linear"
  Result<LoraConfig> back = LoraConfig::FromJson(j, "adapter_config.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->base_model_name_or_path, "/models/qwen");
}

}  // namespace
}  // namespace baton
