#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "base/json.h"

namespace baton {
namespace {

// Headers above this size are not plausible and suggest a file that is not safetensors.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// The header as JSON. A key that appears twice in one object is refused (nlohmann keeps the last
// one silently, so two tensors of one name would hide one of them).
Result<Json> ParseHeader(std::string_view header, const std::string& path) {
  const std::string source = path + " (safetensors header)";
  std::vector<std::set<std::string>> keys;  // of each object being parsed, innermost last
  std::string duplicate;
  auto track = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == Json::parse_event_t::key && !keys.empty() && parsed.is_string() &&
               !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json j = Json::parse(header.begin(), header.end(), track, /*allow_exceptions=*/false);
  if (j.is_discarded()) {  // the parse error, with line:col
    Result<Json> again = ParseJson(header, source);
    return again.ok() ? Corruption("{}: not valid JSON", source)
                      : Corruption("{}", again.status().message());
  }
  if (!duplicate.empty()) return Corruption("{}: key '{}' appears twice", source, duplicate);
  return j;
}

}  // namespace

// Memory that owns a string, presented as a MappedFile.
class StringFile : public MappedFile {
 public:
  explicit StringFile(std::string bytes) : bytes_(std::move(bytes)) {}
  const uint8_t* data() const override { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
};

Result<SafetensorsFile> SafetensorsFile::Open(Env* env, const std::string& path) {
  BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, env->MapFile(path));
  return Parse(std::move(file), path);
}

Result<SafetensorsFile> SafetensorsFile::FromBytes(std::string bytes, const std::string& name) {
  return Parse(std::make_shared<StringFile>(std::move(bytes)), name);
}

Result<SafetensorsFile> SafetensorsFile::Parse(std::shared_ptr<MappedFile> file,
                                               const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.file_ = std::move(file);
  const uint8_t* p = f.file_->data();
  size_t size = f.file_->size();
  if (size < 8) return Corruption("{}: {} bytes, too short for a safetensors header", path, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | p[i];
  if (header_len > kMaxHeaderBytes) {
    return Corruption(
        "{}: header length {} is over the limit of {} bytes (not a safetensors file?)", path,
        header_len, kMaxHeaderBytes);
  }
  if (header_len + 8 > size) {
    return Corruption(
        "{}: header length {} does not fit in the file of {} bytes (truncated or "
        "not a safetensors file)",
        path, header_len, size);
  }
  std::string_view header(reinterpret_cast<const char*>(p + 8), header_len);
  BATON_ASSIGN_OR_RETURN(Json j, ParseHeader(header, path));
  if (!j.is_object()) return Corruption("{}: safetensors header is not a JSON object", path);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return Corruption("{}: __metadata__ is not an object", path);
      for (auto& [k, mv] : v.items()) {
        f.metadata_[k] = mv.is_string() ? mv.get<std::string>() : DumpJson(mv);
      }
      continue;
    }
    std::string where = fmt::format("{}: tensor '{}'", path, name);
    if (!v.is_object()) return Corruption("{}: entry is not a JSON object", where);
    Result<std::string> dtype_field = JsonString(v, "dtype", where);
    if (!dtype_field.ok()) return Corruption("{}", dtype_field.status().message());
    const std::string& dtype_name = *dtype_field;
    Result<DType> dtype = DTypeFromName(dtype_name);
    if (!dtype.ok()) return Corruption("{}: {}", where, dtype.status().message());
    auto shape = v.find("shape");
    auto offsets = v.find("data_offsets");
    if (shape == v.end() || !shape->is_array() || offsets == v.end() || !offsets->is_array() ||
        offsets->size() != 2) {
      return Corruption("{}: needs 'shape' and two 'data_offsets'", where);
    }
    Entry e;
    e.dtype = *dtype;
    // Dimensions as unsigned: nlohmann reads 2^63 and more as unsigned, which get<int64_t>()
    // would turn negative; and the byte count is multiplied with overflow checks.
    uint64_t want = DTypeSize(e.dtype);
    for (const Json& d : *shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t{INT64_MAX}) {
        return Corruption("{}: shape {} holds {} (want integers in [0, 2^63))", where,
                          DumpJson(*shape), DumpJson(d));
      }
      uint64_t dim = d.get<uint64_t>();
      e.shape.push_back(static_cast<int64_t>(dim));
      if (want != 0 && dim > std::numeric_limits<uint64_t>::max() / want) {
        return Corruption("{}: shape {} of {} overflows a 64-bit byte count", where,
                          DumpJson(*shape), dtype_name);
      }
      want *= dim;
    }
    const Json& off = *offsets;
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return Corruption("{}: bad data_offsets {} (want two integers >= 0)", where, DumpJson(off));
    }
    uint64_t b = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (end < b || end - b != want) {
      return Corruption("{}: data_offsets [{}, {}] hold {} bytes but {} {} needs {}", where, b, end,
                        end < b ? 0 : end - b, dtype_name, ShapeString(e.shape), want);
    }
    if (end > data_size) {
      return Corruption(
          "{}: data ends at byte {} but the file holds only {} data bytes "
          "(truncated file?)",
          where, end, data_size);
    }
    e.begin = static_cast<size_t>(data_start + b);
    e.end = static_cast<size_t>(data_start + end);
    auto [it, fresh] = f.entries_.emplace(name, std::move(e));
    ranges.push_back({b, end, &it->first});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    // Empty tensors take no bytes and overlap nothing.
    if (ranges[i].begin < ranges[i - 1].end && ranges[i].begin < ranges[i].end) {
      return Corruption("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path,
                        *ranges[i - 1].name, ranges[i - 1].begin, ranges[i - 1].end,
                        *ranges[i].name, ranges[i].begin, ranges[i].end);
    }
  }
  return f;
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : entries_) names.push_back(name);
  return names;
}

