// Conversation: what every dataset row becomes, whatever shape it came in (alpaca, messages,
// sharegpt, query/response). The rest of the data layer only sees this.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "text/chat_template.h"

namespace baton {

struct Conversation {
  // An optional leading system message, then user and assistant turns alternating, starting with
  // user and ending with assistant (the answer that is trained on). No content is empty.
  std::vector<ChatMessage> messages;
  // The row's "tag" ("zh" or "en" in self-cognition rows); empty when absent.
  std::string tag;
  // "FILE:LINE" of the row, for messages about it after it was read.
  std::string origin;
};

// Normalises one row, recognised by its keys (first match wins):
//   messages       {"messages": [{"role", "content"}, ...], "system"?}   (OpenAI)
//   conversations  {"conversations": [{"from", "value"}, ...], "system"?} (ShareGPT)
//   instruction    {"instruction", "input"?, "output", "system"?}        (Alpaca)
//   query          {"query", "response", "history"?: [[q, a], ...], "system"?}
// Turns accept role/from and content/value keys in both list shapes; roles user|human,
// assistant|gpt|bot, system. As ms-swift does, an Alpaca "input" is appended to the instruction
// after a newline; an empty "system" counts as absent (the template's default applies).
// Errors start with `where` (e.g. "data/a.jsonl:17") and name the key at fault.
Result<Conversation> ConversationFromRow(const Json& row, std::string_view where);

}  // namespace baton
