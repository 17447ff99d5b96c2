#include "model/config.h"

#include <cmath>
#include <type_traits>
#include <utility>

namespace baton {
namespace {

// Reads one visited field from JSON; absent/null optional keys keep their defaults.
struct JsonReader {
  const Json& j;
  const std::string& source;
  Status status;

  template <typename T>
  void operator()(const char* key, T& field, bool required) {
    if (!status.ok()) return;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) status = NotFound("{}: missing required key '{}'", source, key);
      return;
    }
    if constexpr (std::is_same_v<T, bool>) {
      Result<bool> v = JsonBool(j, key, source);
      if (v.ok())
        field = *v;
      else
        status = v.status();
    } else if constexpr (std::is_integral_v<T>) {
      Result<int64_t> v = JsonInt(j, key, source);
      if (v.ok())
        field = *v;
      else
        status = v.status();
    } else {
      Result<double> v = JsonNumber(j, key, source);
      if (v.ok())
        field = *v;
      else
        status = v.status();
    }
  }
};

Result<std::vector<int64_t>> TokenIdList(const Json& v, const std::string& source,
                                         const char* key) {
  std::vector<int64_t> ids;
  if (v.is_null()) return ids;
  if (v.is_number()) {
    Result<int64_t> id = JsonAsInt(v);
    if (!id.ok()) return InvalidArgument("{}: key '{}': {}", source, key, id.status().message());
    ids.push_back(*id);
    return ids;
  }
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      Result<int64_t> id = JsonAsInt(v[i]);
      if (!id.ok()) {
        return InvalidArgument("{}: key '{}'[{}]: {}", source, key, i, id.status().message());
      }
      ids.push_back(*id);
    }
    return ids;
  }
  return InvalidArgument("{}: key '{}': expected an integer or a list", source, key);
}

Status ReadRope(const Json& j, const std::string& source, ModelConfig& c) {
  // transformers 5: "rope_parameters": {"rope_theta", "rope_type", ...}.
  // older: top-level "rope_theta" plus optional "rope_scaling": {"type"|"rope_type", "factor",
  // ...}.
  const Json* params = nullptr;
  std::string where = source;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    params = &j["rope_parameters"];
    where = source + ": rope_parameters";
  } else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    params = &j["rope_scaling"];
    where = source + ": rope_scaling";
  }
  if (j.contains("rope_theta") && !j["rope_theta"].is_null()) {
    BATON_ASSIGN_OR_RETURN(c.rope_theta, JsonNumber(j, "rope_theta", source));
  }
  if (params == nullptr) return Status::Ok();
  const Json& p = *params;
  if (p.contains("rope_theta")) {
    BATON_ASSIGN_OR_RETURN(c.rope_theta, JsonNumber(p, "rope_theta", where));
  }
  std::string type = "default";
  if (p.contains("rope_type")) {
    BATON_ASSIGN_OR_RETURN(type, JsonString(p, "rope_type", where));
  } else if (p.contains("type")) {
    BATON_ASSIGN_OR_RETURN(type, JsonString(p, "type", where));
  }
  if (type != "default" && type != "linear" && type != "llama3") {
    return Unimplemented("{}: rope type '{}' is not supported (supported: default, linear, llama3)",
                         where, type);
  }
  c.rope_type = type;
  if (type == "default") return Status::Ok();
  BATON_ASSIGN_OR_RETURN(c.rope_factor, JsonNumber(p, "factor", where));
  if (type == "llama3") {
    BATON_ASSIGN_OR_RETURN(c.rope_low_freq_factor, JsonNumber(p, "low_freq_factor", where));
    BATON_ASSIGN_OR_RETURN(c.rope_high_freq_factor, JsonNumber(p, "high_freq_factor", where));
    BATON_ASSIGN_OR_RETURN(c.rope_original_max_position_embeddings,
                           JsonInt(p, "original_max_position_embeddings", where));
  }
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::FromJson(const Json& j, const std::string& source) {
  if (!j.is_object()) return InvalidArgument("{}: expected a JSON object", source);
  ModelConfig c;
  std::string arch_name;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    arch_name = j["architectures"][0].get<std::string>();
  } else if (j.contains("model_type") && j["model_type"].is_string()) {
    arch_name = j["model_type"].get<std::string>();
  } else {
    return NotFound("{}: missing key 'architectures' (and 'model_type')", source);
  }
  if (arch_name == "Qwen2ForCausalLM" || arch_name == "qwen2") {
    c.arch = Architecture::kQwen2;
    c.attention_bias = true;
  } else if (arch_name == "LlamaForCausalLM" || arch_name == "llama") {
    c.arch = Architecture::kLlama;
  } else {
    return Unimplemented(
        "{}: architecture '{}' is not supported (supported: Qwen2ForCausalLM, "
        "LlamaForCausalLM)",
        source, arch_name);
  }
  JsonReader reader{j, source, Status::Ok()};
  c.VisitFields(reader);
  BATON_RETURN_IF_ERROR(reader.status);
  if (c.arch == Architecture::kLlama) {
    if (j.contains("attention_bias") && !j["attention_bias"].is_null()) {
      BATON_ASSIGN_OR_RETURN(c.attention_bias, JsonBool(j, "attention_bias", source));
    }
    if (j.contains("mlp_bias") && !j["mlp_bias"].is_null()) {
      BATON_ASSIGN_OR_RETURN(c.mlp_bias, JsonBool(j, "mlp_bias", source));
    }
  }
  if (c.arch == Architecture::kQwen2 && j.contains("use_sliding_window") &&
      !j["use_sliding_window"].is_null()) {
    BATON_ASSIGN_OR_RETURN(bool sliding, JsonBool(j, "use_sliding_window", source));
    if (sliding) return Unimplemented("{}: use_sliding_window=true is not supported", source);
  }
  if (c.num_key_value_heads == 0) c.num_key_value_heads = c.num_attention_heads;
  if (c.head_dim == 0 && c.num_attention_heads > 0)
    c.head_dim = c.hidden_size / c.num_attention_heads;
  BATON_RETURN_IF_ERROR(ReadRope(j, source, c));
  const char* dtype_key = j.contains("dtype") ? "dtype" : "torch_dtype";
  if (j.contains(dtype_key) && j[dtype_key].is_string()) {
    Result<DType> d = DTypeFromTorchName(j[dtype_key].get<std::string>());
    if (!d.ok()) return d.status().WithContext(fmt::format("{}: key '{}'", source, dtype_key));
    c.dtype = *d;
  }
  if (j.contains("eos_token_id")) {
    BATON_ASSIGN_OR_RETURN(c.eos_token_ids, TokenIdList(j["eos_token_id"], source, "eos_token_id"));
  }
  for (auto [key, out] :
       {std::pair{"bos_token_id", &c.bos_token_id}, std::pair{"pad_token_id", &c.pad_token_id}}) {
    if (j.contains(key) && !j[key].is_null()) {
      BATON_ASSIGN_OR_RETURN(*out, JsonInt(j, key, source));
      if (**out < 0) out->reset();  // some converted checkpoints say -1 for "none"
    }
  }
  BATON_RETURN_IF_ERROR(c.Validate(source));
  return c;
}

