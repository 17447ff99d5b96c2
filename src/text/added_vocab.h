// The "added_tokens" of a tokenizer.json: tokens matched verbatim in the input before
// normalization and pre-tokenization (chat markers like <|im_start|>, also non-special ones like
// <think>). At each position the longest token wins, scanning left to right.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace baton {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // the match also swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched in the normalized text rather than the raw input
};

class AddedVocabulary {
 public:
  static Result<AddedVocabulary> FromJson(const Json& added_tokens, std::string_view source);

  // A piece of input: either plain text (id < 0) or one added token.
  struct Segment {
    std::string_view text;
    int32_t id = -1;
  };
  // Splits `text` on the tokens whose `normalized` flag equals `normalized`. When
  // `parse_special` is false, special tokens are left as plain text.
  void Split(std::string_view text, bool normalized, bool parse_special,
             std::vector<Segment>* out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool has_normalized() const { return has_normalized_; }

 private:
  std::vector<AddedToken> tokens_;
  // Token indexes by their first byte, longest content first.
  std::vector<std::vector<int>> by_first_byte_ = std::vector<std::vector<int>>(256);
  bool has_normalized_ = false;
};

}  // namespace baton
