#include "data/conversation.h"

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace baton {
namespace {

using testing::FailsWith;

Result<Conversation> Row(std::string_view json) {
  return ConversationFromRow(Json::parse(json), "t.jsonl:7");
}

std::vector<ChatMessage> Msgs(std::initializer_list<std::pair<const char*, const char*>> list) {
  std::vector<ChatMessage> out;
  for (auto [role, content] : list) out.push_back({role, content});
  return out;
}

void ExpectMessages(const Result<Conversation>& conv, const std::vector<ChatMessage>& want) {
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  ASSERT_EQ(conv->messages.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(conv->messages[i].role, want[i].role) << i;
    EXPECT_EQ(conv->messages[i].content, want[i].content) << i;
  }
}

TEST(DatasetRows, Alpaca) {
  ExpectMessages(Row(R"({"instruction": "Add.", "input": "2 and 3", "output": "5"})"),
                 Msgs({{"user", "Add.\n2 and 3"}, {"assistant", "5"}}));
  ExpectMessages(Row(R"({"instruction": "Hi", "input": "", "output": "Hello"})"),
                 Msgs({{"user", "Hi"}, {"assistant", "Hello"}}));
  ExpectMessages(Row(R"({"instruction": "", "input": "only input", "output": "o"})"),
                 Msgs({{"user", "only input"}, {"assistant", "o"}}));
  ExpectMessages(Row(R"({"instruction": "Hi", "output": "Yo", "system": "Be brief."})"),
                 Msgs({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Yo"}}));
  // An empty system is no system: the template's default applies.
  ExpectMessages(Row(R"({"instruction": "Hi", "output": "Yo", "system": ""})"),
                 Msgs({{"user", "Hi"}, {"assistant", "Yo"}}));
}

TEST(DatasetRows, Messages) {
  ExpectMessages(Row(R"({"messages": [{"role": "system", "content": "S"},
                        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                        {"role": "user", "content": "Q2"},
                        {"role": "assistant", "content": "A2"}]})"),
                 Msgs({{"system", "S"},
                       {"user", "Q1"},
                       {"assistant", "A1"},
                       {"user", "Q2"},
                       {"assistant", "A2"}}));
  // A top-level system applies when the turns have none, and loses to one they have.
  ExpectMessages(Row(R"({"system": "Top", "messages": [{"role": "user", "content": "Q"},
                        {"role": "assistant", "content": "A"}]})"),
                 Msgs({{"system", "Top"}, {"user", "Q"}, {"assistant", "A"}}));
  ExpectMessages(Row(R"({"system": "Top", "messages": [{"role": "system", "content": "Own"},
                        {"role": "user", "content": "Q"},
                        {"role": "assistant", "content": "A"}]})"),
                 Msgs({{"system", "Own"}, {"user", "Q"}, {"assistant", "A"}}));
}

TEST(DatasetRows, ShareGpt) {
  ExpectMessages(Row(R"({"conversations": [{"from": "system", "value": "S"},
                        {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})"),
                 Msgs({{"system", "S"}, {"user", "Q"}, {"assistant", "A"}}));
  ExpectMessages(Row(R"({"conversations": [{"role": "user", "content": "Q"},
                        {"role": "assistant", "content": "A"}]})"),
                 Msgs({{"user", "Q"}, {"assistant", "A"}}));
}

TEST(DatasetRows, QueryResponse) {
  auto conv = Row(R"({"query": "Q3", "response": "A3", "history": [["Q1", "A1"], ["Q2", "A2"]],
                     "system": "S", "tag": "en"})");
  ExpectMessages(conv, Msgs({{"system", "S"},
                             {"user", "Q1"},
                             {"assistant", "A1"},
                             {"user", "Q2"},
                             {"assistant", "A2"},
                             {"user", "Q3"},
                             {"assistant", "A3"}}));
  EXPECT_EQ(conv->tag, "en");
  EXPECT_EQ(conv->origin, "t.jsonl:7");
  ExpectMessages(Row(R"({"query": "Q", "response": "A", "history": null})"),
                 Msgs({{"user", "Q"}, {"assistant", "A"}}));
}

TEST(DatasetRows, Errors) {
  EXPECT_TRUE(FailsWith(Row(R"({"prompt": "p"})").status(),
                        {"t.jsonl:7: row has neither 'messages', 'conversations', 'instruction' "
                         "nor 'query'"}));
  EXPECT_TRUE(FailsWith(Row(R"([1, 2])").status(), {"t.jsonl:7", "not a JSON object"}));
  EXPECT_TRUE(FailsWith(Row(R"({"instruction": "i"})").status(), {"t.jsonl:7", "'output'"}));
  EXPECT_TRUE(FailsWith(Row(R"({"instruction": "", "output": "o"})").status(),
                        {"t.jsonl:7", "'instruction' and 'input' are empty"}));
  EXPECT_TRUE(FailsWith(Row(R"({"query": "q", "response": 3})").status(),
                        {"t.jsonl:7", "'response'", "expected a string, got number"}));
  EXPECT_TRUE(FailsWith(Row(R"({"query": "q", "response": ""})").status(),
                        {"t.jsonl:7", "'response' is empty"}));
  EXPECT_TRUE(
      FailsWith(Row(R"({"query": "q", "response": "r", "history": [["only one"]]})").status(),
                {"t.jsonl:7", "history[0]"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": "hi"})").status(), {"t.jsonl:7", "array of turns"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": [{"role": "user", "content": "q"},
                                {"role": "assistant"}]})")
                            .status(),
                        {"t.jsonl:7: messages[1]", "missing key 'content'"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": [{"role": "user", "content": "q"},
                                {"role": "assistant", "content": ""}]})")
                            .status(),
                        {"messages[1]", "empty content"}));
  EXPECT_TRUE(FailsWith(Row(R"({"conversations": [{"from": "human", "value": "q"},
                                {"from": "tool", "value": "x"}]})")
                            .status(),
                        {"conversations[1]", "unsupported role 'tool'"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": [{"role": "user", "content": "q"},
                                {"role": "assistant", "content": "a"},
                                {"role": "user", "content": "q2"}]})")
                            .status(),
                        {"t.jsonl:7", "ends with a 'user' turn"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": [{"role": "assistant", "content": "a"}]})").status(),
                        {"t.jsonl:7", "turn 0 is 'assistant'"}));
  EXPECT_TRUE(FailsWith(Row(R"({"messages": [{"role": "system", "content": "s"}]})").status(),
                        {"no turns"}));
  EXPECT_TRUE(FailsWith(Row(R"({"query": "q", "response": "r", "tag": 1})").status(), {"'tag'"}));
}

}  // namespace
}  // namespace baton
