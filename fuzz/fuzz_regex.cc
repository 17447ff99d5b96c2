// libFuzzer target: the tokenizer's regex engine (src/text/regex.*), which runs the
// pre-tokenizer's Split pattern from a model's tokenizer.json over every text Baton tokenizes.
// The first byte picks the mode. 0: the input is text, split by Qwen2's pattern (what training
// and inference run on every dataset row); 1: the same with Llama 3's pattern. 2: the input is
// "pattern\0text", a pattern as a tokenizer.json may carry it: compiled (a bad pattern must be a
// Status, never a crash) and run on the first kShortText code points of the text. The engine
// backtracks like Oniguruma, whose patterns it follows, so a pattern such as (a+)+b takes time
// exponential in the text; the real split patterns are linear-time and get the whole text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "text/regex.h"
#include "text/unicode.h"

namespace {

// Qwen2's pre-tokenizer pattern, as in its tokenizer.json.
constexpr char kQwen2[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Llama 3's (and DeepSeek-R1-Distill-Llama's) pattern.
constexpr char kLlama3[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr size_t kShortText = 12;

void Run(const baton::Regex& re, std::string_view text, size_t max_code_points) {
  std::u32string cps = baton::Utf8ToCodePoints(text);
  if (cps.size() > max_code_points) cps.resize(max_code_points);
  size_t last = 0;
  for (auto [b, e] : re.FindAll(cps)) {
    if (b < last || e < b || e > cps.size()) __builtin_trap();  // matches ordered, inside text
    last = e;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      static const baton::Regex qwen = baton::Regex::Compile(kQwen2).value();
      Run(qwen, rest, SIZE_MAX);
      break;
    }
    case 1: {
      static const baton::Regex llama = baton::Regex::Compile(kLlama3).value();
      Run(llama, rest, SIZE_MAX);
      break;
    }
    case 2: {
      size_t nul = rest.find('\0');
      std::string_view pattern = rest.substr(0, nul);
      std::string_view text =
          nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
      auto re = baton::Regex::Compile(pattern);
      if (re.ok()) Run(*re, text, kShortText);
      break;
    }
  }
  return 0;
}
