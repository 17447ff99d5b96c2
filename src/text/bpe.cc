#include "text/bpe.h"

#include <mutex>
#include <queue>

#include "model/config.h"
#include "text/byte_level.h"

namespace baton {

// Words repeat a lot in natural text; caching their ids skips the merge loop. Bounded so a
// long-running process does not grow without limit (it is simply cleared when full).
struct BpeModel::Cache {
  static constexpr size_t kCapacity = 20000;
  static constexpr size_t kMaxWordBytes = 64;
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

BpeModel::BpeModel() : cache_(std::make_unique<Cache>()) {}
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;
BpeModel::~BpeModel() = default;

Result<BpeModel> BpeModel::FromJson(const Json& model, std::string_view source) {
  BpeModel m;
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    return InvalidArgument("{}: key 'model.vocab': expected an object of token -> id", source);
  }
  m.vocab_.reserve(vocab_it->size());
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_it->items()) {
    // Ids index a table, so one huge id would size it: at most ModelConfig::kMaxVocabSize.
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= ModelConfig::kMaxVocabSize) {
      return InvalidArgument("{}: key 'model.vocab': token '{}' has a bad id {} (ids are 0..{})",
                             source, token, DumpJson(id), ModelConfig::kMaxVocabSize - 1);
    }
    int32_t i = id.get<int32_t>();
    m.vocab_.emplace(token, i);
    max_id = std::max(max_id, i);
  }
  m.id_to_token_.resize(max_id + 1);
  for (const auto& [token, id] : m.vocab_) m.id_to_token_[id] = token;

  for (int b = 0; b < 256; ++b) {
    std::string s = BytesToByteLevel(std::string(1, static_cast<char>(b)));
    const int32_t* id = m.Find(s);
    m.byte_ids_[b] = id ? *id : -1;
  }

  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && it->is_string() && !it->get<std::string>().empty()) {
      return Unimplemented("{}: key 'model.{}' is not supported", source, key);
    }
  }
  if (auto it = model.find("dropout");
      it != model.end() && it->is_number() && it->get<double>() > 0) {
    return Unimplemented("{}: key 'model.dropout': BPE dropout is not supported", source);
  }
  if (auto it = model.find("ignore_merges"); it != model.end() && it->is_boolean()) {
    m.ignore_merges_ = it->get<bool>();
  }
  if (m.ignore_merges_) {
    std::string bytes;
    for (const auto& [token, id] : m.vocab_) {
      if (ByteLevelToBytes(token, &bytes)) m.whole_words_.emplace(bytes, id);
    }
  }

  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    return InvalidArgument("{}: key 'model.merges': expected an array", source);
  }
  m.merges_.reserve(merges_it->size());
  int32_t rank = 0;
  for (const Json& merge : *merges_it) {
    std::string a, b;
    if (merge.is_string()) {
      const std::string& s = merge.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return InvalidArgument(
            "{}: key 'model.merges[{}]': '{}' is not two tokens split by a "
            "space",
            source, rank, s);
      }
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      a = merge[0].get<std::string>();
      b = merge[1].get<std::string>();
    } else {
      return InvalidArgument(
          "{}: key 'model.merges[{}]': expected \"a b\" or [\"a\", \"b\"], "
          "got {}",
          source, rank, DumpJson(merge));
    }
    const int32_t* ia = m.Find(a);
    const int32_t* ib = m.Find(b);
    const int32_t* iab = m.Find(a + b);
    for (const auto& [part, id] : {std::pair{&a, ia}, std::pair{&b, ib}}) {
      if (id == nullptr) {
        return InvalidArgument("{}: key 'model.merges[{}]': token '{}' is not in the vocab", source,
                               rank, *part);
      }
    }
    if (iab == nullptr) {
      return InvalidArgument("{}: key 'model.merges[{}]': merged token '{}' is not in the vocab",
                             source, rank, a + b);
    }
    // A repeated pair keeps its first (lowest) rank.
    m.merges_.emplace(PairKey(*ia, *ib), MergeRule{rank, *iab});
    ++rank;
  }
  return m;
}

const int32_t* BpeModel::Find(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? nullptr : &it->second;
}

void BpeModel::Encode(std::string_view bytes, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    auto it = whole_words_.find(std::string(bytes));
    if (it != whole_words_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  bool cacheable = bytes.size() <= Cache::kMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto it = cache_->words.find(std::string(bytes));
    if (it != cache_->words.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = ids->size();
  MergeWord(bytes, ids);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() >= Cache::kCapacity) cache_->words.clear();
    cache_->words.emplace(std::string(bytes),
                          std::vector<int32_t>(ids->begin() + first, ids->end()));
  }
}

void BpeModel::MergeWord(std::string_view bytes, std::vector<int32_t>* ids) const {
  // Symbols form a doubly linked list over an array; a heap holds candidate merges ordered by
  // (rank, position). Entries go stale when a neighbour merges; they are checked when popped.
  struct Symbol {
    int32_t id;
    int prev, next;  // -1 at the ends
  };
  std::vector<Symbol> syms;
  syms.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (byte_ids_[c] < 0) continue;  // not in the vocab and no unk: dropped, as HF does
    int i = static_cast<int>(syms.size());
    syms.push_back({byte_ids_[c], i - 1, -1});
    if (i > 0) syms[i - 1].next = i;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    auto it = merges_.find(PairKey(syms[left].id, syms[syms[left].next].id));
    if (it != merges_.end()) heap.push({it->second.rank, left, it->second.merged_id});
  };
  for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) push(i);
  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    Symbol& left = syms[top.pos];
    if (left.id < 0 || left.next < 0) continue;  // merged away, or now last
    auto it = merges_.find(PairKey(left.id, syms[left.next].id));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;  // stale
    Symbol& right = syms[left.next];
    left.id = top.merged_id;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = top.pos;
    push(left.prev);
    push(top.pos);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) ids->push_back(syms[i].id);
}

}  // namespace baton
