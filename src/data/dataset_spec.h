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

namespace baton {

struct DatasetSpec {
  std::string text;               // as written, e.g. "data/a.jsonl#500"
  std::string path;               // file or folder; empty for a built-in dataset
  std::string builtin;            // "self-cognition", or empty
  std::optional<int64_t> sample;  // N of "#N"
  // Rows get {{NAME}}/{{AUTHOR}} filled in: the built-in, or a path named like it (ms-swift
  // matches a local dataset to a registered one by its name, so its preprocessor applies).
  bool self_cognition = false;
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

// Reads the rows of one dataset (not yet sampled; self-cognition placeholders not yet filled).
Result<std::vector<Conversation>> LoadDatasetRows(Env* env, const DatasetSpec& spec);

}  // namespace baton
