// The compiled form of a Regex: a program for a backtracking virtual machine (the design of
// Russ Cox's "Regular Expression Matching: the Virtual Machine Approach", backtracking variant).
// Internal to src/text/regex*.cc.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "text/unicode.h"

namespace baton::regex_internal {

// A set of code points: explicit ranges plus property tests, optionally negated.
struct CharClass {
  struct Property {
    CategoryMask categories = 0;  // general categories tested (when !white_space)
    bool white_space = false;     // tests White_Space instead of categories
    bool negated = false;
  };
  std::vector<std::pair<char32_t, char32_t>> ranges;  // inclusive
  std::vector<Property> properties;
  bool negated = false;

  // Membership ignoring `negated`.
  bool ContainsPositive(char32_t cp) const {
    for (const auto& [lo, hi] : ranges) {
      if (cp >= lo && cp <= hi) return true;
    }
    for (const Property& p : properties) {
      bool in = p.white_space ? IsWhiteSpace(cp) : InCategories(cp, p.categories);
      if (in != p.negated) return true;
    }
    return false;
  }
  bool Contains(char32_t cp) const { return ContainsPositive(cp) != negated; }
};

enum class Op : uint8_t {
  kChar,       // match code point `c`
  kClass,      // match a code point in classes[x]
  kAny,        // match any code point but '\n' (Oniguruma's default '.')
  kSplit,      // try x, on failure y
  kJmp,        // go to x
  kMatch,      // success (also ends a lookahead body)
  kLook,       // run the lookahead body at pc+1; continue at x if it matched != negate
  kLineStart,  // ^
  kLineEnd,    // $
  kTextStart,  // \A
  kTextEnd,    // \z
  kTextEndNl,  // \Z: end, or before a final '\n'
};

struct Inst {
  Op op;
  bool negate = false;
  char32_t c = 0;
  int32_t x = 0, y = 0;
};

struct Program {
  std::vector<Inst> insts;
  std::vector<CharClass> classes;
};

// Parses and compiles `pattern` (see regex.h for the syntax).
Result<Program> CompilePattern(std::string_view pattern);

}  // namespace baton::regex_internal
