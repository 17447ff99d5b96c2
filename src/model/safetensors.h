// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the tensor bytes. Reading maps the file and validates every entry (dtype, shape against
// byte count, offsets inside the file, no overlaps) before any tensor is handed out.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "tensor/tensor.h"

namespace baton {

class SafetensorsFile {
 public:
  static Result<SafetensorsFile> Open(Env* env, const std::string& path);
  // Parses bytes held in memory (e.g. read from an object store); `name` is used in errors.
  static Result<SafetensorsFile> FromBytes(std::string bytes, const std::string& name);

  const std::string& path() const { return path_; }
  std::vector<std::string> Names() const;  // sorted
  bool Has(const std::string& name) const { return entries_.count(name) > 0; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor as stored (dtype of the file), sharing the file mapping: no copy.
  Result<Tensor> Get(const std::string& name) const;
  // Lets the pages of tensor `name` leave memory (MappedFile::Release): call it once the
  // tensor's bytes were copied elsewhere. Tensors from Get() stay valid (pages read back).
  void Release(const std::string& name) const;
  Result<Shape> GetShape(const std::string& name) const;
  Result<DType> GetDType(const std::string& name) const;

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    size_t begin, end;  // absolute offsets in the file
  };
  static Result<SafetensorsFile> Parse(std::shared_ptr<MappedFile> file, const std::string& path);
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// The safetensors bytes of `tensors` (CPU, any dtype), in name order.
Result<std::string> SerializeSafetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                         const std::map<std::string, std::string>& metadata = {});
// Writes `tensors` atomically to `path`.
Status WriteSafetensors(Env* env, const std::string& path,
                        const std::vector<std::pair<std::string, Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

// A model folder's weights as Hugging Face's save_pretrained writes them, one shard in memory at
// a time: `shards` lists the tensor names of each file; `get` makes each tensor (CPU, any dtype)
// when its shard is written. One shard is `model.safetensors`; several are
// `model-00001-of-0000N.safetensors` ... plus `model.safetensors.index.json` ({"metadata":
// {"total_size"}, "weight_map": {name: file}}). `progress`, when set, hears of each file.
Status WriteModelShards(Env* env, const std::string& dir,
                        const std::vector<std::vector<std::string>>& shards,
                        const std::function<Result<Tensor>(const std::string&)>& get,
                        const std::function<void(const std::string&)>& progress = {});
// Groups tensors (name, bytes), in order, into shards of at most `max_shard_bytes` each (a
// tensor larger than that gets a shard of its own), as save_pretrained's max_shard_size does.
std::vector<std::vector<std::string>> PlanShards(
    const std::vector<std::pair<std::string, uint64_t>>& sizes, uint64_t max_shard_bytes);

// A model folder's weights: `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"weight_map": {name: shard file}}).
class WeightSet {
 public:
  static Result<WeightSet> Open(Env* env, const std::string& dir);
  bool Has(const std::string& name) const { return where_.count(name) > 0; }
  // Error names the tensor and the file it was expected in.
  Result<Tensor> Get(const std::string& name) const;
  void Release(const std::string& name) const;  // SafetensorsFile::Release
  std::vector<std::string> Names() const;
  std::string Describe() const;  // "model/model.safetensors" or "model/ (3 shards)"

 private:
  std::string dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

}  // namespace baton
