// UTF-8 validation for text entering Baton (flags, YAML and JSON documents, dataset rows): text
// that is not UTF-8 is refused where it enters, with its place, rather than failing later when a
// checkpoint's JSON is written.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "base/status.h"

namespace baton {

// The offset of the first byte of `text` that does not start or continue a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF); nullopt when
// all of `text` is UTF-8.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

// Ok, or InvalidArgument "<what>: not valid UTF-8: byte 0xFE at offset 3".
Status CheckUtf8(std::string_view text, std::string_view what);

}  // namespace baton
