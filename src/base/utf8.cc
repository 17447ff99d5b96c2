#include "base/utf8.h"

namespace baton {

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    // The length of the sequence and the range its second byte must lie in (RFC 3629 table 4:
    // this excludes overlong forms, surrogates and code points above U+10FFFF).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n) return i + k;
      auto c = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return i + k;
    }
    i += len;
  }
  return std::nullopt;
}

Status CheckUtf8(std::string_view text, std::string_view what) {
  std::optional<size_t> bad = FindInvalidUtf8(text);
  if (!bad) return Status::Ok();
  if (*bad >= text.size()) {
    return InvalidArgument(
        "{}: not valid UTF-8: a multi-byte character is cut off at the end "
        "(offset {})",
        what, *bad);
  }
  return InvalidArgument("{}: not valid UTF-8: byte 0x{:02X} at offset {}", what,
                         static_cast<unsigned char>(text[*bad]), *bad);
}

}  // namespace baton
