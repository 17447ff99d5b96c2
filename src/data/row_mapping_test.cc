#include "data/row_mapping.h"

#include <gtest/gtest.h>

#include "data/dataset_reader.h"
#include "data_test_util.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::FailsWith;

Result<std::vector<Conversation>> Csv(std::string_view text, const RowMapping& m = {}) {
  return ParseDatasetText(text, "d.csv", DatasetFormat::kCsv, m);
}

TEST(RowMapping, AlpacaJoinsInstructionAndInputLikeMsSwift) {
  auto rows =
      Csv("instruction,input,output\nTranslate.,Hello,你好\nJust this.,,ok\n,only input,x\n");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].messages[0].content, "Translate.\nHello");
  EXPECT_EQ((*rows)[0].messages[1].content, "你好");
  EXPECT_EQ((*rows)[1].messages[0].content, "Just this.");  // empty input: no trailing "\n"
  EXPECT_EQ((*rows)[2].messages[0].content, "only input");
  EXPECT_EQ((*rows)[1].origin, "d.csv:3");
}

TEST(RowMapping, AlpacaZhRuleCutsTheInputPrefixOnlyWhenAsked) {
  std::string text = "instruction,input,output\n翻译。,输入：你好,Hello\n";
  auto plain = Csv(text);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ((*plain)[0].messages[0].content, "翻译。\n输入：你好");
  auto zh = Csv(text, {{}, DatasetRule::kAlpacaZh});
  ASSERT_TRUE(zh.ok()) << zh.status().ToString();
  EXPECT_EQ((*zh)[0].messages[0].content, "翻译。\n你好");
}

TEST(RowMapping, ResponseAliasesCaseInsensitiveAndSystem) {
  auto rows = Csv("Question,Answer,system_prompt\nq?,a!,be brief\n");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ((*rows)[0].messages.size(), 3u);
  EXPECT_EQ((*rows)[0].messages[0].content, "be brief");
  EXPECT_EQ((*rows)[0].messages[1].content, "q?");
  EXPECT_EQ((*rows)[0].messages[2].content, "a!");
  auto jsonl = ParseDatasetText("{\"prompt\": \"p\", \"completion\": \"c\"}\n", "d.jsonl",
                                DatasetFormat::kJsonl);
  ASSERT_TRUE(jsonl.ok()) << jsonl.status().ToString();
  EXPECT_EQ((*jsonl)[0].messages[1].content, "c");
}

TEST(RowMapping, MessagesInACsvCellAreJson) {
  auto rows =
      Csv("messages\n\"[{\"\"role\"\": \"\"user\"\", \"\"content\"\": \"\"hi\"\"}, {\"\"role\"\": "
          "\"\"assistant\"\", \"\"content\"\": \"\"yo\"\"}]\"\n");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0].messages[1].content, "yo");
}

TEST(RowMapping, ColumnsFlagRenamesFirst) {
  auto columns = ParseColumnsFlag(R"({"ask": "query", "reply": "response"})");
  ASSERT_TRUE(columns.ok()) << columns.status().ToString();
  auto rows = Csv("ask,reply,note\nq,r,n\n", {*columns, DatasetRule::kNone});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0].messages[0].content, "q");
  EXPECT_TRUE(FailsWith(ParseColumnsFlag("[1]").status(), {"--columns: expected a JSON object"}));
  EXPECT_TRUE(FailsWith(ParseColumnsFlag(R"({"a": 3})").status(), {"--columns: key 'a'"}));
  EXPECT_TRUE(FailsWith(ParseColumnsFlag("{").status(), {"--columns"}));
  EXPECT_TRUE(FailsWith(Csv("ask,query,r\nq,q2,r\n", {*columns, DatasetRule::kNone}).status(),
                        {"d.csv:2: record 1: --columns makes two columns named 'query'"}));
}

TEST(RowMapping, UnusableOrAmbiguousColumnsAreClearErrors) {
  EXPECT_TRUE(FailsWith(Csv("ask,reply\nq,r\n").status(),
                        {"d.csv:2: record 1: no 'query' column", "'ask', 'reply'", "--columns"}));
  EXPECT_TRUE(FailsWith(
      Csv("query,answer,output\nq,a,o\n").status(),
      {"d.csv:2: record 1: columns 'answer', 'output' could each be the response", "--columns"}));
  EXPECT_TRUE(FailsWith(Csv("instruction,input,output\na,b,\n").status(),
                        {"d.csv:2: record 1: column 'output' (the response) is empty"}));
  EXPECT_TRUE(FailsWith(Csv("instruction,output\n,x\n").status(),
                        {"d.csv:2: record 1: column 'instruction' (the query) is empty"}));
  EXPECT_TRUE(FailsWith(Csv("q,r\n").status(), {"d.csv: no rows (a header only)"}));
  // Plain text rows are {"text"}: a response with no query.
  EXPECT_TRUE(FailsWith(ParseDatasetText("one line\n", "d.txt", DatasetFormat::kText).status(),
                        {"d.txt:1: no 'query' column (the row's columns: 'text')"}));
}

TEST(RowMapping, RuleForFolderByLastComponent) {
  EXPECT_EQ(RuleForFolder("/mnt/oss/self-cognition"), DatasetRule::kSelfCognition);
  EXPECT_EQ(RuleForFolder("/mnt/oss/self-cognition/"), DatasetRule::kSelfCognition);
  EXPECT_EQ(RuleForFolder("data/alpaca-gpt4-data-zh"), DatasetRule::kAlpacaZh);
  EXPECT_EQ(RuleForFolder("data/alpaca-gpt4-data-en"), DatasetRule::kNone);
  EXPECT_EQ(RuleForFolder("data/self_cognition"), DatasetRule::kNone);
  EXPECT_EQ(RuleForFolder("/c/datasets--swift--self-cognition/snapshots/abc123"),
            DatasetRule::kSelfCognition);
}

}  // namespace
}  // namespace baton
