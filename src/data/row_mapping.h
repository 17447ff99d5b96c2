// From a dataset row's columns to the row shapes ConversationFromRow reads, as ms-swift 3's
// AutoPreprocessor maps them (swift/llm/dataset/preprocessor/core.py @v3.12.6):
//   1. --columns renames columns first (RowPreprocessor.safe_rename_columns: only columns the
//      row has; names compared exactly);
//   2. a `messages`, `conversation` or `conversations` column: MessagesPreprocessor (a string
//      value, as CSV cells are, is parsed as JSON);
//   3. `instruction` and `input` both present: AlpacaPreprocessor, query "instruction\ninput"
//      (either alone when the other is empty), response from `output`;
//   4. otherwise ResponsePreprocessor: query from query|prompt|input|instruction|question|problem,
//      response from response|answer|output|targets|target|answer_key|answers|solution|text|
//      completion|content, system from system|system_prompt, and `history`.
// Column names are compared case-insensitively; when two columns could be the same key and
// neither is it exactly (e.g. `answer` and `output`), ms-swift renames neither, and Baton says
// which to pick with --columns.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace baton {

// The rules ms-swift applies to a dataset it recognises by name (loader.py
// `_get_matched_dataset_meta`: the folder's last path component against the registered ids'
// last components).
enum class DatasetRule {
  kNone,
  kSelfCognition,  // swift/self-cognition: {{NAME}}/{{AUTHOR}} filled in (llm.py)
  kAlpacaZh,       // AI-ModelScope/alpaca-gpt4-data-zh: a leading "输入：" cut from `input`
};

struct RowMapping {
  std::map<std::string, std::string> columns;  // --columns: old name -> new name
  DatasetRule rule = DatasetRule::kNone;
};

// --columns: a JSON object of column renames, e.g. {"prompt_text": "query", "reply": "response"}.
// Empty text means none. Errors name the flag.
Result<std::map<std::string, std::string>> ParseColumnsFlag(std::string_view text);

// The rule for a local dataset folder (by its last path component, case-insensitively, as
// ms-swift 3.2 compares; a Hugging Face cache path `datasets--org--name/snapshots/<rev>` by
// `name`); kNone for any other name.
DatasetRule RuleForFolder(std::string_view folder);

// `row` mapped to one of ConversationFromRow's shapes ({"messages", "system"?} or {"query",
// "response", "system"?, "history"?}), with `tag` kept. Errors start with `where` and list the
// row's columns.
Result<Json> MapRowColumns(const Json& row, const RowMapping& mapping, std::string_view where);

}  // namespace baton
