// Tokenised training examples with loss masks, built from a conversation and a chat template.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tensor/backend.h"  // kIgnoreLabel
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace baton {

// labels[i] is input_ids[i] where the token is assistant output (the answer's content and its
// end-of-turn token) and kIgnoreLabel elsewhere. Labels are not shifted: as in Hugging Face, the
// loss at position i predicts labels[i + 1].
struct TrainExample {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
};

// What to do with an example longer than max_length (ms-swift's --truncation_strategy).
enum class TruncationStrategy {
  kDelete,  // drop it (ms-swift's default)
  kLeft,    // keep the last max_length tokens
  kRight,   // keep the first max_length tokens
};
Result<TruncationStrategy> ParseTruncationStrategy(std::string_view name);
std::string_view TruncationStrategyName(TruncationStrategy strategy);

enum class EncodeOutcome {
  kKept,             // within max_length
  kTruncated,        // cut to max_length, some answer tokens remain
  kDroppedTooLong,   // longer than max_length with kDelete
  kDroppedNoAnswer,  // nothing trainable left after truncation
};

struct EncodedExample {
  TrainExample example;  // empty when dropped
  EncodeOutcome outcome = EncodeOutcome::kKept;
  int64_t full_length = 0;  // tokens before truncation
};

// Renders and tokenises conversations. Each segment of RenderChatSegments is encoded on its own
// so the mask follows segment boundaries exactly, with special tokens in template text parsed as
// special. Special-token text typed inside a message (a user writing "<|im_end|>") is encoded as
// plain text, so data cannot forge turn boundaries; this differs from ms-swift, whose Hugging
// Face tokenizer call parses special tokens everywhere. Non-special added tokens (e.g. <think>)
// are matched in content as Hugging Face does.
class ExampleEncoder {
 public:
  // `max_length` <= 0 means no limit. `tokenizer` must outlive the encoder.
  ExampleEncoder(const Tokenizer* tokenizer, ChatTemplateKind kind, ChatRenderOptions render,
                 int64_t max_length, TruncationStrategy truncation);

  Result<EncodedExample> Encode(const std::vector<ChatMessage>& messages) const;

 private:
  // Marks special-token text inside message contents so it is encoded as plain text.
  std::vector<ChatMessage> GuardSpecialText(const std::vector<ChatMessage>& messages) const;

  const Tokenizer* tokenizer_;
  ChatTemplateKind kind_;
  ChatRenderOptions render_;
  int64_t max_length_;
  TruncationStrategy truncation_;
  std::vector<std::string> special_texts_;  // longest first
};

}  // namespace baton
