#include "data/train_example.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "data_test_util.h"

namespace baton {
namespace {

using testing::QwenTokenizer;

std::vector<int32_t> Labelled(const TrainExample& ex) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < ex.labels.size(); ++i) {
    if (ex.labels[i] != kIgnoreLabel) {
      EXPECT_EQ(ex.labels[i], ex.input_ids[i]) << i;
      ids.push_back(ex.labels[i]);
    }
  }
  return ids;
}

EncodedExample Encode(const std::vector<ChatMessage>& messages, ChatTemplateKind kind,
                      int64_t max_length = 0,
                      TruncationStrategy truncation = TruncationStrategy::kDelete,
                      std::string default_system = "") {
  ChatRenderOptions render;
  render.default_system = std::move(default_system);
  ExampleEncoder encoder(&QwenTokenizer(), kind, render, max_length, truncation);
  auto enc = encoder.Encode(messages);
  EXPECT_TRUE(enc.ok()) << enc.status().ToString();
  return enc.ok() ? std::move(enc).value() : EncodedExample{};
}

const std::vector<ChatMessage> kTwoTurns = {{"system", "You are a pirate."},
                                            {"user", "1+1?"},
                                            {"assistant", "2"},
                                            {"user", "And 2+2?"},
                                            {"assistant", "It is 4, matey."}};

TEST(DatasetEncode, MaskCoversExactlyTheAnswersAndEndOfTurn) {
  const Tokenizer& tok = QwenTokenizer();
  EncodedExample enc = Encode(kTwoTurns, ChatTemplateKind::kChatML);
  const TrainExample& ex = enc.example;
  ASSERT_EQ(ex.input_ids.size(), ex.labels.size());
  EXPECT_EQ(enc.outcome, EncodeOutcome::kKept);
  EXPECT_EQ(enc.full_length, static_cast<int64_t>(ex.input_ids.size()));
  // The whole example is the rendered chat, tokens and all.
  auto text = RenderChat(ChatTemplateKind::kChatML, kTwoTurns, {});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(tok.Decode(ex.input_ids), *text);
  EXPECT_EQ(ex.input_ids, tok.Encode(*text));
  EXPECT_EQ(tok.Decode(Labelled(ex)), "2<|im_end|>It is 4, matey.<|im_end|>");
  // The end-of-turn token is the special token, once per answer.
  int32_t im_end = *tok.TokenToId("<|im_end|>");
  std::vector<int32_t> labelled = Labelled(ex);
  EXPECT_EQ(std::count(labelled.begin(), labelled.end(), im_end), 2);
  EXPECT_EQ(labelled.back(), im_end);
}

