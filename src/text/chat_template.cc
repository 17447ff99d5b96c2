#include "text/chat_template.h"

#include "base/json.h"
#include "text/tokenizer.h"

namespace baton {
namespace {

constexpr std::string_view kImStart = "<|im_start|>", kImEnd = "<|im_end|>";
constexpr std::string_view kDsBos = "<｜begin▁of▁sentence｜>", kDsEos = "<｜end▁of▁sentence｜>";
constexpr std::string_view kDsUser = "<｜User｜>", kDsAssistant = "<｜Assistant｜>";
constexpr std::string_view kL3Bos = "<|begin_of_text|>", kL3Eot = "<|eot_id|>";
constexpr std::string_view kL3HeaderStart = "<|start_header_id|>",
                           kL3HeaderEnd = "<|end_header_id|>\n\n";

// Appends to the last segment when it has the same trainability, so segments alternate.
void Append(std::vector<ChatSegment>* out, std::string_view text, bool trainable) {
  if (text.empty()) return;
  if (!out->empty() && out->back().trainable == trainable) {
    out->back().text += text;
  } else {
    out->push_back({std::string(text), trainable});
  }
}

// Jinja's `trim` filter (Python str.strip()) for the whitespace that occurs in chat text.
std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

Status CheckRoles(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return InvalidArgument(
          "chat message {}: unsupported role '{}' (expected system, user or "
          "assistant)",
          i, r);
    }
  }
  return Status::Ok();
}

void RenderChatML(const std::vector<ChatMessage>& messages, const ChatRenderOptions& opt,
                  std::vector<ChatSegment>* out) {
  size_t first = 0;
  std::string_view system = opt.default_system;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    first = 1;
  }
  bool has_system = first == 1 || !system.empty();
  if (has_system) Append(out, fmt::format("{}system\n{}{}\n", kImStart, system, kImEnd), false);
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    Append(out, fmt::format("{}{}\n", kImStart, m.role), false);
    if (m.role == "assistant") {
      Append(out, m.content + std::string(kImEnd), true);
      Append(out, "\n", false);
    } else {
      Append(out, m.content + std::string(kImEnd) + "\n", false);
    }
  }
  if (opt.add_generation_prompt) Append(out, fmt::format("{}assistant\n", kImStart), false);
}

void RenderDeepSeekR1(const std::vector<ChatMessage>& messages, const ChatRenderOptions& opt,
                      std::vector<ChatSegment>* out) {
  std::string_view system;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") system = m.content;
  }
  Append(out, std::string(kDsBos) + std::string(system), false);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user") {
      Append(out, std::string(kDsUser) + m.content, false);
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      bool final_turn = i + 1 == messages.size();
      size_t think_end = content.rfind("</think>");
      if (!final_turn && think_end != std::string_view::npos) {
        content = content.substr(think_end + std::string_view("</think>").size());
      }
      Append(out, kDsAssistant, false);
      Append(out, std::string(content) + std::string(kDsEos), true);
    }
  }
  if (opt.add_generation_prompt) Append(out, std::string(kDsAssistant) + "<think>\n", false);
}

void RenderLlama3(const std::vector<ChatMessage>& messages, const ChatRenderOptions& opt,
                  std::vector<ChatSegment>* out) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    Append(out, fmt::format("{}{}{}{}", i == 0 ? kL3Bos : "", kL3HeaderStart, m.role, kL3HeaderEnd),
           false);
    std::string body = std::string(Trim(m.content)) + std::string(kL3Eot);
    Append(out, body, m.role == "assistant");
  }
  if (opt.add_generation_prompt) {
    Append(out, fmt::format("{}assistant{}", kL3HeaderStart, kL3HeaderEnd), false);
  }
}

}  // namespace

Result<ChatTemplateKind> ParseChatTemplateKind(std::string_view name) {
  if (name == "chatml" || name == "qwen") return ChatTemplateKind::kChatML;
  if (name == "deepseek_r1") return ChatTemplateKind::kDeepSeekR1;
  if (name == "llama3") return ChatTemplateKind::kLlama3;
  return InvalidArgument(
      "unknown chat template '{}' (expected chatml, qwen, deepseek_r1 or llama3)", name);
}

