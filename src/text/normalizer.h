// The "normalizer" of a tokenizer.json. Supported: null (none), {"type": "NFC"} and
// {"type": "Sequence", "normalizers": [...]} of supported ones; anything else is an error naming
// the type and the file, since encoding with a skipped normalizer would be silently wrong.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace baton {

class Normalizer {
 public:
  static Result<Normalizer> FromJson(const Json& normalizer, std::string_view source);

  bool empty() const { return steps_.empty(); }
  // Applies every step; `text` must be valid UTF-8.
  std::string Apply(std::string_view text) const;

 private:
  enum class Step { kNfc };
  Status Add(const Json& j, std::string_view source);

  std::vector<Step> steps_;
};

}  // namespace baton