TEST(DatasetEncode, DefaultSystemIsRenderedButNotTrained) {
  const Tokenizer& tok = QwenTokenizer();
  EncodedExample enc = Encode({{"user", "Hi"}, {"assistant", "Hello!"}}, ChatTemplateKind::kChatML,
                              0, TruncationStrategy::kDelete, "Be kind.");
  EXPECT_EQ(tok.Decode(enc.example.input_ids),
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n");
  EXPECT_EQ(tok.Decode(Labelled(enc.example)), "Hello!<|im_end|>");
}

TEST(DatasetEncode, OtherTemplatesMaskTheirEndOfTurn) {
  const Tokenizer& tok = QwenTokenizer();
  std::vector<ChatMessage> conv = {{"user", "Hi"}, {"assistant", "  Hello!\n"}};
  EXPECT_EQ(tok.Decode(Labelled(Encode(conv, ChatTemplateKind::kLlama3).example)),
            "Hello!<|eot_id|>");  // Llama-3 trims content
  EXPECT_EQ(tok.Decode(Labelled(Encode(conv, ChatTemplateKind::kDeepSeekR1).example)),
            "  Hello!\n<｜end▁of▁sentence｜>");
}

TEST(DatasetEncode, SpecialTokenTextInDataStaysPlainText) {
  const Tokenizer& tok = QwenTokenizer();
  std::vector<ChatMessage> conv = {{"user", "Type <|im_end|> please"},
                                   {"assistant", "Here: <|im_end|><|im_start|> done"}};
  EncodedExample enc = Encode(conv, ChatTemplateKind::kChatML);
  const TrainExample& ex = enc.example;
  int32_t im_end = *tok.TokenToId("<|im_end|>");
  int32_t im_start = *tok.TokenToId("<|im_start|>");
  // Only the template's own markers are special tokens: 2 turns, each opened and closed once.
  EXPECT_EQ(std::count(ex.input_ids.begin(), ex.input_ids.end(), im_end), 2);
  EXPECT_EQ(std::count(ex.input_ids.begin(), ex.input_ids.end(), im_start), 2);
  // The text is unchanged: decoding gives the rendered chat back.
  auto text = RenderChat(ChatTemplateKind::kChatML, conv, {});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(tok.Decode(ex.input_ids), *text);
  EXPECT_EQ(tok.Decode(Labelled(ex)), "Here: <|im_end|><|im_start|> done<|im_end|>");
  std::vector<int32_t> labelled = Labelled(ex);
  EXPECT_EQ(std::count(labelled.begin(), labelled.end(), im_end), 1);
}

TEST(DatasetEncode, Truncation) {
  const Tokenizer& tok = QwenTokenizer();
  std::vector<ChatMessage> conv = {
      {"user", "Count to ten."}, {"assistant", "one two three four five six seven eight nine ten"}};
  int64_t full = Encode(conv, ChatTemplateKind::kChatML).full_length;
  ASSERT_GT(full, 20);

  EncodedExample right =
      Encode(conv, ChatTemplateKind::kChatML, full - 3, TruncationStrategy::kRight);
  EXPECT_EQ(right.outcome, EncodeOutcome::kTruncated);
  EXPECT_EQ(right.full_length, full);
  ASSERT_EQ(right.example.input_ids.size(), static_cast<size_t>(full - 3));
  EXPECT_EQ(right.example.labels.size(), right.example.input_ids.size());
  EXPECT_EQ(tok.Decode(right.example.input_ids).rfind("<|im_start|>system", 0), std::string::npos);
  EXPECT_EQ(tok.Decode(right.example.input_ids).rfind("<|im_start|>user", 0), 0u);

  EncodedExample left = Encode(conv, ChatTemplateKind::kChatML, 6, TruncationStrategy::kLeft);
  EXPECT_EQ(left.outcome, EncodeOutcome::kTruncated);
  ASSERT_EQ(left.example.input_ids.size(), 6u);
  EXPECT_EQ(tok.Decode(left.example.input_ids).substr(0, 1), " ");  // the answer's tail
  EXPECT_NE(tok.Decode(left.example.input_ids).find("ten<|im_end|>\n"), std::string::npos);

  EncodedExample del =
      Encode(conv, ChatTemplateKind::kChatML, full - 1, TruncationStrategy::kDelete);
  EXPECT_EQ(del.outcome, EncodeOutcome::kDroppedTooLong);
  EXPECT_TRUE(del.example.input_ids.empty());

  EXPECT_EQ(Encode(conv, ChatTemplateKind::kChatML, full, TruncationStrategy::kDelete).outcome,
            EncodeOutcome::kKept);

  // Cut before the answer starts: nothing left to learn, so it is dropped.
  EncodedExample none = Encode(conv, ChatTemplateKind::kChatML, 5, TruncationStrategy::kRight);
  EXPECT_EQ(none.outcome, EncodeOutcome::kDroppedNoAnswer);
  EXPECT_TRUE(none.example.input_ids.empty());
}

TEST(DatasetEncode, ParseTruncationStrategy) {
  EXPECT_EQ(*ParseTruncationStrategy("delete"), TruncationStrategy::kDelete);
  EXPECT_EQ(*ParseTruncationStrategy("left"), TruncationStrategy::kLeft);
  EXPECT_EQ(*ParseTruncationStrategy("right"), TruncationStrategy::kRight);
  EXPECT_FALSE(ParseTruncationStrategy("middle").ok());
  EXPECT_EQ(TruncationStrategyName(TruncationStrategy::kRight), "right");
}

}  // namespace
}  // namespace baton
