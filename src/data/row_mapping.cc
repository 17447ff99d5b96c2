#include "data/row_mapping.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "base/strings.h"

namespace baton {
namespace {

std::string ColumnList(const Json& row) {
  std::vector<std::string> keys;
  for (auto& [k, v] : row.items()) keys.push_back("'" + k + "'");
  return keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", "));
}

// The row's column for canonical key `key` among `aliases` (lower case): the column named `key`
// itself, else the one column whose lower-cased name is an alias. Two or more candidates are an
// error (ms-swift's row_keys_map renames none of them).
Result<std::optional<std::string>> FindColumn(const Json& row, std::string_view key,
                                              std::initializer_list<std::string_view> aliases,
                                              std::string_view where) {
  if (row.contains(key)) return std::optional<std::string>(std::string(key));
  std::vector<std::string> found;
  for (auto& [name, value] : row.items()) {
    std::string lower = AsciiLower(name);
    if (std::find(aliases.begin(), aliases.end(), lower) != aliases.end()) found.push_back(name);
  }
  if (found.empty()) return std::optional<std::string>();
  if (found.size() > 1) {
    return InvalidArgument(
        "{}: columns '{}' could each be the {}; pick one with --columns, e.g. --columns "
        "'{{\"{}\": \"{}\"}}'",
        where, fmt::join(found, "', '"), key, found[0], key);
  }
  return std::optional<std::string>(found[0]);
}

// A cell as text: strings as they are, null and absent as empty.
Result<std::string> Text(const Json& row, const std::optional<std::string>& column,
                         std::string_view where) {
  if (!column) return std::string();
  const Json& v = row[*column];
  if (v.is_null()) return std::string();
  if (!v.is_string()) {
    return InvalidArgument("{}: key '{}': expected a string, got {}", where, *column,
                           v.type_name());
  }
  return v.get<std::string>();
}

Status NoQueryResponse(const Json& row, std::string_view where, std::string_view missing) {
  return InvalidArgument(
      "{}: no '{}' column (the row's columns: {}); Baton reads messages/conversations, "
      "instruction+input+output, or query/response and ms-swift's aliases "
      "(prompt/question/instruction/input, answer/output/target/solution/text/completion/"
      "content); rename others with --columns, e.g. --columns '{{\"my_question\": \"query\", "
      "\"my_answer\": \"response\"}}'",
      where, missing, ColumnList(row));
}

}  // namespace

Result<std::map<std::string, std::string>> ParseColumnsFlag(std::string_view text) {
  std::map<std::string, std::string> out;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  BATON_ASSIGN_OR_RETURN(Json j, ParseJson(text, "--columns"));
  if (!j.is_object()) {
    return InvalidArgument(
        "--columns: expected a JSON object of column renames, e.g. '{{\"prompt\": \"query\"}}', "
        "got {}",
        j.type_name());
  }
  for (auto& [from, to] : j.items()) {
    if (!to.is_string() || to.get_ref<const std::string&>().empty()) {
      return InvalidArgument("--columns: key '{}': expected a column name (a non-empty string)",
                             from);
    }
    out[from] = to.get<std::string>();
  }
  return out;
}

DatasetRule RuleForFolder(std::string_view folder) {
  while (folder.size() > 1 && folder.back() == '/') folder.remove_suffix(1);
  std::string_view name = folder.substr(folder.rfind('/') + 1);
  // ms-swift's get_dataset_name: a hub cache snapshot is named by its repository.
  size_t snap = folder.find("/snapshots/");
  size_t repo = folder.rfind("datasets--", snap);
  if (snap != std::string_view::npos && repo != std::string_view::npos) {
    std::string_view id = folder.substr(repo, snap - repo);
    name = id.substr(id.rfind("--") + 2);
  }
  std::string lower = AsciiLower(name);
  if (lower == "self-cognition") return DatasetRule::kSelfCognition;
  if (lower == "alpaca-gpt4-data-zh") return DatasetRule::kAlpacaZh;
  return DatasetRule::kNone;
}

