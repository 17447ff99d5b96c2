// The "pre_tokenizer" of a tokenizer.json: splits normalized text into words that BPE encodes
// independently. Supported: "Sequence", "Split" (Regex or String pattern; behaviors Isolated,
// Removed, MergedWithPrevious, MergedWithNext, Contiguous; invert) and "ByteLevel"
// (add_prefix_space; use_regex applies GPT-2's split pattern). ByteLevel must come last, because
// the BPE model works on the raw bytes it stands for. Other types are errors naming the file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "text/regex.h"

namespace baton {

class PreTokenizer {
 public:
  static Result<PreTokenizer> FromJson(const Json& pre_tokenizer, std::string_view source);

  // Appends the words of `text` (valid UTF-8) to `words`, as UTF-8 strings.
  void Split(std::string_view text, std::vector<std::string>* words) const;
  // True when the pipeline ends with ByteLevel (the only alphabet the BPE model supports).
  bool byte_level() const { return byte_level_; }

 private:
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step {
    enum Kind { kRegexSplit, kStringSplit, kPrefixSpace } kind = kRegexSplit;
    std::optional<Regex> regex;
    std::u32string literal;
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
  };
  Status Add(const Json& j, std::string_view source);
  void ApplyStep(const Step& step, std::u32string_view piece,
                 std::vector<std::u32string>* out) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace baton
