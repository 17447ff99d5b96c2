#include "text/byte_level.h"

#include <array>

#include "text/unicode.h"

namespace baton {
namespace {

struct Tables {
  std::array<char32_t, 256> byte_to_char;
  std::array<int16_t, 512> char_to_byte;  // every image is below U+0200
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.char_to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      t.byte_to_char[b] = c;
      t.char_to_byte[c] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

char32_t ByteToChar(uint8_t byte) { return GetTables().byte_to_char[byte]; }

int CharToByte(char32_t cp) { return cp < 512 ? GetTables().char_to_byte[cp] : -1; }

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(ByteToChar(b), &out);
  return out;
}

bool ByteLevelToBytes(std::string_view token, std::string* bytes) {
  bytes->clear();
  for (size_t pos = 0; pos < token.size();) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(token, &pos);
    int b = CharToByte(cp);
    if (b < 0 || (cp == 0xFFFD && pos - start != 3)) return false;
    bytes->push_back(static_cast<char>(b));
  }
  return true;
}

}  // namespace baton
