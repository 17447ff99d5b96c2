#include "data/self_cognition.h"

#include <gtest/gtest.h>

#include "data/dataset_reader.h"
#include "data_test_util.h"

namespace baton {
namespace {

using testing::FailsWith;

std::vector<Conversation> Builtin() {
  auto rows =
      ParseDatasetText(EmbeddedSelfCognitionJsonl(), "self-cognition", DatasetFormat::kJsonl);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? std::move(rows).value() : std::vector<Conversation>{};
}

TEST(DatasetSelfCognition, EmbeddedCopyMatchesTheShippedFile) {
  auto disk = ReadFileToString(testing::SourcePath("examples/data/self_cognition.jsonl"));
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  EXPECT_EQ(EmbeddedSelfCognitionJsonl(), *disk);
}

TEST(DatasetSelfCognition, ShippedRowsAreBilingualWithPlaceholders) {
  std::vector<Conversation> rows = Builtin();
  EXPECT_GE(rows.size(), 100u);
  int zh = 0, en = 0;
  for (const Conversation& r : rows) {
    ASSERT_EQ(r.messages.size(), 2u) << r.origin;
    zh += r.tag == "zh";
    en += r.tag == "en";
    EXPECT_NE(r.messages[1].content.find("{{NAME}}") == std::string::npos &&
                  r.messages[1].content.find("{{AUTHOR}}") == std::string::npos,
              true)
        << r.origin << " answer names neither the model nor its author";
  }
  EXPECT_EQ(zh + en, static_cast<int>(rows.size()));
  EXPECT_GE(zh, 50);
  EXPECT_GE(en, 50);
}

TEST(DatasetSelfCognition, FillsChineseAndEnglishValues) {
  std::vector<Conversation> rows = Builtin();
  ASSERT_TRUE(FillSelfCognition({"小黄", "Xiao Huang"}, {"魔搭", "ModelScope"}, &rows).ok());
  for (const Conversation& r : rows) {
    for (const ChatMessage& m : r.messages) {
      EXPECT_EQ(m.content.find("{{"), std::string::npos) << r.origin;
      if (r.tag == "zh") {
        EXPECT_EQ(m.content.find("Xiao Huang"), std::string::npos) << r.origin;
        EXPECT_EQ(m.content.find("ModelScope"), std::string::npos) << r.origin;
      } else {
        EXPECT_EQ(m.content.find("小黄"), std::string::npos) << r.origin;
        EXPECT_EQ(m.content.find("魔搭"), std::string::npos) << r.origin;
      }
    }
  }
  // The first rows of the shipped file: one Chinese, one English.
  EXPECT_EQ(rows[0].messages[1].content,
            "我是小黄，一个由魔搭训练的人工智能助手。有什么可以帮你的吗？");
  EXPECT_EQ(rows[1].messages[1].content,
            "I am Xiao Huang, an AI assistant trained by ModelScope. How can I help you today?");
}

TEST(DatasetSelfCognition, OneValueServesBothLanguages) {
  std::vector<Conversation> rows(2);
  rows[0] = {{{"user", "你是谁"}, {"assistant", "{{NAME}} / {{AUTHOR}}"}}, "zh", "x:1"};
  rows[1] = {{{"user", "Who is {{NAME}}?"}, {"assistant", "{{NAME}} by {{AUTHOR}}"}}, "en", "x:2"};
  ASSERT_TRUE(FillSelfCognition({"Baton"}, {"Acme"}, &rows).ok());
  EXPECT_EQ(rows[0].messages[1].content, "Baton / Acme");
  EXPECT_EQ(rows[1].messages[0].content, "Who is Baton?");
  EXPECT_EQ(rows[1].messages[1].content, "Baton by Acme");
}

TEST(DatasetSelfCognition, MissingNamesAreAnError) {
  std::vector<Conversation> rows = Builtin();
  EXPECT_TRUE(FailsWith(FillSelfCognition({}, {}, &rows),
                        {"self-cognition:1", "--model_name", "--model_author"}));
  rows = Builtin();
  EXPECT_TRUE(FailsWith(FillSelfCognition({"小黄", "Xiao Huang"}, {}, &rows),
                        {"{{AUTHOR}}", "--model_author was not given"}));
  rows = Builtin();
  EXPECT_TRUE(FailsWith(FillSelfCognition({"a", "b", "c"}, {"x", "y"}, &rows),
                        {"--model_name", "3 values"}));
  // Rows without placeholders need no names.
  std::vector<Conversation> plain(1);
  plain[0] = {{{"user", "q"}, {"assistant", "a"}}, "en", "x:1"};
  EXPECT_TRUE(FillSelfCognition({}, {}, &plain).ok());
}

}  // namespace
}  // namespace baton
