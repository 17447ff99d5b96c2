// Chat templates: turn a conversation into the exact text the model was trained on, as the
// Jinja chat_template of the model's tokenizer_config.json renders it (no Jinja engine: the three
// supported formats are written out by hand and tested against the templates' outputs).
//   kChatML      Qwen2.5:  <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//   kDeepSeekR1  R1-Distill:
//   <｜begin▁of▁sentence｜>{system}<｜User｜>{q}<｜Assistant｜>{a}<｜end▁of▁sentence｜>
//                ... <｜Assistant｜><think>\n
//   kLlama3      Llama-3 Instruct: <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n
//                {content|trim}<|eot_id|> ... <|start_header_id|>assistant<|end_header_id|>\n\n
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace baton {

class Tokenizer;

enum class ChatTemplateKind { kChatML, kDeepSeekR1, kLlama3 };

// The system prompt Qwen2.5's template inserts when a conversation has none.
inline constexpr std::string_view kQwen25DefaultSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// One piece of a rendered conversation. `trainable` marks assistant output: the content of an
// assistant turn plus its end-of-turn token; everything else (markers, roles, prompts) is not.
struct ChatSegment {
  std::string text;
  bool trainable = false;
};

struct ChatRenderOptions {
  // Append the opening of an assistant turn, for generation.
  bool add_generation_prompt = false;
  // ChatML only: the system prompt used when the conversation has no system message; empty
  // means none (Qwen2.5's template uses kQwen25DefaultSystem, Qwen2's "You are a helpful
  // assistant.").
  std::string default_system;
};

// "chatml" or "qwen", "deepseek_r1", "llama3".
Result<ChatTemplateKind> ParseChatTemplateKind(std::string_view name);
std::string_view ChatTemplateName(ChatTemplateKind kind);

// What a model folder's tokenizer_config.json says about its chat template.
struct DetectedChatTemplate {
  ChatTemplateKind kind;
  std::string default_system;  // ChatML: the default system prompt the template inserts, if any
};
// Recognizes the format from the Jinja source of a chat_template.
Result<DetectedChatTemplate> DetectChatTemplate(std::string_view jinja, std::string_view source);
// Reads <model_dir>/tokenizer_config.json. A missing file, a missing chat_template or an unknown
// one gives an error suggesting --template.
Result<DetectedChatTemplate> DetectChatTemplateInDir(Env* env, const std::string& model_dir);

// Renders `messages` (roles system/user/assistant; any other role is an error). As in the
// templates: kChatML/kLlama3 render a leading system message as the system turn and later ones
// as turns of their own; kDeepSeekR1 puts the last system message right after BOS.
// kDeepSeekR1 drops the reasoning up to "</think>" from assistant turns, as its template does,
// except in a final assistant turn (the training target keeps its reasoning, as ms-swift does).
// Segment boundaries are where a caller building loss masks should tokenize separately.
Result<std::vector<ChatSegment>> RenderChatSegments(ChatTemplateKind kind,
                                                    const std::vector<ChatMessage>& messages,
                                                    const ChatRenderOptions& options);
// The concatenation of RenderChatSegments.
Result<std::string> RenderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                               const ChatRenderOptions& options);

// Strings that end an assistant turn when generating (end-of-turn first).
std::vector<std::string> ChatStopStrings(ChatTemplateKind kind);
// The ids of ChatStopStrings that are single tokens of `tokenizer`.
std::vector<int32_t> ChatStopTokenIds(ChatTemplateKind kind, const Tokenizer& tokenizer);

}  // namespace baton
