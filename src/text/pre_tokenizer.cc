#include "text/pre_tokenizer.h"

#include <algorithm>

#include "text/unicode.h"

namespace baton {
namespace {

// The split pattern of GPT-2, which ByteLevel applies when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Span {
  size_t begin, end;
  bool is_match;
};

// Covers [0, size) with the matches and the gaps between them.
std::vector<Span> Cover(const std::vector<std::pair<size_t, size_t>>& matches, size_t size) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (b > prev) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev < size) spans.push_back({prev, size, false});
  return spans;
}

}  // namespace

Result<PreTokenizer> PreTokenizer::FromJson(const Json& pre_tokenizer, std::string_view source) {
  PreTokenizer p;
  if (!pre_tokenizer.is_null()) BATON_RETURN_IF_ERROR(p.Add(pre_tokenizer, source));
  return p;
}

Status PreTokenizer::Add(const Json& j, std::string_view source) {
  std::string where = fmt::format("{}: pre_tokenizer", source);
  BATON_ASSIGN_OR_RETURN(std::string type, JsonString(j, "type", where));
  if (byte_level_) {
    return Unimplemented("{}: '{}' after ByteLevel is not supported (ByteLevel must be last)",
                         where, type);
  }
  auto flag = [&](const char* key, bool dflt) {
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
  };
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      return InvalidArgument("{} Sequence: key 'pretokenizers': expected an array", where);
    }
    for (const Json& child : *it) BATON_RETURN_IF_ERROR(Add(child, source));
  } else if (type == "Split") {
    Step step;
    auto pat = j.find("pattern");
    if (pat != j.end() && pat->is_object() && pat->contains("Regex") &&
        (*pat)["Regex"].is_string()) {
      step.kind = Step::kRegexSplit;
      auto regex = Regex::Compile((*pat)["Regex"].get<std::string>());
      if (!regex.ok()) return regex.status().WithContext(where);
      step.regex = std::move(regex).value();
    } else if (pat != j.end() && pat->is_object() && pat->contains("String") &&
               (*pat)["String"].is_string()) {
      step.kind = Step::kStringSplit;
      step.literal = Utf8ToCodePoints((*pat)["String"].get<std::string>());
      if (step.literal.empty()) return InvalidArgument("{} Split: empty String pattern", where);
    } else {
      return InvalidArgument(
          "{} Split: key 'pattern': expected {{\"Regex\": ...}} or "
          "{{\"String\": ...}}",
          where);
    }
    BATON_ASSIGN_OR_RETURN(std::string behavior, JsonString(j, "behavior", where + " Split"));
    static const std::pair<std::string_view, Behavior> kBehaviors[] = {
        {"Removed", Behavior::kRemoved},
        {"Isolated", Behavior::kIsolated},
        {"MergedWithPrevious", Behavior::kMergedWithPrevious},
        {"MergedWithNext", Behavior::kMergedWithNext},
        {"Contiguous", Behavior::kContiguous},
    };
    bool known = false;
    for (const auto& [name, b] : kBehaviors) {
      if (behavior == name) step.behavior = b, known = true;
    }
    if (!known) return Unimplemented("{} Split: behavior '{}' is not supported", where, behavior);
    step.invert = flag("invert", false);
    steps_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    if (flag("add_prefix_space", true)) {
      Step step;
      step.kind = Step::kPrefixSpace;
      steps_.push_back(std::move(step));
    }
    if (flag("use_regex", true)) {
      Step step;
      step.kind = Step::kRegexSplit;
      step.regex = Regex::Compile(kGpt2Pattern).value();
      steps_.push_back(std::move(step));
    }
    byte_level_ = true;
  } else {
    return Unimplemented("{}: type '{}' is not supported (supported: Sequence, Split, ByteLevel)",
                         where, type);
  }
  return Status::Ok();
}

void PreTokenizer::ApplyStep(const Step& step, std::u32string_view piece,
                             std::vector<std::u32string>* out) const {
  if (step.kind == Step::kPrefixSpace) {
    if (!piece.empty() && piece[0] == U' ') {
      out->emplace_back(piece);
    } else {
      out->push_back(U" " + std::u32string(piece));
    }
    return;
  }
  std::vector<std::pair<size_t, size_t>> matches;
  if (step.kind == Step::kRegexSplit) {
    matches = step.regex->FindAll(piece);
  } else {
    for (size_t p = piece.find(step.literal); p != std::u32string_view::npos;
         p = piece.find(step.literal, p + step.literal.size())) {
      matches.push_back({p, p + step.literal.size()});
    }
  }
  std::vector<Span> spans = Cover(matches, piece.size());
  if (step.invert) {
    for (Span& s : spans) s.is_match = !s.is_match;
  }
  // The behaviors, as Hugging Face tokenizers defines them (SplitDelimiterBehavior).
  std::vector<Span> result;
  bool previous_match = false;
  switch (step.behavior) {
    case Behavior::kIsolated:
      result = spans;
      break;
    case Behavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.is_match) result.push_back(s);
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !result.empty()) {
          result.back().end = s.end;
        } else {
          result.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& s = spans[i];
        if (s.is_match && !previous_match && !result.empty()) {
          result.back().begin = s.begin;
        } else {
          result.push_back(s);
        }
        previous_match = s.is_match;
      }
      std::reverse(result.begin(), result.end());
      break;
    case Behavior::kContiguous:
      for (size_t i = 0; i < spans.size(); ++i) {
        if (i > 0 && spans[i].is_match == previous_match) {
          result.back().end = spans[i].end;
        } else {
          result.push_back(spans[i]);
        }
        previous_match = spans[i].is_match;
      }
      break;
  }
  for (const Span& s : result) {
    if (s.end > s.begin) out->emplace_back(piece.substr(s.begin, s.end - s.begin));
  }
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string>* words) const {
  std::vector<std::u32string> pieces = {Utf8ToCodePoints(text)};
  std::vector<std::u32string> next;
  for (const Step& step : steps_) {
    next.clear();
    for (const std::u32string& piece : pieces) ApplyStep(step, piece, &next);
    pieces.swap(next);
  }
  for (const std::u32string& piece : pieces) {
    if (!piece.empty()) words->push_back(CodePointsToUtf8(piece));
  }
}

}  // namespace baton