Result<Json> MapRowColumns(const Json& in, const RowMapping& mapping, std::string_view where) {
  if (!in.is_object()) {
    return InvalidArgument("{}: row is not a JSON object (got {})", where, in.type_name());
  }
  Json row = Json::object();
  for (auto& [k, v] : in.items()) {
    auto it = mapping.columns.find(k);
    const std::string& name = it == mapping.columns.end() ? k : it->second;
    if (row.contains(name)) {  // HF rename_columns refuses a name twice, too
      return InvalidArgument("{}: --columns makes two columns named '{}' (the row's columns: {})",
                             where, name, ColumnList(in));
    }
    row[name] = v;
  }
  Json out = Json::object();
  if (row.contains("tag")) out["tag"] = row["tag"];
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> system,
                         FindColumn(row, "system", {"system", "system_prompt"}, where));
  if (system) out["system"] = row[*system];
  BATON_ASSIGN_OR_RETURN(
      std::optional<std::string> messages,
      FindColumn(row, "messages", {"messages", "conversation", "conversations"}, where));
  if (messages) {
    Json list = row[*messages];
    if (list.is_string()) {  // a CSV cell (ms-swift: ast.literal_eval); JSON here
      Result<Json> parsed =
          ParseJson(list.get<std::string>(), fmt::format("{}: key '{}'", where, *messages));
      if (!parsed.ok()) return parsed.status();
      list = std::move(*parsed);
    }
    out["messages"] = std::move(list);
    return out;
  }
  std::optional<std::string> query_col;
  std::string query;
  bool alpaca = false;
  {
    BATON_ASSIGN_OR_RETURN(std::optional<std::string> inst,
                           FindColumn(row, "instruction", {"instruction"}, where));
    BATON_ASSIGN_OR_RETURN(std::optional<std::string> input,
                           FindColumn(row, "input", {"input"}, where));
    if (inst && input) {
      alpaca = true;
      BATON_ASSIGN_OR_RETURN(std::string i, Text(row, inst, where));
      BATON_ASSIGN_OR_RETURN(std::string x, Text(row, input, where));
      // llm.py AlpacaZhPreprocessor.concat_inst_input: `input_[3:]` after "输入：".
      constexpr std::string_view kZhInput = "输入：";
      if (mapping.rule == DatasetRule::kAlpacaZh && x.starts_with(kZhInput)) {
        x.erase(0, kZhInput.size());
      }
      // core.py AlpacaPreprocessor.concat_inst_input: both -> "instruction\ninput", else either.
      query = !i.empty() && !x.empty() ? i + "\n" + x : i.empty() ? x : i;
      if (query.empty()) {
        return InvalidArgument("{}: columns '{}' and '{}' are both empty", where, *inst, *input);
      }
    }
  }
  if (!alpaca) {
    BATON_ASSIGN_OR_RETURN(
        query_col,
        FindColumn(row, "query", {"query", "prompt", "input", "instruction", "question", "problem"},
                   where));
    if (!query_col) return NoQueryResponse(row, where, "query");  // nor an alias
    out["query"] = row[*query_col];
  } else {
    out["query"] = query;
  }
  std::optional<std::string> response_col;
  if (alpaca && row.contains("output")) {
    response_col = "output";
  } else {
    BATON_ASSIGN_OR_RETURN(
        response_col, FindColumn(row, "response",
                                 {"response", "answer", "output", "targets", "target", "answer_key",
                                  "answers", "solution", "text", "completion", "content"},
                                 where));
  }
  if (!response_col) return NoQueryResponse(row, where, alpaca ? "output" : "response");
  out["response"] = row[*response_col];
  for (auto [key, column] : {std::pair{"query", query_col}, std::pair{"response", response_col}}) {
    const Json& v = out[key];
    if (column && v.is_string() && v.get_ref<const std::string&>().empty()) {
      if (*column == key) return InvalidArgument("{}: key '{}' is empty", where, key);
      return InvalidArgument("{}: column '{}' (the {}) is empty", where, *column, key);
    }
  }
  if (row.contains("history")) {
    Json history = row["history"];
    if (history.is_string() && !history.get_ref<const std::string&>().empty()) {
      Result<Json> parsed =
          ParseJson(history.get<std::string>(), fmt::format("{}: key 'history'", where));
      if (!parsed.ok()) return parsed.status();
      history = std::move(*parsed);
    } else if (history.is_string()) {
      history = nullptr;
    }
    out["history"] = std::move(history);
  }
  return out;
}

}  // namespace baton
