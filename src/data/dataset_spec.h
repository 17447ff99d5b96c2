// The --dataset argument: each value is PATH[#N] or a built-in name[#N], as in `swift sft`.
// Values may come as several arguments or as one string with spaces (a quoted list).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "data/conversation.h"
#include "data/row_mapping.h"

namespace baton {

struct DatasetSpec {
  std::string text;               // as written, e.g. "data/a.jsonl#500"
  std::string path;               // file or folder; empty for a built-in dataset
  std::string builtin;            // "self-cognition", or empty
  std::optional<int64_t> sample;  // N of "#N"
  // Rows get {{NAME}}/{{AUTHOR}} filled in: the built-in, a folder named self-cognition (ms-swift
  // matches a local folder to a registered dataset by its last path component, so that dataset's
  // preprocessor applies), or a file named self_cognition.json[l] / self-cognition.json[l].
  bool self_cognition = false;
  // A folder's ms-swift rule by its name (RuleForFolder); kNone for files.
  DatasetRule rule = DatasetRule::kNone;
  bool folder = false;
};

// "data/a.jsonl#500" -> {"data/a.jsonl", "#500"}: a trailing sample count ('#' then digits only)
// apart from the location before it; {value, ""} when there is none. The one "#N" rule for every
// place that moves or fetches a dataset (a store URL is fetched without its count, a relative
// path made absolute) and puts the count back.
std::pair<std::string, std::string> SplitSampleSuffix(std::string_view value);

// Splits and resolves --dataset values. A value naming an existing file or folder is taken whole
// (even with '#' or spaces in it); otherwise it is split on spaces and each part on its last '#'.
// "self-cognition" (also ms-swift's ids "swift/self-cognition", "modelscope/self-cognition")
// is built in. Unknown names, hub ids and bad counts are errors naming the value.
Result<std::vector<DatasetSpec>> ParseDatasetSpecs(Env* env, const std::vector<std::string>& args);

// Reads the rows of one dataset (not yet sampled; self-cognition placeholders not yet filled),
// its columns renamed by `columns` (--columns) and mapped as ms-swift maps them.
Result<std::vector<Conversation>> LoadDatasetRows(
    Env* env, const DatasetSpec& spec, const std::map<std::string, std::string>& columns = {});

// The line Baton prints at start for a folder that no ms-swift rule applies to (nullopt for
// others), so that a user who renamed self-cognition/ learns why {{NAME}} was not filled in.
std::optional<std::string> FolderRuleNotice(const DatasetSpec& spec);

}  // namespace baton
