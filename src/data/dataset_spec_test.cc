#include "data/dataset_spec.h"

#include <gtest/gtest.h>

#include "data/self_cognition.h"
#include "data_test_util.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::DatasetFixture;
using testing::FailsWith;

TEST(DatasetSpecs, SplitsSpacesAndCounts) {
  Env* env = Env::Default();
  std::string a = DatasetFixture("alpaca.jsonl"), m = DatasetFixture("messages.jsonl");
  auto specs = ParseDatasetSpecs(env, {a + "#500 " + m, "self-cognition#20"});
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].path, a);
  EXPECT_EQ((*specs)[0].sample, 500);
  EXPECT_EQ((*specs)[0].text, a + "#500");
  EXPECT_FALSE((*specs)[0].self_cognition);
  EXPECT_EQ((*specs)[1].path, m);
  EXPECT_FALSE((*specs)[1].sample.has_value());
  EXPECT_EQ((*specs)[2].builtin, "self-cognition");
  EXPECT_EQ((*specs)[2].sample, 20);
  EXPECT_TRUE((*specs)[2].self_cognition);

  for (const char* id : {"swift/self-cognition", "modelscope/self-cognition#3"}) {
    auto s = ParseDatasetSpecs(env, {id});
    ASSERT_TRUE(s.ok()) << id;
    EXPECT_EQ((*s)[0].builtin, "self-cognition") << id;
  }
  // The shipped file on disk is self-cognition too (ms-swift matches local datasets by name).
  auto disk = ParseDatasetSpecs(env, {testing::SourcePath("examples/data/self_cognition.jsonl")});
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  EXPECT_TRUE((*disk)[0].self_cognition);
  EXPECT_TRUE((*disk)[0].builtin.empty());
}

TEST(DatasetSpecs, PathsWithHashOrSpacesAreTakenWhole) {
  testing::ScopedTempDir tmp;
  std::string odd = tmp.Sub("baton_spec_test my data#1.jsonl");
  ASSERT_TRUE(
      Env::Default()->WriteFileAtomic(odd, "{\"query\": \"q\", \"response\": \"r\"}\n").ok());
  auto specs = ParseDatasetSpecs(Env::Default(), {odd, odd + "#7"});
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].path, odd);
  EXPECT_FALSE((*specs)[0].sample.has_value());
  EXPECT_EQ((*specs)[1].path, odd);
  EXPECT_EQ((*specs)[1].sample, 7);
}

TEST(DatasetSpecs, Errors) {
  Env* env = Env::Default();
  std::string a = DatasetFixture("alpaca.jsonl");
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {a + "#0"}).status(), {"#0", "positive"}));
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {a + "#ten"}).status(), {"#ten"}));
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {a + "#-3"}).status(), {"#-3"}));
  // An absurd count is refused before anything is read or allocated.
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {"self-cognition#100000000"}).status(),
                        {"--dataset 'self-cognition#100000000'", "over the limit of 10000000"}));
  Status missing = ParseDatasetSpecs(env, {"/no/such/data.jsonl#5"}).status();
  EXPECT_TRUE(FailsWith(missing, {"/no/such/data.jsonl", "no such file"}));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {"AI-ModelScope/alpaca-gpt4-data-en#500"}).status(),
                        {"AI-ModelScope/alpaca-gpt4-data-en", "self-cognition"}));
  EXPECT_TRUE(
      FailsWith(ParseDatasetSpecs(env, {"HF::tatsu-lab/alpaca"}).status(), {"dataset hubs"}));
  EXPECT_TRUE(FailsWith(ParseDatasetSpecs(env, {"  "}).status(), {"no dataset"}));
}

TEST(DatasetSpecs, LoadsBuiltinAndPaths) {
  Env* env = Env::Default();
  auto specs = ParseDatasetSpecs(env, {"self-cognition " + DatasetFixture("folder")});
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  auto builtin = LoadDatasetRows(env, (*specs)[0]);
  ASSERT_TRUE(builtin.ok()) << builtin.status().ToString();
  EXPECT_GE(builtin->size(), 100u);
  EXPECT_EQ((*builtin)[0].origin, "self-cognition:1");
  auto folder = LoadDatasetRows(env, (*specs)[1]);
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->size(), 3u);
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

TEST(DatasetSpecs, FolderRulesGoByTheFolderName) {
  testing::ScopedTempDir tmp;
  Env* env = Env::Default();
  std::string csv = "instruction,input,output\n翻译,输入：你好,Hello\n";
  for (const char* name : {"alpaca-gpt4-data-zh", "alpaca-copy"}) {
    ASSERT_TRUE(env->CreateDirs(tmp.Sub(name)).ok());
    ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub(name) + "/train.csv", csv).ok());
  }
  auto specs =
      ParseDatasetSpecs(env, {tmp.Sub("alpaca-gpt4-data-zh") + "#1", tmp.Sub("alpaca-copy")});
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  EXPECT_EQ((*specs)[0].rule, DatasetRule::kAlpacaZh);
  EXPECT_FALSE(FolderRuleNotice((*specs)[0]).has_value());
  auto zh = LoadDatasetRows(env, (*specs)[0]);
  ASSERT_TRUE(zh.ok()) << zh.status().ToString();
  EXPECT_EQ((*zh)[0].messages[0].content, "翻译\n你好");
  EXPECT_EQ((*specs)[1].rule, DatasetRule::kNone);
  auto copy = LoadDatasetRows(env, (*specs)[1]);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)[0].messages[0].content, "翻译\n输入：你好");
  std::optional<std::string> notice = FolderRuleNotice((*specs)[1]);
  ASSERT_TRUE(notice.has_value());
  EXPECT_NE(notice->find(tmp.Sub("alpaca-copy") + ": no ms-swift dataset rule applies"),
            std::string::npos);
  // A folder named self_cognition is not ms-swift's self-cognition (only the file stem is).
  ASSERT_TRUE(env->CreateDirs(tmp.Sub("self_cognition")).ok());
  auto sc = ParseDatasetSpecs(env, {tmp.Sub("self_cognition")});
  ASSERT_TRUE(sc.ok());
  EXPECT_FALSE((*sc)[0].self_cognition);
  // Files get no folder rule and no notice.
  auto file = ParseDatasetSpecs(env, {tmp.Sub("alpaca-gpt4-data-zh/train.csv")});
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(FolderRuleNotice((*file)[0]).has_value());
}

}  // namespace
}  // namespace baton
