#include "data/train_example.h"

#include <algorithm>

namespace baton {
namespace {

// Bracket special-token text found in message content. Control characters that no chat text
// uses; a conversation that contains them anyway is encoded without the guard.
constexpr char kPlainOpen = '\x01', kPlainClose = '\x02';

void AppendEncoded(const Tokenizer& tok, std::string_view text, bool trainable, TrainExample* out) {
  // Split the segment at the guard marks: outside them special tokens are parsed, inside not.
  bool plain = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t mark = text.find(plain ? kPlainClose : kPlainOpen, pos);
    if (mark == std::string_view::npos) mark = text.size();
    std::string_view piece = text.substr(pos, mark - pos);
    if (!piece.empty()) {
      std::vector<int32_t> ids = tok.Encode(piece, /*parse_special_tokens=*/!plain);
      out->input_ids.insert(out->input_ids.end(), ids.begin(), ids.end());
      for (int32_t id : ids) out->labels.push_back(trainable ? id : kIgnoreLabel);
    }
    plain = !plain;
    pos = mark + 1;
  }
}

bool HasTrainable(const std::vector<int32_t>& labels) {
  return std::any_of(labels.begin(), labels.end(), [](int32_t l) { return l != kIgnoreLabel; });
}

}  // namespace

Result<TruncationStrategy> ParseTruncationStrategy(std::string_view name) {
  if (name == "delete") return TruncationStrategy::kDelete;
  if (name == "left") return TruncationStrategy::kLeft;
  if (name == "right") return TruncationStrategy::kRight;
  return InvalidArgument("--truncation_strategy '{}': expected delete, left or right", name);
}

std::string_view TruncationStrategyName(TruncationStrategy strategy) {
  switch (strategy) {
    case TruncationStrategy::kDelete:
      return "delete";
    case TruncationStrategy::kLeft:
      return "left";
    case TruncationStrategy::kRight:
      return "right";
  }
  return "?";
}

ExampleEncoder::ExampleEncoder(const Tokenizer* tokenizer, ChatTemplateKind kind,
                               ChatRenderOptions render, int64_t max_length,
                               TruncationStrategy truncation)
    : tokenizer_(tokenizer),
      kind_(kind),
      render_(std::move(render)),
      max_length_(max_length),
      truncation_(truncation) {
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
    if (tokenizer->IsSpecial(id)) {
      std::string text = tokenizer->IdToToken(id);
      if (!text.empty()) special_texts_.push_back(std::move(text));
    }
  }
  // Longest first, so a special token that contains another is matched whole.
  std::sort(special_texts_.begin(), special_texts_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::vector<ChatMessage> ExampleEncoder::GuardSpecialText(
    const std::vector<ChatMessage>& messages) const {
  bool any = false;
  for (const ChatMessage& m : messages) {
    if (m.content.find_first_of(std::string{kPlainOpen, kPlainClose}) != std::string::npos) {
      return messages;  // cannot mark unambiguously; encode as ms-swift would
    }
    for (const std::string& s : special_texts_) any = any || m.content.find(s) != std::string::npos;
  }
  if (!any) return messages;
  std::vector<ChatMessage> guarded = messages;
  for (ChatMessage& m : guarded) {
    std::string out;
    size_t pos = 0;
    while (pos < m.content.size()) {
      const std::string* hit = nullptr;
      for (const std::string& s : special_texts_) {
        if (m.content.compare(pos, s.size(), s) == 0) {
          hit = &s;
          break;
        }
      }
      if (hit == nullptr) {
        out += m.content[pos++];
        continue;
      }
      out += kPlainOpen;
      out += *hit;
      out += kPlainClose;
      pos += hit->size();
    }
    m.content = std::move(out);
  }
  return guarded;
}

Result<EncodedExample> ExampleEncoder::Encode(const std::vector<ChatMessage>& messages) const {
  BATON_ASSIGN_OR_RETURN(std::vector<ChatSegment> segments,
                         RenderChatSegments(kind_, GuardSpecialText(messages), render_));
  EncodedExample out;
  TrainExample& ex = out.example;
  for (const ChatSegment& s : segments) AppendEncoded(*tokenizer_, s.text, s.trainable, &ex);
  out.full_length = static_cast<int64_t>(ex.input_ids.size());
  if (max_length_ > 0 && out.full_length > max_length_) {
    if (truncation_ == TruncationStrategy::kDelete) {
      out.outcome = EncodeOutcome::kDroppedTooLong;
      out.example = {};
      return out;
    }
    auto keep = static_cast<size_t>(max_length_);
    if (truncation_ == TruncationStrategy::kRight) {
      ex.input_ids.resize(keep);
      ex.labels.resize(keep);
    } else {
      ex.input_ids.erase(ex.input_ids.begin(), ex.input_ids.end() - keep);
      ex.labels.erase(ex.labels.begin(), ex.labels.end() - keep);
    }
    out.outcome = EncodeOutcome::kTruncated;
  }
  if (!HasTrainable(ex.labels)) {
    out.outcome = EncodeOutcome::kDroppedNoAnswer;
    out.example = {};
  }
  return out;
}

}  // namespace baton
