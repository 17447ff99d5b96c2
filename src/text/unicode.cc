#include "text/unicode.h"

#include <algorithm>
#include <array>

#include "text/unicode_tables.h"

namespace baton {
namespace ut = unicode_tables;
namespace {

// Table lookups are binary searches; the first 0x800 code points (ASCII, Latin, Greek,
// Cyrillic, ...) are looked up so often that they get a flat cache.
constexpr char32_t kFlatCategoryLimit = 0x800;

GeneralCategory SearchCategory(char32_t cp) {
  const ut::CategoryRange* end = ut::kCategoryRanges + ut::kNumCategoryRanges;
  const ut::CategoryRange* it =
      std::upper_bound(ut::kCategoryRanges, end, cp,
                       [](char32_t c, const ut::CategoryRange& r) { return c < r.first; });
  if (it == ut::kCategoryRanges) return GeneralCategory::kCn;
  --it;
  if (cp > it->last) return GeneralCategory::kCn;
  return static_cast<GeneralCategory>(it->category);
}

const std::array<GeneralCategory, kFlatCategoryLimit>& FlatCategories() {
  static const auto* table = [] {
    auto* t = new std::array<GeneralCategory, kFlatCategoryLimit>();
    for (char32_t cp = 0; cp < kFlatCategoryLimit; ++cp) (*t)[cp] = SearchCategory(cp);
    return t;
  }();
  return *table;
}

// The valid range of the second byte of a UTF-8 sequence given its lead byte (RFC 3629 table),
// and the number of continuation bytes; lead bytes that can start no sequence give need = 0.
struct LeadInfo {
  int need;
  uint8_t lo, hi;
};
LeadInfo Lead(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

CategoryMask CategoryMaskFromName(std::string_view name) {
  using G = GeneralCategory;
  auto bits = [](std::initializer_list<G> cats) {
    CategoryMask m = 0;
    for (G c : cats) m |= CategoryBit(c);
    return m;
  };
  struct Named {
    std::string_view short_name, long_name;
    CategoryMask mask;
  };
  static const Named kNames[] = {
      {"L", "Letter", bits({G::kLu, G::kLl, G::kLt, G::kLm, G::kLo})},
      {"LC", "Cased_Letter", bits({G::kLu, G::kLl, G::kLt})},
      {"Lu", "Uppercase_Letter", bits({G::kLu})},
      {"Ll", "Lowercase_Letter", bits({G::kLl})},
      {"Lt", "Titlecase_Letter", bits({G::kLt})},
      {"Lm", "Modifier_Letter", bits({G::kLm})},
      {"Lo", "Other_Letter", bits({G::kLo})},
      {"M", "Mark", bits({G::kMn, G::kMc, G::kMe})},
      {"Mn", "Nonspacing_Mark", bits({G::kMn})},
      {"Mc", "Spacing_Mark", bits({G::kMc})},
      {"Me", "Enclosing_Mark", bits({G::kMe})},
      {"N", "Number", bits({G::kNd, G::kNl, G::kNo})},
      {"Nd", "Decimal_Number", bits({G::kNd})},
      {"Nl", "Letter_Number", bits({G::kNl})},
      {"No", "Other_Number", bits({G::kNo})},
      {"P", "Punctuation", bits({G::kPc, G::kPd, G::kPs, G::kPe, G::kPi, G::kPf, G::kPo})},
      {"Pc", "Connector_Punctuation", bits({G::kPc})},
      {"Pd", "Dash_Punctuation", bits({G::kPd})},
      {"Ps", "Open_Punctuation", bits({G::kPs})},
      {"Pe", "Close_Punctuation", bits({G::kPe})},
      {"Pi", "Initial_Punctuation", bits({G::kPi})},
      {"Pf", "Final_Punctuation", bits({G::kPf})},
      {"Po", "Other_Punctuation", bits({G::kPo})},
      {"S", "Symbol", bits({G::kSm, G::kSc, G::kSk, G::kSo})},
      {"Sm", "Math_Symbol", bits({G::kSm})},
      {"Sc", "Currency_Symbol", bits({G::kSc})},
      {"Sk", "Modifier_Symbol", bits({G::kSk})},
      {"So", "Other_Symbol", bits({G::kSo})},
      {"Z", "Separator", bits({G::kZs, G::kZl, G::kZp})},
      {"Zs", "Space_Separator", bits({G::kZs})},
      {"Zl", "Line_Separator", bits({G::kZl})},
      {"Zp", "Paragraph_Separator", bits({G::kZp})},
      {"C", "Other", bits({G::kCn, G::kCc, G::kCf, G::kCs, G::kCo})},
      {"Cc", "Control", bits({G::kCc})},
      {"Cf", "Format", bits({G::kCf})},
      {"Cs", "Surrogate", bits({G::kCs})},
      {"Co", "Private_Use", bits({G::kCo})},
      {"Cn", "Unassigned", bits({G::kCn})},
      {"Any", "Any", ~CategoryMask{0} >> (32 - kNumGeneralCategories)},
  };
  for (const Named& n : kNames) {
    if (name == n.short_name || name == n.long_name) return n.mask;
  }
  return 0;
}

GeneralCategory GetCategory(char32_t cp) {
  if (cp < kFlatCategoryLimit) return FlatCategories()[cp];
  return SearchCategory(cp);
}

bool IsWhiteSpace(char32_t cp) {
  for (size_t i = 0; i < ut::kNumWhiteSpaceRanges; ++i) {
    if (cp < ut::kWhiteSpaceRanges[i].first) return false;
    if (cp <= ut::kWhiteSpaceRanges[i].last) return true;
  }
  return false;
}

char32_t SimpleCaseFold(char32_t cp) {
  const ut::CodePair* end = ut::kCaseFolds + ut::kNumCaseFolds;
  const ut::CodePair* it = std::lower_bound(
      ut::kCaseFolds, end, cp, [](const ut::CodePair& p, char32_t c) { return p.from < c; });
  return (it != end && it->from == cp) ? it->to : cp;
}

std::vector<std::pair<char32_t, char32_t>> CaseFoldPairs() {
  std::vector<std::pair<char32_t, char32_t>> out;
  out.reserve(ut::kNumCaseFolds);
  for (size_t i = 0; i < ut::kNumCaseFolds; ++i) {
    out.push_back({ut::kCaseFolds[i].from, ut::kCaseFolds[i].to});
  }
  return out;
}

std::vector<char32_t> CaseEquivalents(char32_t cp) {
  char32_t folded = SimpleCaseFold(cp);
  std::vector<char32_t> out = {folded};
  // The fold table is small (~1.5k entries) and this runs only when compiling (?i) patterns.
  for (size_t i = 0; i < ut::kNumCaseFolds; ++i) {
    if (ut::kCaseFolds[i].to == folded) out.push_back(ut::kCaseFolds[i].from);
  }
  return out;
}

char32_t DecodeUtf8(std::string_view text, size_t* pos) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  size_t p = *pos;
  uint8_t b0 = b(p);
  if (b0 < 0x80) {
    *pos = p + 1;
    return b0;
  }
  LeadInfo lead = Lead(b0);
  if (lead.need == 0) {
    *pos = p + 1;
    return 0xFFFD;
  }
  char32_t cp = b0 & (0x3F >> lead.need);
  for (int k = 1; k <= lead.need; ++k) {
    uint8_t lo = k == 1 ? lead.lo : 0x80, hi = k == 1 ? lead.hi : 0xBF;
    if (p + k >= text.size() || b(p + k) < lo || b(p + k) > hi) {
      *pos = p + k;  // the maximal subpart: the lead and the valid continuation bytes so far
      return 0xFFFD;
    }
    cp = (cp << 6) | (b(p + k) & 0x3F);
  }
  *pos = p + lead.need + 1;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::u32string Utf8ToCodePoints(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) out.push_back(DecodeUtf8(text, &pos));
  return out;
}

std::string CodePointsToUtf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) AppendUtf8(cp, &out);
  return out;
}

