#include "text/tokenizer.h"

#include <fmt/ranges.h>

#include "text/byte_level.h"
#include "text/unicode.h"

namespace baton {
namespace {

// Per the HF ByteLevel decoder: a token made only of alphabet characters stands for the bytes
// they map to; any other token (e.g. "<｜User｜>") for its own UTF-8.
std::string TokenToBytes(const std::string& token) {
  std::string bytes;
  if (ByteLevelToBytes(token, &bytes)) return bytes;
  return token;
}

Status CheckType(const Json& json, const char* key, std::initializer_list<std::string_view> ok,
                 std::string_view source) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    return Unimplemented("{}: key '{}' is missing or null; supported types: {}", source, key,
                         fmt::join(ok, ", "));
  }
  BATON_ASSIGN_OR_RETURN(std::string type,
                         JsonString(*it, "type", fmt::format("{}: {}", source, key)));
  for (std::string_view t : ok) {
    if (type == t) return Status::Ok();
  }
  return Unimplemented("{}: {} type '{}' is not supported (supported: {})", source, key, type,
                       fmt::join(ok, ", "));
}

}  // namespace

Result<Tokenizer> Tokenizer::FromFile(Env* env, const std::string& tokenizer_json_path) {
  BATON_ASSIGN_OR_RETURN(Json json, ReadJsonFile(env, tokenizer_json_path));
  return FromJson(json, tokenizer_json_path);
}

Result<Tokenizer> Tokenizer::FromJson(const Json& json, std::string_view source) {
  if (!json.is_object()) return InvalidArgument("{}: expected a JSON object", source);
  auto model_it = json.find("model");
  if (model_it == json.end() || !model_it->is_object()) {
    return InvalidArgument("{}: missing key 'model'", source);
  }
  // Old files omit model.type; a vocab plus merges is BPE.
  std::string model_type = "BPE";
  if (auto t = model_it->find("type"); t != model_it->end()) {
    BATON_ASSIGN_OR_RETURN(model_type,
                           JsonString(*model_it, "type", fmt::format("{}: model", source)));
  }
  if (model_type != "BPE") {
    return Unimplemented("{}: model type '{}' is not supported (supported: BPE)", source,
                         model_type);
  }
  BATON_RETURN_IF_ERROR(CheckType(json, "decoder", {"ByteLevel"}, source));
  BATON_ASSIGN_OR_RETURN(BpeModel model, BpeModel::FromJson(*model_it, source));
  Tokenizer tok(std::move(model));

  static const Json kNull;
  auto member = [&](const char* key) -> const Json& {
    auto it = json.find(key);
    return it == json.end() ? kNull : *it;
  };
  BATON_ASSIGN_OR_RETURN(tok.normalizer_, Normalizer::FromJson(member("normalizer"), source));
  BATON_ASSIGN_OR_RETURN(tok.pre_tokenizer_,
                         PreTokenizer::FromJson(member("pre_tokenizer"), source));
  if (!tok.pre_tokenizer_.byte_level()) {
    return Unimplemented(
        "{}: key 'pre_tokenizer': only byte-level BPE is supported (the "
        "pre-tokenizer must end with ByteLevel)",
        source);
  }
  BATON_ASSIGN_OR_RETURN(tok.added_, AddedVocabulary::FromJson(member("added_tokens"), source));

  const std::vector<std::string>& vocab = tok.model_.id_to_token();
  size_t size = vocab.size();
  for (const AddedToken& t : tok.added_.tokens()) size = std::max<size_t>(size, t.id + 1);
  tok.id_to_bytes_.resize(size);
  tok.special_.resize(size);
  for (size_t id = 0; id < vocab.size(); ++id) tok.id_to_bytes_[id] = TokenToBytes(vocab[id]);
  for (const AddedToken& t : tok.added_.tokens()) {
    tok.id_to_bytes_[t.id] = TokenToBytes(t.content);
    tok.special_[t.id] = t.special;
    tok.added_ids_[t.content] = t.id;
  }
  return tok;
}

void Tokenizer::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<std::string> words;
  pre_tokenizer_.Split(text, &words);
  for (const std::string& w : words) model_.Encode(w, ids);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool parse_special_tokens) const {
  std::string valid = ToValidUtf8(text);
  std::vector<int32_t> ids;
  std::vector<AddedVocabulary::Segment> raw, normalized_segments;
  added_.Split(valid, /*normalized=*/false, parse_special_tokens, &raw);
  for (const auto& seg : raw) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string normalized = normalizer_.Apply(seg.text);
    if (!added_.has_normalized()) {
      EncodeText(normalized, &ids);
      continue;
    }
    normalized_segments.clear();
    added_.Split(normalized, /*normalized=*/true, parse_special_tokens, &normalized_segments);
    for (const auto& s : normalized_segments) {
      if (s.id >= 0) {
        ids.push_back(s.id);
      } else {
        EncodeText(s.text, &ids);
      }
    }
  }
  return ids;
}

Status Tokenizer::CheckFitsModel(int64_t model_vocab_size, std::string_view source,
                                 std::string_view model_source) const {
  // Ids past the model's rows can only come from the file's largest ids: find the largest.
  int64_t largest = static_cast<int64_t>(model_.id_to_token().size()) - 1;
  std::string what = "model.vocab";
  for (const AddedToken& t : added_.tokens()) {
    if (t.id > largest) {
      largest = t.id;
      what = fmt::format("added token '{}'", t.content);
    }
  }
  if (largest < model_vocab_size) return Status::Ok();
  return InvalidArgument(
      "{}: {} has token id {}, beyond the model's vocab_size {} ({}): the tokenizer does not "
      "belong to this model",
      source, what, largest, model_vocab_size, model_source);
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return id_to_bytes_[id];
}

bool Tokenizer::IsSpecial(int32_t id) const { return id >= 0 && id < vocab_size() && special_[id]; }

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special_tokens && IsSpecial(id)) continue;
    bytes += TokenBytes(id);
  }
  return ToValidUtf8(bytes);
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto it = added_ids_.find(std::string(token)); it != added_ids_.end()) return it->second;
  if (const int32_t* id = model_.Find(token)) return *id;
  return std::nullopt;
}

std::string Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  for (const AddedToken& t : added_.tokens()) {
    if (t.id == id) return t.content;
  }
  const auto& vocab = model_.id_to_token();
  return static_cast<size_t>(id) < vocab.size() ? vocab[id] : std::string();
}

std::string StreamDecoder::Add(int32_t id) {
  if (skip_special_tokens_ && tokenizer_->IsSpecial(id)) return {};
  pending_ += tokenizer_->TokenBytes(id);
  size_t complete = CompleteUtf8Prefix(pending_);
  std::string out = ToValidUtf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = ToValidUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace baton