Status ModelConfig::Validate(const std::string& source) const {
  auto size = [&](const char* key, int64_t v, int64_t max) -> Status {
    if (v > 0 && v <= max) return Status::Ok();
    return InvalidArgument("{}: key '{}' must be in [1, {}], got {}", source, key, max, v);
  };
  BATON_RETURN_IF_ERROR(size("vocab_size", vocab_size, kMaxVocabSize));
  BATON_RETURN_IF_ERROR(size("hidden_size", hidden_size, kMaxHiddenSize));
  BATON_RETURN_IF_ERROR(size("intermediate_size", intermediate_size, kMaxIntermediateSize));
  BATON_RETURN_IF_ERROR(size("num_hidden_layers", num_hidden_layers, kMaxLayers));
  BATON_RETURN_IF_ERROR(size("num_attention_heads", num_attention_heads, kMaxHeads));
  BATON_RETURN_IF_ERROR(size("num_key_value_heads", num_key_value_heads, kMaxHeads));
  BATON_RETURN_IF_ERROR(size("head_dim", head_dim, kMaxHeadDim));
  BATON_RETURN_IF_ERROR(size("max_position_embeddings", max_position_embeddings, kMaxPositions));
  if (num_attention_heads % num_key_value_heads != 0) {
    return InvalidArgument("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                           source, num_attention_heads, num_key_value_heads);
  }
  if (head_dim % 2 != 0)
    return InvalidArgument("{}: head_dim {} must be even for RoPE", source, head_dim);
  auto positive = [&](const char* key, double v) -> Status {
    if (std::isfinite(v) && v > 0) return Status::Ok();
    return InvalidArgument("{}: key '{}' must be a positive finite number, got {}", source, key, v);
  };
  BATON_RETURN_IF_ERROR(positive("rms_norm_eps", rms_norm_eps));
  if (rms_norm_eps >= 1) {
    return InvalidArgument("{}: key 'rms_norm_eps' must be below 1, got {}", source, rms_norm_eps);
  }
  BATON_RETURN_IF_ERROR(positive("rope_theta", rope_theta));
  if (rope_type != "default") {
    BATON_RETURN_IF_ERROR(positive("rope_parameters.factor", rope_factor));
  }
  if (rope_type == "llama3") {
    BATON_RETURN_IF_ERROR(positive("rope_parameters.low_freq_factor", rope_low_freq_factor));
    BATON_RETURN_IF_ERROR(positive("rope_parameters.high_freq_factor", rope_high_freq_factor));
    BATON_RETURN_IF_ERROR(size("rope_parameters.original_max_position_embeddings",
                               rope_original_max_position_embeddings, kMaxPositions));
  }
  // Each size is bounded, their products are not: the whole model must stay a model.
  if (double n = ParameterCount(); n > kMaxParameters) {
    return InvalidArgument(
        "{}: the sizes (hidden_size {}, intermediate_size {}, num_hidden_layers {}, vocab_size "
        "{}) make {:.3g} parameters; the most is {:.3g}",
        source, hidden_size, intermediate_size, num_hidden_layers, vocab_size, n, kMaxParameters);
  }
  auto token = [&](const char* key, int64_t id) -> Status {
    if (id >= 0 && id < vocab_size) return Status::Ok();
    return InvalidArgument("{}: key '{}': token id {} is not in the vocabulary (vocab_size {})",
                           source, key, id, vocab_size);
  };
  for (int64_t id : eos_token_ids) BATON_RETURN_IF_ERROR(token("eos_token_id", id));
  if (bos_token_id) BATON_RETURN_IF_ERROR(token("bos_token_id", *bos_token_id));
  if (pad_token_id) BATON_RETURN_IF_ERROR(token("pad_token_id", *pad_token_id));
  return Status::Ok();
}

double ModelConfig::ParameterCount() const {
  // In double: the terms are bounded, so nothing here overflows before the check above.
  double h = static_cast<double>(hidden_size), d = static_cast<double>(head_dim);
  double q = static_cast<double>(num_attention_heads) * d;
  double kv = static_cast<double>(num_key_value_heads) * d;
  double attention = h * q + 2 * h * kv + q * h + q + 2 * kv + h;  // with the biases
  double mlp = 3 * h * static_cast<double>(intermediate_size);
  double layer = attention + mlp + 2 * h;
  double embed = static_cast<double>(vocab_size) * h;
  return embed * (tie_word_embeddings ? 1 : 2) + static_cast<double>(num_hidden_layers) * layer + h;
}

Result<ModelConfig> ModelConfig::Load(Env* env, const std::string& dir) {
  std::string path = JoinPath(dir, "config.json");
  if (!env->FileExists(path)) {
    return NotFound("{}: no config.json (is this a Hugging Face model folder?)", dir);
  }
  BATON_ASSIGN_OR_RETURN(Json j, ReadJsonFile(env, path));
  BATON_ASSIGN_OR_RETURN(ModelConfig c, FromJson(j, path));
  std::string gen_path = JoinPath(dir, "generation_config.json");
  if (env->FileExists(gen_path)) {
    BATON_ASSIGN_OR_RETURN(Json g, ReadJsonFile(env, gen_path));
    if (g.contains("eos_token_id") && !g["eos_token_id"].is_null()) {
      BATON_ASSIGN_OR_RETURN(c.eos_token_ids,
                             TokenIdList(g["eos_token_id"], gen_path, "eos_token_id"));
      BATON_RETURN_IF_ERROR(c.Validate(gen_path));  // the ids must be in the vocabulary
    }
  }
  return c;
}

std::string ModelConfig::ArchitectureName() const {
  return arch == Architecture::kQwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
}

Json ModelConfig::ToJson() const {
  Json j;
  j["architectures"] = {ArchitectureName()};
  j["model_type"] = arch == Architecture::kQwen2 ? "qwen2" : "llama";
  ModelConfig copy = *this;
  copy.VisitFields([&](const char* key, auto& field, bool) { j[key] = field; });
  j["hidden_act"] = "silu";
  if (arch == Architecture::kLlama) {
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = mlp_bias;
  } else {
    j["use_sliding_window"] = false;
  }
  Json rope = {{"rope_type", rope_type}, {"rope_theta", rope_theta}};
  if (rope_type != "default") rope["factor"] = rope_factor;
  if (rope_type == "llama3") {
    rope["low_freq_factor"] = rope_low_freq_factor;
    rope["high_freq_factor"] = rope_high_freq_factor;
    rope["original_max_position_embeddings"] = rope_original_max_position_embeddings;
  }
  j["rope_parameters"] = rope;
  j["rope_theta"] = rope_theta;  // read by transformers < 5
  j["dtype"] = DTypeTorchName(dtype);
  j["torch_dtype"] = DTypeTorchName(dtype);
  if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else if (!eos_token_ids.empty()) {
    j["eos_token_id"] = eos_token_ids;
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  return j;
}

std::string ModelConfig::Summary() const {
  return fmt::format("{}: {} layers, hidden {}, heads {}/{} (head_dim {}), ffn {}, vocab {}{}",
                     ArchitectureName(), num_hidden_layers, hidden_size, num_attention_heads,
                     num_key_value_heads, head_dim, intermediate_size, vocab_size,
                     tie_word_embeddings ? ", tied embeddings" : "");
}

bool ModelConfig::operator==(const ModelConfig& other) const { return ToJson() == other.ToJson(); }

}  // namespace baton
