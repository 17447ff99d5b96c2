// The backtracking matcher for programs built by regex_compile.cc.
#include "text/regex.h"

#include <unordered_map>
#include <unordered_set>

#include "text/regex_program.h"

namespace baton {
namespace {

using regex_internal::Inst;
using regex_internal::Op;
using regex_internal::Program;

struct Backtrack {
  int pc;
  size_t pos;
};

// Runs the program from `pc` at `pos`, exploring alternatives depth-first in priority order,
// which gives Oniguruma's leftmost-first (Perl) semantics. `stack` is shared with nested
// lookahead runs; each run only pops what it pushed, and drops it all when it succeeds, so a
// lookahead is atomic as in Oniguruma.
//
// Backtracking can take time exponential in the pattern or the text ((a?){30} followed by
// what fails, (a+)+b). A run that has taken kMemoAfter steps starts remembering the states
// (instruction, position) it has been in and fails any state it reaches again. That changes no
// answer: the program has no backreferences and a lookahead's outcome depends only on its
// position, so a state explored before either failed already or is being re-entered without
// progress (an empty loop, which Oniguruma's empty check also ends), and its alternatives are
// explored in the same priority order from its first visit. From then on each state is run at
// most once, so a run takes at most (instructions x (text length + 1)) more steps. Tokenizer
// patterns (the pre-tokenizer's Split) finish each run in a few dozen steps and never get here.
//
// A lookahead's outcome at a position is remembered in `looks` (shared by the runs of one
// search, nested ones too), so a lookahead is run at most once per position: a pattern with
// lookaheads inside repeated optionals inside lookaheads stays polynomial as well.
constexpr size_t kMemoAfter = size_t{1} << 12;

using LookCache = std::unordered_map<uint64_t, bool>;

bool Run(const Program& prog, std::u32string_view text, int pc, size_t pos,
         std::vector<Backtrack>* stack, size_t* end, LookCache* looks) {
  const size_t base = stack->size();
  const size_t n = text.size();
  size_t steps = 0;
  std::unordered_set<uint64_t> seen;
  while (true) {
    const Inst& in = prog.insts[pc];
    // Past kMemoAfter steps, a state seen before fails: it failed, or this is an empty loop.
    bool ok =
        ++steps <= kMemoAfter || seen.insert(static_cast<uint64_t>(pc) * (n + 1) + pos).second;
    if (ok) {
      switch (in.op) {
        case Op::kChar:
          ok = pos < n && text[pos] == in.c;
          if (ok) ++pos, ++pc;
          break;
        case Op::kClass:
          ok = pos < n && prog.classes[in.x].Contains(text[pos]);
          if (ok) ++pos, ++pc;
          break;
        case Op::kAny:
          ok = pos < n && text[pos] != U'\n';
          if (ok) ++pos, ++pc;
          break;
        case Op::kSplit:
          stack->push_back({in.y, pos});
          pc = in.x;
          break;
        case Op::kJmp:
          pc = in.x;
          break;
        case Op::kMatch:
          *end = pos;
          stack->resize(base);
          return true;
        case Op::kLook: {
          const uint64_t key = static_cast<uint64_t>(pc) * (n + 1) + pos;
          auto cached = looks->find(key);
          bool matched;
          if (cached != looks->end()) {
            matched = cached->second;
          } else {
            size_t look_end;
            matched = Run(prog, text, pc + 1, pos, stack, &look_end, looks);
            looks->emplace(key, matched);
          }
          ok = matched != in.negate;
          if (ok) pc = in.x;
          break;
        }
        case Op::kLineStart:
          ok = pos == 0 || text[pos - 1] == U'\n';
          if (ok) ++pc;
          break;
        case Op::kLineEnd:
          ok = pos == n || text[pos] == U'\n';
          if (ok) ++pc;
          break;
        case Op::kTextStart:
          ok = pos == 0;
          if (ok) ++pc;
          break;
        case Op::kTextEnd:
          ok = pos == n;
          if (ok) ++pc;
          break;
        case Op::kTextEndNl:
          ok = pos == n || (pos + 1 == n && text[pos] == U'\n');
          if (ok) ++pc;
          break;
      }
    }
    if (!ok) {
      if (stack->size() == base) return false;
      pc = stack->back().pc;
      pos = stack->back().pos;
      stack->pop_back();
    }
  }
}

}  // namespace

Result<Regex> Regex::Compile(std::string_view pattern) {
  BATON_ASSIGN_OR_RETURN(Program prog, regex_internal::CompilePattern(pattern));
  return Regex(std::string(pattern), std::make_shared<const Program>(std::move(prog)));
}

bool Regex::MatchAt(std::u32string_view text, size_t pos, size_t* end) const {
  std::vector<Backtrack> stack;
  LookCache looks;
  return Run(*program_, text, 0, pos, &stack, end, &looks);
}

bool Regex::Search(std::u32string_view text, size_t start, size_t* begin, size_t* end) const {
  std::vector<Backtrack> stack;
  LookCache looks;
  for (size_t pos = start; pos <= text.size(); ++pos) {
    if (Run(*program_, text, 0, pos, &stack, end, &looks)) {
      *begin = pos;
      return true;
    }
  }
  return false;
}

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::u32string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  std::vector<Backtrack> stack;
  LookCache looks;  // a lookahead's outcome depends on the text and position only
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t begin = pos, end = 0;
    bool found = false;
    for (; begin <= text.size(); ++begin) {
      if (Run(*program_, text, 0, begin, &stack, &end, &looks)) {
        found = true;
        break;
      }
    }
    if (!found) break;
    if (end == begin) {
      pos = begin + 1;  // empty match: step over one code point
      continue;
    }
    matches.push_back({begin, end});
    pos = end;
  }
  return matches;
}

}  // namespace baton
