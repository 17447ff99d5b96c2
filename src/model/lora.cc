#include "model/lora.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>

#include "base/json.h"

namespace baton {
namespace {

// PEFT matches rank/alpha pattern keys as re.match(r"(.*\.)?" + key + "$", module_path).
bool PatternMatches(const std::string& key, const std::string& path) {
  try {
    return std::regex_match(path, std::regex("(.*\\.)?(" + key + ")"));
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

Result<LoraConfig> LoraConfig::FromJson(const Json& j, const std::string& source) {
  LoraConfig c;
  if (!j.is_object()) return InvalidArgument("{}: not a JSON object", source);
  // Optional keys: absent or null take the default; any other type is an error naming the key.
  auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  auto wrong = [&](const char* key, const char* want) {
    return InvalidArgument("{}: key '{}': expected {}, got {}", source, key, want,
                           j[key].type_name());
  };
  if (present("peft_type") && j["peft_type"] != "LORA") {
    return Unimplemented("{}: peft_type {} is not supported (only LORA)", source,
                         DumpJson(j["peft_type"]));
  }
  BATON_ASSIGN_OR_RETURN(c.r, JsonInt(j, "r", source));
  BATON_ASSIGN_OR_RETURN(c.alpha, JsonNumber(j, "lora_alpha", source));
  if (present("lora_dropout")) {
    BATON_ASSIGN_OR_RETURN(c.dropout, JsonNumber(j, "lora_dropout", source));
    if (c.dropout < 0 || c.dropout >= 1) {
      return InvalidArgument("{}: key 'lora_dropout' must be in [0, 1), got {}", source, c.dropout);
    }
  }
  if (present("use_rslora")) {
    BATON_ASSIGN_OR_RETURN(c.use_rslora, JsonBool(j, "use_rslora", source));
  }
  if (c.r <= 0) return InvalidArgument("{}: key 'r' must be positive", source);
  if (present("use_dora")) {
    BATON_ASSIGN_OR_RETURN(bool dora, JsonBool(j, "use_dora", source));
    if (dora) return Unimplemented("{}: use_dora=true is not supported", source);
  }
  if (present("bias")) {
    BATON_ASSIGN_OR_RETURN(std::string bias, JsonString(j, "bias", source));
    if (bias != "none") {
      return Unimplemented("{}: bias '{}' is not supported (only 'none')", source, bias);
    }
  }
  if (present("modules_to_save") && !j["modules_to_save"].empty()) {
    return Unimplemented("{}: modules_to_save is not supported", source);
  }
  if (present("base_model_name_or_path")) {
    BATON_ASSIGN_OR_RETURN(c.base_model_name_or_path,
                           JsonString(j, "base_model_name_or_path", source));
  }
  if (!j.contains("target_modules")) return NotFound("{}: missing key 'target_modules'", source);
  const Json& t = j["target_modules"];
  if (t.is_string()) {
    if (t == "all-linear") {
      c.target_modules = {"all-linear"};
    } else {
      c.target_regex = t.get<std::string>();
    }
  } else if (t.is_array()) {
    for (const Json& m : t) {
      if (!m.is_string())
        return InvalidArgument("{}: key 'target_modules': expected strings", source);
      c.target_modules.push_back(m.get<std::string>());
    }
  } else {
    return InvalidArgument("{}: key 'target_modules': expected a list or a string", source);
  }
  // Every number through the checked readers (JsonAsInt): a string, 2.5 or 1e30 here is an
  // error, not a throw or a wrapped integer.
  auto layer_index = [&](const Json& x) -> Result<int64_t> {
    Result<int64_t> i = JsonAsInt(x);
    if (!i.ok() || *i < 0) {
      return InvalidArgument("{}: key 'layers_to_transform': {} is not a layer index", source,
                             DumpJson(x));
    }
    return i;
  };
  if (present("layers_to_transform")) {
    const Json& l = j["layers_to_transform"];
    if (l.is_array()) {
      for (const Json& x : l) {
        BATON_ASSIGN_OR_RETURN(int64_t layer, layer_index(x));
        c.layers_to_transform.push_back(layer);
      }
    } else {
      BATON_ASSIGN_OR_RETURN(int64_t layer, layer_index(l));
      c.layers_to_transform.push_back(layer);
    }
  }
  if (present("rank_pattern")) {
    if (!j["rank_pattern"].is_object()) return wrong("rank_pattern", "an object");
    for (auto& [k, v] : j["rank_pattern"].items()) {
      Result<int64_t> rank = JsonAsInt(v);
      if (!rank.ok() || *rank <= 0) {
        return InvalidArgument("{}: key 'rank_pattern': '{}' is {}, want a positive integer",
                               source, k, DumpJson(v));
      }
      c.rank_pattern[k] = *rank;
    }
  }
  if (present("alpha_pattern")) {
    if (!j["alpha_pattern"].is_object()) return wrong("alpha_pattern", "an object");
    for (auto& [k, v] : j["alpha_pattern"].items()) {
      Result<double> alpha = JsonAsNumber(v);
      if (!alpha.ok()) {
        return InvalidArgument("{}: key 'alpha_pattern': '{}' is {}, want a number", source, k,
                               DumpJson(v));
      }
      c.alpha_pattern[k] = *alpha;
    }
  }
  return c;
}

Json LoraConfig::ToJson() const {
  Json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["r"] = r;
  j["lora_alpha"] = alpha;
  j["lora_dropout"] = dropout;
  j["use_rslora"] = use_rslora;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["modules_to_save"] = nullptr;
  j["base_model_name_or_path"] =
      base_model_name_or_path ? Json(*base_model_name_or_path) : Json(nullptr);
  if (target_regex) {
    j["target_modules"] = *target_regex;
  } else if (target_modules.size() == 1 && target_modules[0] == "all-linear") {
    // Old PEFT versions do not know "all-linear": write the expanded list.
    std::vector<std::string> all;
    for (LinearKind k : kAllLinearKinds) all.push_back(LinearModuleName(k));
    j["target_modules"] = all;
  } else {
    j["target_modules"] = target_modules;
  }
  if (!layers_to_transform.empty()) j["layers_to_transform"] = layers_to_transform;
  j["rank_pattern"] = rank_pattern;
  j["alpha_pattern"] = alpha_pattern;
  return j;
}

bool LoraConfig::Targets(int layer, LinearKind kind) const {
  if (!layers_to_transform.empty() &&
      std::find(layers_to_transform.begin(), layers_to_transform.end(), layer) ==
          layers_to_transform.end()) {
    return false;
  }
  std::string path = LinearModulePath(layer, kind);
  if (target_regex) {
    try {
      return std::regex_match(path, std::regex(*target_regex));
    } catch (const std::regex_error&) {
      return false;
    }
  }
  std::string name = LinearModuleName(kind);
  for (const std::string& t : target_modules) {
    if (t == "all-linear" || t == name) return true;
    // PEFT also accepts a dotted suffix of the module path.
    if (path.size() > t.size() && path.compare(path.size() - t.size(), t.size(), t) == 0 &&
        path[path.size() - t.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

Status LoraConfig::CheckFits(const ModelConfig& model, const std::string& source,
                             const std::string& rank_source) const {
  if (!std::isfinite(alpha) || alpha <= 0) {
    return InvalidArgument("{}: lora_alpha must be a positive finite number, got {}", source,
                           alpha);
  }
  for (const auto& [key, a] : alpha_pattern) {
    if (!std::isfinite(a) || a <= 0) {
      return InvalidArgument("{}: alpha_pattern['{}'] must be a positive finite number, got {}",
                             source, key, a);
    }
  }
  for (int64_t layer : layers_to_transform) {
    if (layer < 0 || layer >= model.num_hidden_layers) {
      return InvalidArgument(
          "{}: layers_to_transform names layer {}, but the model has layers "
          "0..{}",
          source, layer, model.num_hidden_layers - 1);
    }
  }
  double total = 0;
  for (int l = 0; l < model.num_hidden_layers; ++l) {
    for (LinearKind k : kAllLinearKinds) {
      if (!Targets(l, k)) continue;
      auto [out, in] = LinearShape(model, k);
      int64_t rank = RankFor(l, k);
      if (rank < 1 || rank > std::min(in, out)) {
        bool patterned = rank != r;
        return InvalidArgument(
            "{}: rank {} for {} must be in [1, {}] (min(in {}, out {}) of that module){}",
            patterned ? source : rank_source, rank, LinearModulePath(l, k), std::min(in, out), in,
            out, patterned ? " (from rank_pattern)" : "");
      }
      total += static_cast<double>(rank) * static_cast<double>(in + out);
    }
  }
  if (total > kMaxParameters) {
    return InvalidArgument("{}: the adapter would have {:.3g} parameters; the most is {:.3g}",
                           rank_source, total, kMaxParameters);
  }
  return Status::Ok();
}

int64_t LoraConfig::RankFor(int layer, LinearKind kind) const {
  std::string path = LinearModulePath(layer, kind);
  for (const auto& [key, rank] : rank_pattern) {
    if (PatternMatches(key, path)) return rank;
  }
  return r;
}

double LoraConfig::ScaleFor(int layer, LinearKind kind) const {
  std::string path = LinearModulePath(layer, kind);
  double a = alpha;
  for (const auto& [key, value] : alpha_pattern) {
    if (PatternMatches(key, path)) {
      a = value;
      break;
    }
  }
  double rank = static_cast<double>(RankFor(layer, kind));
  return use_rslora ? a / std::sqrt(rank) : a / rank;
}

std::string LoraAdapter::TensorName(int layer, LinearKind kind, bool is_a) {
  return fmt::format("base_model.model.{}.lora_{}.weight", LinearModulePath(layer, kind),
                     is_a ? "A" : "B");
}

LoraAdapter LoraAdapter::Create(const ModelConfig& model, const LoraConfig& config,
                                Backend* backend) {
  LoraAdapter ad;
  ad.config_ = config;
  ad.backend_ = backend;
  ad.index_.assign(model.num_hidden_layers * kNumLinearKinds, -1);
  int64_t total = 0;
  for (int l = 0; l < model.num_hidden_layers; ++l) {
    for (LinearKind k : kAllLinearKinds) {
      if (!config.Targets(l, k)) continue;
      auto [out, in] = LinearShape(model, k);
      LoraEntry e{l,  k, config.RankFor(l, k), in, out, static_cast<float>(config.ScaleFor(l, k)),
                  {}, {}};
      ad.index_[l * kNumLinearKinds + static_cast<int>(k)] = static_cast<int>(ad.entries_.size());
      ad.entries_.push_back(e);
      total += e.rank * (in + out);
    }
  }
  ad.BindParams(backend != nullptr ? backend->NewZeros({total}, DType::kF32)
                                   : Tensor::Zeros({total}, DType::kF32));
  return ad;
}

void LoraAdapter::BindParams(Tensor block) {
  params_ = std::move(block);
  std::vector<std::pair<Tensor, Tensor>> views = ViewsOf(params_);
  for (size_t i = 0; i < views.size(); ++i) {
    entries_[i].a = views[i].first;
    entries_[i].b = views[i].second;
  }
}

std::vector<std::pair<Tensor, Tensor>> LoraAdapter::ViewsOf(const Tensor& block) const {
  std::vector<std::pair<Tensor, Tensor>> views;
  int64_t offset = 0;
  for (const LoraEntry& e : entries_) {
    Tensor a = block.Slice(offset, offset + e.rank * e.in).Reshape({e.rank, e.in});
    offset += e.rank * e.in;
    Tensor b = block.Slice(offset, offset + e.out * e.rank).Reshape({e.out, e.rank});
    offset += e.out * e.rank;
    views.emplace_back(a, b);
  }
  return views;
}

Result<LoraAdapter> LoraAdapter::ToHost() const {
  BATON_ASSIGN_OR_RETURN(Tensor host, HostParams());
  LoraAdapter copy = *this;
  copy.backend_ = nullptr;
  copy.BindParams(host.raw() == params_.raw() ? host.Clone() : host);
  return copy;
}

Result<LoraAdapter> LoraAdapter::ToBackend(Backend* backend) const {
  BATON_ASSIGN_OR_RETURN(LoraAdapter copy, ToHost());
  if (backend == nullptr || backend->device() == Device::kCpu) return copy;
  BATON_ASSIGN_OR_RETURN(Tensor placed, backend->Upload(copy.params_, DType::kF32));
  copy.backend_ = backend;
  copy.BindParams(std::move(placed));
  return copy;
}

Result<Tensor> LoraAdapter::HostParams() const {
  if (params_.device() == Device::kCpu) return params_;
  return backend_->Download(params_);
}

Status LoraAdapter::SetParams(const Tensor& host) {
  if (host.raw() == params_.raw()) return Status::Ok();
  if (backend_ == nullptr) {
    std::memcpy(params_.raw(), host.raw(), params_.nbytes());
    return Status::Ok();
  }
  return backend_->Copy(host, params_);
}

const LoraEntry* LoraAdapter::Find(int layer, LinearKind kind) const {
  size_t i = static_cast<size_t>(layer) * kNumLinearKinds + static_cast<int>(kind);
  if (i >= index_.size() || index_[i] < 0) return nullptr;
  return &entries_[index_[i]];
}

Result<LoraAdapter> LoraAdapter::Load(Env* env, const std::string& dir, const ModelConfig& model) {
  std::string config_path = JoinPath(dir, kPeftConfigFile);
  if (!env->FileExists(config_path)) return NotFound("{}: no {}", dir, kPeftConfigFile);
  BATON_ASSIGN_OR_RETURN(Json j, ReadJsonFile(env, config_path));
  BATON_ASSIGN_OR_RETURN(LoraConfig config, LoraConfig::FromJson(j, config_path));
  std::string weights_path = JoinPath(dir, kPeftWeightsFile);
  if (!env->FileExists(weights_path)) {
    return NotFound("{}: no {} (only the safetensors format is supported)", dir, kPeftWeightsFile);
  }
  BATON_RETURN_IF_ERROR(config.CheckFits(model, config_path, config_path + ": key 'r'"));
  BATON_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(env, weights_path));
  LoraAdapter ad = Create(model, config);
  std::map<std::string, Tensor*> wanted;
  for (LoraEntry& e : ad.entries_) {
    wanted[TensorName(e.layer, e.kind, true)] = &e.a;
    wanted[TensorName(e.layer, e.kind, false)] = &e.b;
  }
  for (const std::string& stored : file.Names()) {
    // Some writers keep PEFT's in-memory adapter name: "...lora_A.default.weight".
    std::string name = stored;
    size_t d = name.find(".default.weight");
    if (d != std::string::npos) name = name.substr(0, d) + ".weight";
    auto it = wanted.find(name);
    if (it == wanted.end()) {
      return InvalidArgument(
          "{}: tensor '{}' does not belong to any module that {} targets on "
          "this {}-layer model",
          weights_path, stored, config_path, model.num_hidden_layers);
    }
    BATON_ASSIGN_OR_RETURN(Tensor t, file.Get(stored));
    Tensor& slot = *it->second;
    if (t.shape() != slot.shape()) {
      return InvalidArgument("{}: tensor '{}' has shape {} but the model and r imply {}",
                             weights_path, stored, ShapeString(t.shape()),
                             ShapeString(slot.shape()));
    }
    if (!IsFloating(t.dtype())) {
      return InvalidArgument("{}: tensor '{}' has dtype {}; expected F32, BF16 or F16",
                             weights_path, stored, DTypeName(t.dtype()));
    }
    ConvertToF32(t.dtype(), t.raw(), slot.f32(), static_cast<size_t>(t.numel()));
    wanted.erase(it);
  }
  if (!wanted.empty()) {
    return NotFound("{}: missing tensor '{}' ({} missing in all)", weights_path,
                    wanted.begin()->first, wanted.size());
  }
  return ad;
}

Result<std::string> LoraAdapter::SerializeWeights() const {
  BATON_ASSIGN_OR_RETURN(Tensor host, HostParams());
  std::vector<std::pair<Tensor, Tensor>> views = ViewsOf(host);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const LoraEntry& e = entries_[i];
    tensors.emplace_back(TensorName(e.layer, e.kind, true), views[i].first);
    tensors.emplace_back(TensorName(e.layer, e.kind, false), views[i].second);
  }
  return SerializeSafetensors(tensors, {{"format", "pt"}});
}

std::string LoraAdapter::SerializeConfig() const { return DumpJson(config_.ToJson(), 2); }

Status LoraAdapter::Save(Env* env, const std::string& dir) const {
  BATON_RETURN_IF_ERROR(env->CreateDirs(dir));
  BATON_ASSIGN_OR_RETURN(std::string weights, SerializeWeights());
  BATON_RETURN_IF_ERROR(env->WriteFileAtomic(JoinPath(dir, kPeftWeightsFile), weights));
  return env->WriteFileAtomic(JoinPath(dir, kPeftConfigFile), SerializeConfig());
}

Status LoraAdapter::LoadWeightsFromBytes(std::string bytes, const std::string& name) {
  BATON_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::FromBytes(std::move(bytes), name));
  Tensor host =
      params_.device() == Device::kCpu ? params_ : Tensor::Empty(params_.shape(), DType::kF32);
  std::vector<std::pair<Tensor, Tensor>> views = ViewsOf(host);
  for (size_t i = 0; i < entries_.size(); ++i) {
    const LoraEntry& e = entries_[i];
    for (bool is_a : {true, false}) {
      std::string tname = TensorName(e.layer, e.kind, is_a);
      Tensor& slot = is_a ? views[i].first : views[i].second;
      BATON_ASSIGN_OR_RETURN(Tensor t, f.Get(tname));
      if (t.shape() != slot.shape() || t.dtype() != DType::kF32) {
        return Corruption("{}: tensor '{}' is {}, want F32{}", name, tname, t.Describe(),
                          ShapeString(slot.shape()));
      }
      std::memcpy(slot.raw(), t.raw(), t.nbytes());
    }
  }
  return SetParams(host);
}

Status LoraAdapter::InitLikePeft(uint64_t seed) {
  Tensor host = Tensor::Zeros(params_.shape(), DType::kF32);
  std::vector<std::pair<Tensor, Tensor>> views = ViewsOf(host);
  for (size_t k = 0; k < entries_.size(); ++k) {
    const LoraEntry& e = entries_[k];
    uint64_t state = seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(e.layer) * 64 +
                     static_cast<int>(e.kind);
    float bound = 1.0f / std::sqrt(static_cast<float>(e.in));
    float* a = views[k].first.f32();
    for (int64_t i = 0; i < e.a.numel(); ++i) {
      uint64_t z = (state += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
      a[i] = static_cast<float>((2 * u - 1) * bound);
    }
  }
  return SetParams(host);
}

}  // namespace baton
