// A small backtracking regular-expression engine over Unicode code points, for the split patterns
// of Hugging Face tokenizer.json files. Semantics follow Oniguruma (Ruby syntax), which HF
// tokenizers uses: leftmost-first alternation, greedy quantifiers with backtracking.
//
// Supported: literals and escapes (\n \r \t \f \v \a \e \0 \xHH \x{H..} \uHHHH, escaped
// punctuation), '.', alternation, groups ( ) (?: ) (?i: ) (?-i: ), classes [..] [^..] with
// ranges, \p{..} \P{..} \pL (general categories, see CategoryMaskFromName), \s \S \d \D \w \W
// (Unicode: White_Space, Nd, L|M|Nd|Pc), quantifiers ? * + {m} {m,} {m,n} {,n} and their lazy
// forms (suffix ?), lookahead (?= ) (?! ), anchors ^ $ (line) \A \z \Z.
// Anything else (lookbehind, backreferences, possessive quantifiers, nested classes, inline flags
// without a group, ...) fails to compile with an error naming the pattern and the position:
// a pattern is never matched with a silently different meaning.
// Case-insensitive matching uses Unicode simple case folding.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace baton {

namespace regex_internal {
struct Program;
}

class Regex {
 public:
  static Result<Regex> Compile(std::string_view pattern);

  // Finds the leftmost match starting at or after `start` (code point offsets into `text`).
  // On success stores the match as [*begin, *end).
  bool Search(std::u32string_view text, size_t start, size_t* begin, size_t* end) const;
  // True when a match starts exactly at `pos`; stores its end.
  bool MatchAt(std::u32string_view text, size_t pos, size_t* end) const;
  // All non-overlapping, non-empty matches from left to right as [begin, end) pairs; after an
  // empty match the search moves on by one code point (like Rust's find_iter).
  std::vector<std::pair<size_t, size_t>> FindAll(std::u32string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(std::string pattern, std::shared_ptr<const regex_internal::Program> program)
      : pattern_(std::move(pattern)), program_(std::move(program)) {}

  std::string pattern_;
  std::shared_ptr<const regex_internal::Program> program_;  // immutable, so copies share it
};

}  // namespace baton
