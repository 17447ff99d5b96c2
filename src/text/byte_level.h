// GPT-2's reversible mapping between bytes and printable code points ("bytes_to_unicode"),
// the alphabet of byte-level BPE vocabularies: printable Latin-1 bytes map to themselves, the
// others (controls, space, ...) to U+0100 onwards, so ' ' becomes 'Ġ' and '\n' becomes 'Ċ'.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace baton {

char32_t ByteToChar(uint8_t byte);
// The byte mapped to `cp`, or -1 when `cp` is not in the alphabet.
int CharToByte(char32_t cp);
// Maps every byte of `bytes` to its code point, returned as UTF-8.
std::string BytesToByteLevel(std::string_view bytes);
// The inverse of BytesToByteLevel; returns false (with *bytes unspecified) if `token` is not
// valid UTF-8 made of alphabet code points only.
bool ByteLevelToBytes(std::string_view token, std::string* bytes);

}  // namespace baton
