#include "data/conversation.h"

#include <optional>

namespace baton {
namespace {

// A string member that may be absent or null; any other type is an error.
Result<std::optional<std::string>> OptionalString(const Json& obj, std::string_view key,
                                                  std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return InvalidArgument("{}: key '{}': expected a string, got {}", where, key, it->type_name());
  }
  return std::optional<std::string>(it->get<std::string>());
}

// A string member that must be present and non-empty.
Result<std::string> RequiredString(const Json& obj, std::string_view key, std::string_view where) {
  BATON_ASSIGN_OR_RETURN(std::string value, JsonString(obj, key, where));
  if (value.empty()) return InvalidArgument("{}: key '{}' is empty", where, key);
  return value;
}

Result<std::string> NormaliseRole(std::string_view role, std::string_view where) {
  if (role == "user" || role == "human") return std::string("user");
  if (role == "assistant" || role == "gpt" || role == "bot") return std::string("assistant");
  if (role == "system") return std::string("system");
  return InvalidArgument(
      "{}: unsupported role '{}' (expected user/human, assistant/gpt/bot or system)", where, role);
}

// The first of `keys` present in `turn` (ShareGPT files use from/value, OpenAI ones role/content).
Result<std::string> TurnField(const Json& turn, std::initializer_list<std::string_view> keys,
                              std::string_view where) {
  for (std::string_view key : keys) {
    if (turn.contains(key)) return JsonString(turn, key, where);
  }
  auto first = *keys.begin(), second = *(keys.begin() + 1);
  return InvalidArgument("{}: missing key '{}' (or '{}')", where, first, second);
}

Result<std::vector<ChatMessage>> ParseTurns(const Json& row, std::string_view list_key,
                                            std::string_view where) {
  const Json& list = row[std::string(list_key)];
  if (!list.is_array()) {
    return InvalidArgument("{}: key '{}': expected an array of turns, got {}", where, list_key,
                           list.type_name());
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string turn_where = fmt::format("{}: {}[{}]", where, list_key, i);
    const Json& turn = list[i];
    if (!turn.is_object()) {
      return InvalidArgument("{}: expected an object, got {}", turn_where, turn.type_name());
    }
    BATON_ASSIGN_OR_RETURN(std::string role, TurnField(turn, {"role", "from"}, turn_where));
    BATON_ASSIGN_OR_RETURN(role, NormaliseRole(role, turn_where));
    BATON_ASSIGN_OR_RETURN(std::string content, TurnField(turn, {"content", "value"}, turn_where));
    if (content.empty() && role != "system") {
      return InvalidArgument("{}: empty content", turn_where);
    }
    messages.push_back({std::move(role), std::move(content)});
  }
  return messages;
}

Result<std::vector<ChatMessage>> ParseAlpaca(const Json& row, std::string_view where) {
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> instruction,
                         OptionalString(row, "instruction", where));
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> input, OptionalString(row, "input", where));
  std::string inst = instruction.value_or(""), in = input.value_or("");
  // ms-swift's AlpacaPreprocessor.concat_inst_input: both -> "instruction\ninput", else either.
  std::string query = !inst.empty() && !in.empty() ? inst + "\n" + in : inst.empty() ? in : inst;
  if (query.empty()) return InvalidArgument("{}: keys 'instruction' and 'input' are empty", where);
  BATON_ASSIGN_OR_RETURN(std::string output, RequiredString(row, "output", where));
  return std::vector<ChatMessage>{{"user", std::move(query)}, {"assistant", std::move(output)}};
}

Result<std::vector<ChatMessage>> ParseQueryResponse(const Json& row, std::string_view where) {
  std::vector<ChatMessage> messages;
  auto history = row.find("history");
  if (history != row.end() && !history->is_null()) {
    if (!history->is_array()) {
      return InvalidArgument(
          "{}: key 'history': expected an array of [query, response] pairs, "
          "got {}",
          where, history->type_name());
    }
    for (size_t i = 0; i < history->size(); ++i) {
      const Json& pair = (*history)[i];
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        return InvalidArgument("{}: history[{}]: expected [query, response] (two strings)", where,
                               i);
      }
      if (pair[0].get_ref<const std::string&>().empty() ||
          pair[1].get_ref<const std::string&>().empty()) {
        return InvalidArgument("{}: history[{}]: empty query or response", where, i);
      }
      messages.push_back({"user", pair[0].get<std::string>()});
      messages.push_back({"assistant", pair[1].get<std::string>()});
    }
  }
  BATON_ASSIGN_OR_RETURN(std::string query, RequiredString(row, "query", where));
  BATON_ASSIGN_OR_RETURN(std::string response, RequiredString(row, "response", where));
  messages.push_back({"user", std::move(query)});
  messages.push_back({"assistant", std::move(response)});
  return messages;
}

// The chat templates accept any order, but a training row must be question/answer pairs that end
// with the answer: that is what ms-swift's template asserts, and what the loss mask assumes.
Status CheckTurnOrder(const std::vector<ChatMessage>& messages, std::string_view where) {
  size_t first = !messages.empty() && messages[0].role == "system" ? 1 : 0;
  if (first == messages.size()) return InvalidArgument("{}: conversation has no turns", where);
  for (size_t i = first; i < messages.size(); ++i) {
    std::string_view want = (i - first) % 2 == 0 ? "user" : "assistant";
    if (messages[i].role != want) {
      return InvalidArgument(
          "{}: turn {} is '{}' where '{}' was expected (after an optional system message, turns "
          "must alternate user, assistant)",
          where, i, messages[i].role, want);
    }
  }
  if (messages.back().role != "assistant") {
    return InvalidArgument(
        "{}: conversation ends with a 'user' turn; the last turn must be the assistant's answer",
        where);
  }
  return Status::Ok();
}

}  // namespace

Result<Conversation> ConversationFromRow(const Json& row, std::string_view where) {
  if (!row.is_object()) {
    return InvalidArgument("{}: row is not a JSON object (got {})", where, row.type_name());
  }
  Conversation conv;
  conv.origin = std::string(where);
  if (row.contains("messages")) {
    BATON_ASSIGN_OR_RETURN(conv.messages, ParseTurns(row, "messages", where));
  } else if (row.contains("conversations")) {
    BATON_ASSIGN_OR_RETURN(conv.messages, ParseTurns(row, "conversations", where));
  } else if (row.contains("instruction")) {
    BATON_ASSIGN_OR_RETURN(conv.messages, ParseAlpaca(row, where));
  } else if (row.contains("query")) {
    BATON_ASSIGN_OR_RETURN(conv.messages, ParseQueryResponse(row, where));
  } else {
    return InvalidArgument(
        "{}: row has neither 'messages', 'conversations', 'instruction' nor 'query'", where);
  }
  // An empty leading system message means "no system" in ms-swift; drop it so the default applies.
  if (!conv.messages.empty() && conv.messages[0].role == "system" &&
      conv.messages[0].content.empty()) {
    conv.messages.erase(conv.messages.begin());
  }
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> system, OptionalString(row, "system", where));
  bool has_system = !conv.messages.empty() && conv.messages[0].role == "system";
  if (system && !system->empty() && !has_system) {
    conv.messages.insert(conv.messages.begin(), {"system", std::move(*system)});
  }
  BATON_RETURN_IF_ERROR(CheckTurnOrder(conv.messages, where));
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> tag, OptionalString(row, "tag", where));
  conv.tag = tag.value_or("");
  return conv;
}

}  // namespace baton
