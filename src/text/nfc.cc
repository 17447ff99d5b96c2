// NFC (UAX #15): canonical decomposition, canonical ordering, canonical composition.
#include <algorithm>

#include "text/unicode.h"
#include "text/unicode_tables.h"

namespace baton {
namespace ut = unicode_tables;
namespace {

// Hangul syllables are composed and decomposed arithmetically (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const ut::Decomposition* FindDecomposition(char32_t cp) {
  const ut::Decomposition* end = ut::kDecompositions + ut::kNumDecompositions;
  const ut::Decomposition* it =
      std::lower_bound(ut::kDecompositions, end, cp,
                       [](const ut::Decomposition& d, char32_t c) { return d.cp < c; });
  return (it != end && it->cp == cp) ? it : nullptr;
}

void Decompose(char32_t cp, std::u32string* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const ut::Decomposition* d = FindDecomposition(cp);
  if (d == nullptr) {
    out->push_back(cp);
    return;
  }
  Decompose(d->first, out);  // the table holds one level; recurse for the full decomposition
  if (d->second != 0) Decompose(d->second, out);
}

// The primary composite of (a, b), or 0.
char32_t Compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const ut::Composition* end = ut::kCompositions + ut::kNumCompositions;
  const ut::Composition* it =
      std::lower_bound(ut::kCompositions, end, std::make_pair(a, b),
                       [](const ut::Composition& c, const std::pair<char32_t, char32_t>& key) {
                         return c.first != key.first ? c.first < key.first : c.second < key.second;
                       });
  return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

}  // namespace

std::string NormalizeNfc(std::string_view text) {
  // Fast path: everything below U+0300 is NFC and cannot combine with its neighbours.
  bool simple = true;
  for (unsigned char c : text) {
    if (c >= 0xCC) {  // lead bytes of U+0300 and above
      simple = false;
      break;
    }
  }
  if (simple) return ToValidUtf8(text);

  std::u32string buf;
  buf.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) Decompose(DecodeUtf8(text, &pos), &buf);

  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < buf.size();) {
    if (CombiningClass(buf[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < buf.size() && CombiningClass(buf[j]) != 0) ++j;
    std::stable_sort(buf.begin() + i, buf.begin() + j,
                     [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    i = j;
  }

  // Canonical composition: combine each character with the last starter unless blocked.
  if (!buf.empty()) {
    size_t starter = 0, out = 1;
    bool have_starter = CombiningClass(buf[0]) == 0;
    int last_class = have_starter ? 0 : 256;  // class of the last character kept
    for (size_t i = 1; i < buf.size(); ++i) {
      char32_t ch = buf[i];
      int ch_class = CombiningClass(ch);
      // Not blocked: nothing between the starter and ch, or everything between has a lower class.
      if (have_starter && (last_class < ch_class || last_class == 0)) {
        if (char32_t composite = Compose(buf[starter], ch); composite != 0) {
          buf[starter] = composite;
          continue;
        }
      }
      if (ch_class == 0) {
        starter = out;
        have_starter = true;
      }
      last_class = ch_class;
      buf[out++] = ch;
    }
    buf.resize(out);
  }
  return CodePointsToUtf8(buf);
}

}  // namespace baton
