// Regex parser (pattern -> syntax tree) and code generator (tree -> Program).
#include <cctype>
#include <memory>

#include "text/regex_program.h"

namespace baton::regex_internal {
namespace {

// Bounded repetition is compiled by copying the operand, so the bounds are capped.
constexpr int kMaxRepeat = 1000;
constexpr int kInfinite = -1;

struct Node {
  enum Kind { kEmpty, kChar, kClass, kAny, kConcat, kAlt, kRepeat, kLook, kAssert } kind;
  char32_t c = 0;
  CharClass cls;
  std::vector<std::unique_ptr<Node>> children;
  int min = 0, max = 0;       // kRepeat
  bool greedy = true;         // kRepeat
  bool negate = false;        // kLook
  Op assert_op = Op::kMatch;  // kAssert
};
using NodePtr = std::unique_ptr<Node>;

NodePtr MakeNode(Node::Kind kind) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  return n;
}

bool IsNullable(const Node& n) {
  switch (n.kind) {
    case Node::kChar:
    case Node::kClass:
    case Node::kAny:
      return false;
    case Node::kConcat:
      for (const auto& c : n.children) {
        if (!IsNullable(*c)) return false;
      }
      return true;
    case Node::kAlt:
      for (const auto& c : n.children) {
        if (IsNullable(*c)) return true;
      }
      return false;
    case Node::kRepeat:
      return n.min == 0 || IsNullable(*n.children[0]);
    default:
      return true;
  }
}

// Adds to `cls` every code point case-equivalent to one it contains (before negation), so
// that a case-insensitive class is an ordinary class. Only code points in the fold table have
// case equivalents, so walking the table is exact.
void CloseUnderCaseFolding(CharClass* cls) {
  std::vector<std::pair<char32_t, char32_t>> extra;
  for (const auto& [from, to] : CaseFoldPairs()) {
    if (!cls->ContainsPositive(from) && !cls->ContainsPositive(to)) continue;
    for (char32_t e : CaseEquivalents(to)) {
      if (!cls->ContainsPositive(e)) extra.push_back({e, e});
    }
  }
  cls->ranges.insert(cls->ranges.end(), extra.begin(), extra.end());
}

class Parser {
 public:
  explicit Parser(std::string_view pattern) : source_(pattern), p_(Utf8ToCodePoints(pattern)) {}

  Result<NodePtr> Parse() {
    BATON_ASSIGN_OR_RETURN(NodePtr n, ParseAlt(false));
    if (pos_ < p_.size()) return Error("unmatched ')'");
    return n;
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgument("regex '{}': {} at position {}", source_, what, pos_);
  }
  bool AtEnd() const { return pos_ >= p_.size(); }
  char32_t Peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : 0; }
  bool Eat(char32_t c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  Result<NodePtr> ParseAlt(bool icase) {
    auto alt = MakeNode(Node::kAlt);
    while (true) {
      BATON_ASSIGN_OR_RETURN(NodePtr branch, ParseConcat(icase));
      alt->children.push_back(std::move(branch));
      if (!Eat('|')) break;
    }
    if (alt->children.size() == 1) return std::move(alt->children[0]);
    return alt;
  }

  Result<NodePtr> ParseConcat(bool icase) {
    auto concat = MakeNode(Node::kConcat);
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      BATON_ASSIGN_OR_RETURN(NodePtr atom, ParseAtom(icase));
      BATON_ASSIGN_OR_RETURN(atom, ParseQuantifiers(std::move(atom)));
      concat->children.push_back(std::move(atom));
    }
    if (concat->children.size() == 1) return std::move(concat->children[0]);
    return concat;
  }

  // Parses "{m}", "{m,}", "{m,n}", "{,n}" at pos_; returns false (pos_ unchanged) when the
  // brace does not start a valid interval, in which case Oniguruma reads '{' as a literal.
  bool ParseInterval(int* min, int* max) {
    size_t save = pos_;
    ++pos_;  // '{'
    auto number = [&](int* out) {
      size_t start = pos_;
      long v = 0;
      while (Peek() >= '0' && Peek() <= '9' && !AtEnd()) {
        v = std::min<long>(v * 10 + (Peek() - '0'), 1 << 30);
        ++pos_;
      }
      *out = static_cast<int>(v);
      return pos_ > start;
    };
    bool has_min = number(min);
    if (!has_min) *min = 0;
    if (Eat('}')) {
      if (has_min) {
        *max = *min;
        return true;
      }
    } else if (Eat(',')) {
      bool has_max = number(max);
      if (!has_max) *max = kInfinite;
      if ((has_min || has_max) && Eat('}')) return true;
    }
    pos_ = save;
    return false;
  }