std::string ToValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(bytes, &pos);
    if (cp == 0xFFFD && pos - start != 3) {
      AppendUtf8(cp, &out);  // an invalid sequence (a real U+FFFD is 3 bytes long)
    } else {
      out.append(bytes.substr(start, pos - start));
    }
  }
  return out;
}

size_t CompleteUtf8Prefix(std::string_view bytes) {
  size_t n = bytes.size();
  // An incomplete sequence is at most 3 bytes: a lead byte and up to 2 continuation bytes.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    uint8_t c = static_cast<uint8_t>(bytes[n - back]);
    if (c < 0x80) return n;
    if (c < 0xC0) continue;  // a continuation byte: keep looking for the lead
    LeadInfo lead = Lead(c);
    if (static_cast<int>(back) - 1 >= lead.need) return n;  // complete (or invalid anyway)
    if (back >= 2) {
      uint8_t second = static_cast<uint8_t>(bytes[n - back + 1]);
      if (second < lead.lo || second > lead.hi) return n;  // already invalid: emit as U+FFFD
    }
    return n - back;
  }
  return n;
}

uint8_t CombiningClass(char32_t cp) {
  if (cp < 0x300) return 0;
  const ut::CccRange* end = ut::kCombiningClasses + ut::kNumCombiningClasses;
  const ut::CccRange* it =
      std::upper_bound(ut::kCombiningClasses, end, cp,
                       [](char32_t c, const ut::CccRange& r) { return c < r.first; });
  if (it == ut::kCombiningClasses) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

}  // namespace baton