Result<Tensor> SafetensorsFile::Get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return NotFound("{}: no tensor '{}'", path_, name);
  const Entry& e = it->second;
  void* ptr = const_cast<uint8_t*>(file_->data() + e.begin);
  if (reinterpret_cast<uintptr_t>(ptr) % DTypeSize(e.dtype) != 0) {
    // Misaligned data (legal in the format): copy into aligned memory.
    Tensor t = Tensor::Empty(e.shape, e.dtype);
    std::memcpy(t.raw(), ptr, e.end - e.begin);
    return t;
  }
  return Tensor::Wrap(ptr, e.shape, e.dtype, file_);
}

void SafetensorsFile::Release(const std::string& name) const {
  auto it = entries_.find(name);
  if (it != entries_.end()) file_->Release(it->second.begin, it->second.end - it->second.begin);
}

Result<Shape> SafetensorsFile::GetShape(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return NotFound("{}: no tensor '{}'", path_, name);
  return it->second.shape;
}

Result<DType> SafetensorsFile::GetDType(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return NotFound("{}: no tensor '{}'", path_, name);
  return it->second.dtype;
}

Result<std::string> SerializeSafetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  std::vector<const std::pair<std::string, Tensor>*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto* t : order) {
    if (t->second.device() != Device::kCpu) {
      return InvalidArgument("safetensors: tensor '{}' is not on the CPU", t->first);
    }
    if (header.contains(t->first))
      return InvalidArgument("safetensors: duplicate tensor '{}'", t->first);
    size_t n = t->second.nbytes();
    header[t->first] = {{"dtype", DTypeName(t->second.dtype())},
                        {"shape", t->second.shape()},
                        {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = DumpJson(header);
  // Pad with spaces so tensor data starts 8-byte aligned, as the reference writer does.
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  out += h;
  for (const auto* t : order)
    out.append(static_cast<const char*>(t->second.raw()), t->second.nbytes());
  return out;
}

Status WriteSafetensors(Env* env, const std::string& path,
                        const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  Result<std::string> bytes = SerializeSafetensors(tensors, metadata);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return env->WriteFileAtomic(path, *bytes);
}

std::vector<std::vector<std::string>> PlanShards(
    const std::vector<std::pair<std::string, uint64_t>>& sizes, uint64_t max_shard_bytes) {
  std::vector<std::vector<std::string>> shards(1);
  uint64_t shard_bytes = 0;
  for (const auto& [name, bytes] : sizes) {
    if (shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shard_bytes += bytes;
    shards.back().push_back(name);
  }
  return shards;
}

Status WriteModelShards(Env* env, const std::string& dir,
                        const std::vector<std::vector<std::string>>& shards,
                        const std::function<Result<Tensor>(const std::string&)>& get,
                        const std::function<void(const std::string&)>& progress) {
  // save_pretrained marks its files as PyTorch's.
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  Json index;
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::string file = shards.size() == 1 ? std::string("model.safetensors")
                                          : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1,
                                                        shards.size());
    std::vector<std::pair<std::string, Tensor>> tensors;
    uint64_t bytes = 0;
    for (const std::string& name : shards[s]) {
      BATON_ASSIGN_OR_RETURN(Tensor t, get(name));
      bytes += t.nbytes();
      index["weight_map"][name] = file;
      tensors.emplace_back(name, std::move(t));
    }
    total += bytes;
    if (progress) {
      progress(fmt::format("writing {} ({} tensors, {:.1f} MB)", JoinPath(dir, file),
                           tensors.size(), static_cast<double>(bytes) / 1e6));
    }
    BATON_RETURN_IF_ERROR(WriteSafetensors(env, JoinPath(dir, file), tensors, meta));
  }
  if (shards.size() == 1) return Status::Ok();
  index["metadata"]["total_size"] = total;
  return env->WriteFileAtomic(JoinPath(dir, "model.safetensors.index.json"), DumpJson(index, 2));
}

Result<WeightSet> WeightSet::Open(Env* env, const std::string& dir) {
  WeightSet w;
  w.dir_ = dir;
  std::string single = JoinPath(dir, "model.safetensors");
  std::string index = JoinPath(dir, "model.safetensors.index.json");
  if (env->FileExists(index)) {
    BATON_ASSIGN_OR_RETURN(Json j, ReadJsonFile(env, index));
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      return Corruption("{}: missing object 'weight_map'", index);
    }
    std::map<std::string, size_t> shard_index;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) return Corruption("{}: weight_map['{}'] is not a string", index, name);
      std::string shard = file.get<std::string>();
      auto it = shard_index.find(shard);
      if (it == shard_index.end()) {
        Result<SafetensorsFile> f = SafetensorsFile::Open(env, JoinPath(dir, shard));
        if (!f.ok()) return f.status().WithContext(fmt::format("shard listed in {}", index));
        it = shard_index.emplace(shard, w.files_.size()).first;
        w.files_.push_back(std::move(f).value());
      }
      if (!w.files_[it->second].Has(name)) {
        return Corruption("{}: lists tensor '{}' in {} but that file does not hold it", index, name,
                          shard);
      }
      w.where_[name] = it->second;
    }
    return w;
  }
  if (!env->FileExists(single)) {
    return NotFound(
        "{}: no model.safetensors or model.safetensors.index.json (only the "
        "safetensors format is supported; convert .bin checkpoints first)",
        dir);
  }
  BATON_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(env, single));
  for (const std::string& name : f.Names()) w.where_[name] = 0;
  w.files_.push_back(std::move(f));
  return w;
}

Result<Tensor> WeightSet::Get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) return NotFound("{}: missing tensor '{}'", Describe(), name);
  return files_[it->second].Get(name);
}

void WeightSet::Release(const std::string& name) const {
  auto it = where_.find(name);
  if (it != where_.end()) files_[it->second].Release(name);
}

std::vector<std::string> WeightSet::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, i] : where_) names.push_back(name);
  return names;
}

std::string WeightSet::Describe() const {
  if (files_.size() == 1) return files_[0].path();
  return fmt::format("{} ({} shards)", dir_, files_.size());
}

}  // namespace baton