  Result<NodePtr> ParseQuantifiers(NodePtr atom) {
    while (!AtEnd()) {
      int min, max;
      char32_t c = Peek();
      if (c == '*') {
        min = 0, max = kInfinite;
        ++pos_;
      } else if (c == '+') {
        min = 1, max = kInfinite;
        ++pos_;
      } else if (c == '?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == '{' && ParseInterval(&min, &max)) {
      } else {
        break;
      }
      if (max != kInfinite && (max < min || max > kMaxRepeat)) {
        return Error("repetition bounds out of range");
      }
      bool greedy = !Eat('?');
      if (Peek() == '+' && !AtEnd() && c != '{') {
        return Error("possessive quantifiers are not supported");
      }
      if (atom->kind == Node::kLook || atom->kind == Node::kAssert) {
        return Error("quantifier after an assertion");
      }
      if (max == kInfinite && IsNullable(*atom)) {
        return Error("unbounded repetition of an expression that can match empty");
      }
      auto rep = MakeNode(Node::kRepeat);
      rep->min = min;
      rep->max = max;
      rep->greedy = greedy;
      rep->children.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return atom;
  }

  Result<NodePtr> ParseGroup(bool icase) {
    // pos_ is just after '('.
    NodePtr look;
    if (Eat('?')) {
      if (Eat('=') || Eat('!')) {
        look = MakeNode(Node::kLook);
        look->negate = p_[pos_ - 1] == '!';
      } else if (Eat(':')) {
      } else if (Peek() == 'i' || Peek() == '-') {
        bool on = !Eat('-');
        if (!Eat('i')) return Error("unsupported group flags");
        if (!Eat(':')) return Error("inline flags without a group are not supported");
        icase = on;
      } else {
        return Error("unsupported group syntax (lookbehind, named or atomic groups)");
      }
    }
    BATON_ASSIGN_OR_RETURN(NodePtr body, ParseAlt(icase));
    if (!Eat(')')) return Error("missing ')'");
    if (look) {
      look->children.push_back(std::move(body));
      return look;
    }
    return body;
  }

  Result<char32_t> ParseHex(size_t min_digits, size_t max_digits) {
    char32_t v = 0;
    size_t n = 0;
    while (n < max_digits && !AtEnd() && Peek() < 0x80 && std::isxdigit(static_cast<int>(Peek()))) {
      char32_t c = Peek();
      v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      ++pos_, ++n;
    }
    if (n < min_digits || v > 0x10FFFF) return Error("bad hexadecimal escape");
    return v;
  }

  // Parses the escape after '\' that denotes one code point; returns an error for escapes
  // that are not single characters. `in_class` changes the meaning of \b (backspace).
  Result<char32_t> ParseCharEscape(bool in_class) {
    char32_t c = p_[pos_++];
    switch (c) {
      case 'n':
        return U'\n';
      case 'r':
        return U'\r';
      case 't':
        return U'\t';
      case 'f':
        return U'\f';
      case 'v':
        return U'\v';
      case 'a':
        return U'\a';
      case 'e':
        return char32_t{0x1B};
      case '0':
        return char32_t{0};
      case 'x':
        if (Eat('{')) {
          BATON_ASSIGN_OR_RETURN(char32_t v, ParseHex(1, 8));
          if (!Eat('}')) return Error("missing '}' in \\x{...}");
          return v;
        }
        return ParseHex(1, 2);
      case 'u':
        return ParseHex(4, 4);
      case 'b':
        if (in_class) return char32_t{8};
        break;
      default:
        if (c < 0x80 && !std::isalnum(static_cast<int>(c))) return c;  // escaped punctuation
        if (c >= 0x80) return c;
    }
    --pos_;
    return Error(fmt::format("unsupported escape '\\{}'", static_cast<char>(c & 0x7F)));
  }

  // Parses a class escape (\s \S \d \D \w \W \p \P) after '\' into `cls`; returns false when the
  // escape is not one of them (pos_ unchanged).
  Result<bool> ParsePropertyEscape(CharClass* cls) {
    char32_t c = Peek();
    CharClass::Property prop;
    switch (c) {
      case 's':
      case 'S':
        prop.white_space = true;
        prop.negated = c == 'S';
        ++pos_;
        break;
      case 'd':
      case 'D':
        prop.categories = CategoryMaskFromName("Nd");
        prop.negated = c == 'D';
        ++pos_;
        break;
      case 'w':
      case 'W':
        prop.categories = CategoryMaskFromName("L") | CategoryMaskFromName("M") |
                          CategoryMaskFromName("Nd") | CategoryMaskFromName("Pc");
        prop.negated = c == 'W';
        ++pos_;
        break;
      case 'p':
      case 'P': {
        ++pos_;
        prop.negated = c == 'P';
        std::string name;
        if (Eat('{')) {
          if (Eat('^')) prop.negated = !prop.negated;
          while (!AtEnd() && Peek() != '}') AppendUtf8(p_[pos_++], &name);
          if (!Eat('}')) return Error("missing '}' in \\p{...}");
        } else if (!AtEnd()) {
          AppendUtf8(p_[pos_++], &name);
        }
        prop.categories = CategoryMaskFromName(name);
        if (prop.categories == 0) return Error(fmt::format("unknown property '{}'", name));
        break;
      }
      default:
        return false;
    }
    cls->properties.push_back(prop);
    return true;
  }

  Result<NodePtr> ParseClass(bool icase) {
    // pos_ is just after '['.
    auto node = MakeNode(Node::kClass);
    CharClass& cls = node->cls;
    cls.negated = Eat('^');
    bool first = true;
    while (true) {
      if (AtEnd()) return Error("missing ']'");
      char32_t c = Peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      if (c == ']') return Error("empty character class");
      if (c == '[') return Error("nested character classes are not supported");
      if (c == '&' && Peek(1) == '&') return Error("class intersection is not supported");
      first = false;
      char32_t lo;
      ++pos_;
      if (c == '\\') {
        if (AtEnd()) return Error("trailing '\\'");
        BATON_ASSIGN_OR_RETURN(bool was_property, ParsePropertyEscape(&cls));
        if (was_property) continue;
        BATON_ASSIGN_OR_RETURN(lo, ParseCharEscape(true));
      } else {
        lo = c;
      }
      char32_t hi = lo;
      if (Peek() == '-' && Peek(1) != ']' && pos_ + 1 < p_.size()) {
        ++pos_;
        char32_t d = p_[pos_++];
        if (d == '\\') {
          if (AtEnd()) return Error("trailing '\\'");
          if (std::string_view("sSdDwWpP").find(static_cast<char>(Peek() & 0x7F)) !=
                  std::string_view::npos &&
              Peek() < 0x80) {
            return Error("character class range ends in a class escape");
          }
          BATON_ASSIGN_OR_RETURN(hi, ParseCharEscape(true));
        } else if (d == '[') {
          return Error("nested character classes are not supported");
        } else {
          hi = d;
        }
        if (hi < lo) return Error("character class range out of order");
      }
      cls.ranges.push_back({lo, hi});
    }
    if (icase) CloseUnderCaseFolding(&cls);
    return node;
  }

  NodePtr CharNode(char32_t c, bool icase) {
    std::vector<char32_t> eq = icase ? CaseEquivalents(c) : std::vector<char32_t>{};
    if (eq.size() <= 1) {
      auto n = MakeNode(Node::kChar);
      n->c = c;
      return n;
    }
    auto n = MakeNode(Node::kClass);
    for (char32_t e : eq) n->cls.ranges.push_back({e, e});
    return n;
  }

  NodePtr AssertNode(Op op) {
    auto n = MakeNode(Node::kAssert);
    n->assert_op = op;
    return n;
  }

  Result<NodePtr> ParseAtom(bool icase) {
    char32_t c = p_[pos_++];
    switch (c) {
      case '(':
        return ParseGroup(icase);
      case '[':
        return ParseClass(icase);
      case '.':
        return MakeNode(Node::kAny);
      case '^':
        return AssertNode(Op::kLineStart);
      case '$':
        return AssertNode(Op::kLineEnd);
      case '*':
      case '+':
      case '?':
        --pos_;
        return Error("quantifier without an operand");
      case '\\': {
        if (AtEnd()) return Error("trailing '\\'");
        if (Eat('A')) return AssertNode(Op::kTextStart);
        if (Eat('z')) return AssertNode(Op::kTextEnd);
        if (Eat('Z')) return AssertNode(Op::kTextEndNl);
        auto node = MakeNode(Node::kClass);
        BATON_ASSIGN_OR_RETURN(bool was_property, ParsePropertyEscape(&node->cls));
        if (was_property) return node;
        BATON_ASSIGN_OR_RETURN(char32_t lit, ParseCharEscape(false));
        return CharNode(lit, icase);
      }
      default:
        return CharNode(c, icase);
    }
  }

  std::string_view source_;
  std::u32string p_;
  size_t pos_ = 0;
};

class CodeGen {
 public:
  explicit CodeGen(Program* prog) : prog_(prog) {}

  void Emit(const Node& n) {
    switch (n.kind) {
      case Node::kEmpty:
        break;
      case Node::kChar:
        Add({Op::kChar, false, n.c});
        break;
      case Node::kClass:
        prog_->classes.push_back(n.cls);
        Add({Op::kClass, false, 0, static_cast<int32_t>(prog_->classes.size() - 1)});
        break;
      case Node::kAny:
        Add({Op::kAny});
        break;
      case Node::kAssert:
        Add({n.assert_op});
        break;
      case Node::kConcat:
        for (const auto& c : n.children) Emit(*c);
        break;
      case Node::kAlt: {
        // split L1, next; L1: a; jmp end; next: split L2, next2; ... last branch.
        std::vector<int> jumps;
        for (size_t i = 0; i < n.children.size(); ++i) {
          int split = -1;
          if (i + 1 < n.children.size()) split = Add({Op::kSplit});
          if (split >= 0) At(split).x = Pc();
          Emit(*n.children[i]);
          if (i + 1 < n.children.size()) {
            jumps.push_back(Add({Op::kJmp}));
            At(split).y = Pc();
          }
        }
        for (int j : jumps) At(j).x = Pc();
        break;
      }
      case Node::kLook: {
        int look = Add({Op::kLook, n.negate});
        Emit(*n.children[0]);
        Add({Op::kMatch});
        At(look).x = Pc();
        break;
      }
      case Node::kRepeat:
        EmitRepeat(n);
        break;
    }
  }

 private:
  int Add(Inst inst) {
    prog_->insts.push_back(inst);
    return static_cast<int>(prog_->insts.size() - 1);
  }
  int Pc() const { return static_cast<int>(prog_->insts.size()); }
  Inst& At(int pc) { return prog_->insts[pc]; }

  // A split that prefers `taken` when greedy, the fall-through otherwise.
  void SetSplit(int split, int taken, int skip, bool greedy) {
    At(split).x = greedy ? taken : skip;
    At(split).y = greedy ? skip : taken;
  }

  void EmitRepeat(const Node& n) {
    const Node& body = *n.children[0];
    for (int i = 0; i < n.min; ++i) Emit(body);
    if (n.max == kInfinite) {
      // L: split body, end; body; jmp L; end:
      int split = Add({Op::kSplit});
      Emit(body);
      Add({Op::kJmp, false, 0, split});
      SetSplit(split, split + 1, Pc(), n.greedy);
      return;
    }
    // Optional copies: split body_i, end; body_i; ... end:
    std::vector<int> splits;
    for (int i = n.min; i < n.max; ++i) {
      int split = Add({Op::kSplit});
      splits.push_back(split);
      Emit(body);
    }
    for (int s : splits) SetSplit(s, s + 1, Pc(), n.greedy);
  }

  Program* prog_;
};

}  // namespace

Result<Program> CompilePattern(std::string_view pattern) {
  Parser parser(pattern);
  BATON_ASSIGN_OR_RETURN(NodePtr tree, parser.Parse());
  Program prog;
  CodeGen gen(&prog);
  gen.Emit(*tree);
  prog.insts.push_back({Op::kMatch});
  return prog;
}

}  // namespace baton::regex_internal
