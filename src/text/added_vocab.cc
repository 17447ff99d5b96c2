#include "text/added_vocab.h"

#include <algorithm>

#include "model/config.h"
#include "text/unicode.h"

namespace baton {
namespace {

// The code point just before byte offset `pos` (which is at a character boundary).
char32_t CodePointBefore(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return DecodeUtf8(text, &start);
}

bool IsWordChar(char32_t cp) {
  // Rust's char::is_alphanumeric() or '_', which HF tokenizers uses for single_word.
  return cp == U'_' || InCategories(cp, CategoryMaskFromName("L") | CategoryMaskFromName("N"));
}

}  // namespace

Result<AddedVocabulary> AddedVocabulary::FromJson(const Json& added_tokens,
                                                  std::string_view source) {
  AddedVocabulary v;
  if (added_tokens.is_null()) return v;
  if (!added_tokens.is_array()) {
    return InvalidArgument("{}: key 'added_tokens': expected an array", source);
  }
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const Json& t = added_tokens[i];
    std::string where = fmt::format("{}: added_tokens[{}]", source, i);
    AddedToken tok;
    BATON_ASSIGN_OR_RETURN(int64_t id, JsonInt(t, "id", where));
    BATON_ASSIGN_OR_RETURN(tok.content, JsonString(t, "content", where));
    if (id < 0 || id >= ModelConfig::kMaxVocabSize) {
      return InvalidArgument("{}: bad id {} (ids are 0..{})", where, id,
                             ModelConfig::kMaxVocabSize - 1);
    }
    if (tok.content.empty()) return InvalidArgument("{}: empty content", where);
    tok.id = static_cast<int32_t>(id);
    auto flag = [&](const char* key, bool dflt) {
      auto it = t.find(key);
      return it != t.end() && it->is_boolean() ? it->get<bool>() : dflt;
    };
    tok.special = flag("special", false);
    tok.lstrip = flag("lstrip", false);
    tok.rstrip = flag("rstrip", false);
    tok.single_word = flag("single_word", false);
    tok.normalized = flag("normalized", !tok.special);
    v.has_normalized_ |= tok.normalized;
    v.tokens_.push_back(std::move(tok));
  }
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    v.by_first_byte_[static_cast<unsigned char>(v.tokens_[i].content[0])].push_back(
        static_cast<int>(i));
  }
  for (auto& list : v.by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [&](int a, int b) {
      return v.tokens_[a].content.size() > v.tokens_[b].content.size();
    });
  }
  return v;
}

void AddedVocabulary::Split(std::string_view text, bool normalized, bool parse_special,
                            std::vector<Segment>* out) const {
  size_t text_start = 0;  // start of the pending plain text
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (int i : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& t = tokens_[i];
      if (t.normalized != normalized || (t.special && !parse_special)) continue;
      if (text.compare(pos, t.content.size(), t.content) != 0) continue;
      size_t stop = pos + t.content.size();
      if (t.single_word && ((pos > 0 && IsWordChar(CodePointBefore(text, pos))) ||
                            (stop < text.size() && IsWordChar([&] {
                               size_t p = stop;
                               return DecodeUtf8(text, &p);
                             }())))) {
        continue;
      }
      match = &t;
      break;
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + match->content.size();
    if (match->lstrip) {
      while (start > text_start) {
        size_t prev = start - 1;
        while (prev > text_start && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
        size_t p = prev;
        if (!IsWhiteSpace(DecodeUtf8(text, &p))) break;
        start = prev;
      }
    }
    if (match->rstrip) {
      while (stop < text.size()) {
        size_t p = stop;
        if (!IsWhiteSpace(DecodeUtf8(text, &p))) break;
        stop = p;
      }
    }
    if (start > text_start) out->push_back({text.substr(text_start, start - text_start), -1});
    out->push_back({text.substr(start, stop - start), match->id});
    text_start = pos = stop;
  }
  if (text_start < text.size()) out->push_back({text.substr(text_start), -1});
}

}  // namespace baton
