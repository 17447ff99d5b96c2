// The byte-level BPE model of a tokenizer.json ("model": {"type": "BPE", ...}): a vocabulary of
// byte-level token strings, and ranked merges applied lowest rank first (leftmost on ties), as
// Hugging Face tokenizers does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace baton {

class BpeModel {
 public:
  // Reads `model` (the "model" object); `source` names the file in error messages. Merges may
  // be "a b" strings or ["a", "b"] pairs; every merge's parts and result must be in the vocab.
  static Result<BpeModel> FromJson(const Json& model, std::string_view source);

  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;
  ~BpeModel();

  // Appends the ids of one pre-token given as raw bytes. Thread-safe (the word cache is locked).
  void Encode(std::string_view bytes, std::vector<int32_t>* ids) const;

  // The id of a byte-level token string ("Ġthe"), if in the vocabulary.
  const int32_t* Find(std::string_view token) const;
  // Token strings indexed by id (empty where the vocabulary has a hole); size is max id + 1.
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }

 private:
  struct MergeRule {
    int32_t rank;
    int32_t merged_id;
  };
  struct Cache;

  BpeModel();
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void MergeWord(std::string_view bytes, std::vector<int32_t>* ids) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, MergeRule> merges_;
  int32_t byte_ids_[256];  // the single-byte tokens; -1 when missing (the byte is dropped)
  bool ignore_merges_ = false;
  std::unordered_map<std::string, int32_t> whole_words_;  // raw bytes -> id, for ignore_merges
  std::unique_ptr<Cache> cache_;
};

}  // namespace baton