std::string_view ChatTemplateName(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML:
      return "chatml";
    case ChatTemplateKind::kDeepSeekR1:
      return "deepseek_r1";
    case ChatTemplateKind::kLlama3:
      return "llama3";
  }
  return "?";
}

Result<DetectedChatTemplate> DetectChatTemplate(std::string_view jinja, std::string_view source) {
  DetectedChatTemplate d;
  if (jinja.find(kImStart) != std::string_view::npos) {
    d.kind = ChatTemplateKind::kChatML;
    if (jinja.find(kQwen25DefaultSystem) != std::string_view::npos) {
      d.default_system = kQwen25DefaultSystem;
    } else if (jinja.find("You are a helpful assistant.<|im_end|>") != std::string_view::npos) {
      d.default_system = "You are a helpful assistant.";  // Qwen2
    }
    return d;
  }
  if (jinja.find(kDsAssistant) != std::string_view::npos) {
    d.kind = ChatTemplateKind::kDeepSeekR1;
    return d;
  }
  if (jinja.find(kL3HeaderStart) != std::string_view::npos) {
    d.kind = ChatTemplateKind::kLlama3;
    return d;
  }
  return InvalidArgument(
      "{}: chat_template is not one Baton knows (chatml/qwen, deepseek_r1, "
      "llama3); pass --template to choose one",
      source);
}

Result<DetectedChatTemplate> DetectChatTemplateInDir(Env* env, const std::string& model_dir) {
  std::string path = JoinPath(model_dir, "tokenizer_config.json");
  if (!env->FileExists(path)) {
    return NotFound(
        "{}: no such file, so the chat template cannot be detected; pass --template "
        "(chatml, qwen, deepseek_r1 or llama3)",
        path);
  }
  BATON_ASSIGN_OR_RETURN(Json config, ReadJsonFile(env, path));
  auto it = config.find("chat_template");
  if (it != config.end() && it->is_array()) {
    // Some files list named templates; "default" is the one used for chat.
    for (const Json& t : *it) {
      if (t.is_object() && JsonStringOr(t, "name") == "default" && t.contains("template") &&
          t["template"].is_string()) {
        return DetectChatTemplate(t["template"].get<std::string>(), path);
      }
    }
  }
  if (it == config.end() || !it->is_string()) {
    return NotFound("{}: no chat_template; pass --template (chatml, qwen, deepseek_r1 or llama3)",
                    path);
  }
  return DetectChatTemplate(it->get<std::string>(), path);
}

Result<std::vector<ChatSegment>> RenderChatSegments(ChatTemplateKind kind,
                                                    const std::vector<ChatMessage>& messages,
                                                    const ChatRenderOptions& options) {
  BATON_RETURN_IF_ERROR(CheckRoles(messages));
  std::vector<ChatSegment> out;
  switch (kind) {
    case ChatTemplateKind::kChatML:
      RenderChatML(messages, options, &out);
      break;
    case ChatTemplateKind::kDeepSeekR1:
      RenderDeepSeekR1(messages, options, &out);
      break;
    case ChatTemplateKind::kLlama3:
      RenderLlama3(messages, options, &out);
      break;
  }
  return out;
}

Result<std::string> RenderChat(ChatTemplateKind kind, const std::vector<ChatMessage>& messages,
                               const ChatRenderOptions& options) {
  BATON_ASSIGN_OR_RETURN(std::vector<ChatSegment> segments,
                         RenderChatSegments(kind, messages, options));
  std::string text;
  for (const ChatSegment& s : segments) text += s.text;
  return text;
}

std::vector<std::string> ChatStopStrings(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML:
      return {std::string(kImEnd), "<|endoftext|>"};
    case ChatTemplateKind::kDeepSeekR1:
      return {std::string(kDsEos)};
    case ChatTemplateKind::kLlama3:
      return {std::string(kL3Eot), "<|end_of_text|>"};
  }
  return {};
}

std::vector<int32_t> ChatStopTokenIds(ChatTemplateKind kind, const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (const std::string& s : ChatStopStrings(kind)) {
    if (auto id = tokenizer.TokenToId(s)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace baton
