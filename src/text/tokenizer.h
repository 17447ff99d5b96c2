// Tokenizer: byte-level BPE read from a Hugging Face tokenizer.json (Qwen2/2.5/3, Llama-3,
// DeepSeek-R1 files). Encoding follows HF tokenizers step by step:
//   1. added tokens with normalized=false are split out of the raw text (longest match first),
//   2. the rest is normalized (NFC or nothing), then split on added tokens with normalized=true,
//   3. pre-tokenized into words (regex splits, ByteLevel), 4. each word is BPE-encoded.
// The post_processor is ignored: Encode never adds BOS/EOS (chat templates write them).
// Decoding is ByteLevel: token bytes are concatenated; invalid UTF-8 becomes U+FFFD.
// A Tokenizer is immutable after loading and safe to use from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/env.h"
#include "base/json.h"
#include "base/status.h"
#include "text/added_vocab.h"
#include "text/bpe.h"
#include "text/normalizer.h"
#include "text/pre_tokenizer.h"

namespace baton {

class Tokenizer {
 public:
  // Errors name the file and the key: missing file, invalid JSON (with line:column), unknown
  // model/normalizer/pre-tokenizer/decoder types, merges whose tokens are not in the vocab.
  static Result<Tokenizer> FromFile(Env* env, const std::string& tokenizer_json_path);
  // `source` names the origin in error messages.
  static Result<Tokenizer> FromJson(const Json& json, std::string_view source);

  // Token ids of `text` (invalid UTF-8 is first replaced with U+FFFD). With
  // parse_special_tokens false, special added tokens (e.g. "<|im_end|>" typed by a user) are
  // encoded as plain text; non-special added tokens are still matched, as in HF.
  std::vector<int32_t> Encode(std::string_view text, bool parse_special_tokens = true) const;
  // The text of `ids`; unknown ids are skipped.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The raw bytes a token stands for (possibly part of a UTF-8 character); empty if unknown.
  std::string_view TokenBytes(int32_t id) const;
  // Looks up an added token's content or a vocabulary token string ("Ġthe").
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token string (added token content or vocabulary string); empty if unknown.
  std::string IdToToken(int32_t id) const;
  // Max id + 1 over the vocabulary and the added tokens.
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_bytes_.size()); }
  // An error unless every token id (vocab and added tokens) is below `model_vocab_size`, the
  // rows of the model's embedding: a larger id would index past them. `model_source` names
  // the model's config.json in the message; `source` this tokenizer.json.
  Status CheckFitsModel(int64_t model_vocab_size, std::string_view source,
                        std::string_view model_source) const;
  bool IsSpecial(int32_t id) const;

 private:
  Tokenizer(BpeModel model) : model_(std::move(model)) {}  // NOLINT
  // Pre-tokenizes and BPE-encodes normalized text that holds no added token.
  void EncodeText(std::string_view normalized_text, std::vector<int32_t>* ids) const;

  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  AddedVocabulary added_;
  std::unordered_map<std::string, int32_t> added_ids_;  // content -> id
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> special_;
};

// Turns ids generated one at a time into text, emitting each character only once all of its
// bytes have arrived (a token may end inside a multi-byte character, e.g. half an emoji).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tokenizer, bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Adds one id and returns the text completed by it (often empty or one word).
  std::string Add(int32_t id);
  // Returns what is still held back (an incomplete sequence comes out as U+FFFD) and resets.
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of a character not yet complete
};

}  // namespace baton
