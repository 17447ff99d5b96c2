#include "model/merge_lora.h"

#include <cstring>
#include <map>

#include "model/safetensors.h"
#include "model/weights.h"

namespace baton {
namespace {

// Files of a model folder that hold weights (this folder's or another format's): the merge
// writes its own and copies none of these.
bool IsWeightFile(const std::string& name) {
  for (const char* suffix : {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack",
                             ".safetensors.index.json", ".bin.index.json"}) {
    if (name.ends_with(suffix)) return true;
  }
  return false;
}

}  // namespace

void AddLoraDelta(const LoraEntry& e, float* w) {
  // W[o, :] += (scale * B[o, k]) * A[k, :], k over the rank: rows of A streamed, vectorisable.
  const float* a = e.a.f32();
  const float* b = e.b.f32();
  for (int64_t o = 0; o < e.out; ++o) {
    float* row = w + o * e.in;
    for (int64_t k = 0; k < e.rank; ++k) {
      const float coef = e.scale * b[o * e.rank + k];
      const float* a_row = a + k * e.in;
      for (int64_t i = 0; i < e.in; ++i) row[i] += coef * a_row[i];
    }
  }
}

Status MergeLoraIntoModel(Env* env, const std::string& model_dir, const LoraAdapter& adapter,
                          const std::string& out_dir, const MergeOptions& options) {
  if (adapter.params().device() != Device::kCpu) {
    return InvalidArgument("MergeLoraIntoModel: the adapter must be on the CPU");
  }
  BATON_ASSIGN_OR_RETURN(WeightSet weights, WeightSet::Open(env, model_dir));
  // The base tensor each adapted module changes: "model.layers.3.self_attn.q_proj.weight".
  std::map<std::string, const LoraEntry*> adapted;
  for (const LoraEntry& e : adapter.entries()) {
    adapted[LinearModulePath(e.layer, e.kind) + ".weight"] = &e;
  }
  for (const auto& [name, entry] : adapted) {
    if (!weights.Has(name)) {
      return NotFound("{}: no tensor '{}', which the adapter changes", weights.Describe(), name);
    }
  }
  std::vector<std::pair<std::string, uint64_t>> sizes;
  for (const std::string& name : weights.Names()) {
    BATON_ASSIGN_OR_RETURN(Tensor t, weights.Get(name));  // a view of the mapped file
    sizes.emplace_back(name, t.nbytes());
  }
  BATON_RETURN_IF_ERROR(env->CreateDirs(out_dir));
  auto merged = [&](const std::string& name) -> Result<Tensor> {
    BATON_ASSIGN_OR_RETURN(Tensor base, weights.Get(name));
    auto it = adapted.find(name);
    if (it == adapted.end()) return base;
    const LoraEntry& e = *it->second;
    if (base.shape() != Shape{e.out, e.in} || !IsFloating(base.dtype())) {
      return InvalidArgument("{}: tensor '{}' is {}, but the adapter's module is [{}, {}]",
                             weights.Describe(), name, base.Describe(), e.out, e.in);
    }
    Tensor w = Tensor::Empty(base.shape(), DType::kF32);
    ConvertToF32(base.dtype(), base.raw(), w.f32(), static_cast<size_t>(w.numel()));
    AddLoraDelta(e, w.f32());
    return base.dtype() == DType::kF32 ? w : w.ConvertTo(base.dtype());
  };
  BATON_RETURN_IF_ERROR(WriteModelShards(env, out_dir, PlanShards(sizes, options.max_shard_bytes),
                                         merged, options.progress));
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(model_dir));
  for (const std::string& name : names) {
    const std::string from = JoinPath(model_dir, name);
    if (name.starts_with(".") || IsWeightFile(name) || env->IsDirectory(from)) continue;
    BATON_RETURN_IF_ERROR(env->CopyFile(from, JoinPath(out_dir, name)));
  }
  return Status::Ok();
}

}  // namespace baton
