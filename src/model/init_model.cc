#include "model/init_model.h"

#include <cmath>
#include <map>

#include "model/safetensors.h"
#include "model/weights.h"

namespace baton {
namespace {

struct Preset {
  const char* name;
  int64_t vocab, hidden, ffn, layers, heads, kv_heads, max_pos;
  double theta;
  bool tied;
};

// Shapes of the published models' config.json files.
constexpr Preset kPresets[] = {
    {"tiny", 151936, 128, 384, 4, 4, 2, 4096, 1000000.0, true},
    {"qwen2.5-0.5b", 151936, 896, 4864, 24, 14, 2, 32768, 1000000.0, true},
    {"qwen2.5-1.5b", 151936, 1536, 8960, 28, 12, 2, 32768, 1000000.0, true},
    {"qwen2-7b", 152064, 3584, 18944, 28, 28, 4, 131072, 10000.0, false},
};

// splitmix64: a counter-based generator, so every tensor's values depend only on (seed, name).
uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t HashName(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

void FillNormal(float* out, int64_t n, double std, uint64_t state) {
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller, two values per pair of uniforms
    double u1 = (static_cast<double>(SplitMix(state) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(SplitMix(state) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)) * std;
    out[i] = static_cast<float>(r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(2 * M_PI * u2));
  }
}

}  // namespace

std::vector<std::string> ModelPresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.push_back(p.name);
  return names;
}

Result<ModelConfig> ModelPreset(const std::string& name, int64_t vocab_size) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    ModelConfig c;
    c.arch = Architecture::kQwen2;
    c.attention_bias = true;
    c.vocab_size = vocab_size > 0 ? vocab_size : p.vocab;
    c.hidden_size = p.hidden;
    c.intermediate_size = p.ffn;
    c.num_hidden_layers = p.layers;
    c.num_attention_heads = p.heads;
    c.num_key_value_heads = p.kv_heads;
    c.head_dim = p.hidden / p.heads;
    c.max_position_embeddings = p.max_pos;
    c.rope_theta = p.theta;
    c.tie_word_embeddings = p.tied;
    c.rms_norm_eps = 1e-6;
    BATON_RETURN_IF_ERROR(c.Validate("preset " + name));
    return c;
  }
  std::string all;
  for (const std::string& n : ModelPresetNames()) all += (all.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown model preset '{}' (known: {})", name, all);
}

Status WriteRandomModel(Env* env, const ModelConfig& config, const InitModelOptions& options,
                        const std::string& dir) {
  BATON_RETURN_IF_ERROR(env->CreateDirs(dir));
  ModelConfig c = config;
  c.dtype = options.dtype;
  // Plan the shards from the shapes (in file order, each under max_shard_bytes when possible),
  // then make each tensor only when its shard is written: host memory peaks at one shard, so a
  // 7B model (15 GB in bf16) is written on a machine with less memory than that.
  std::map<std::string, Shape> shapes;
  std::vector<std::pair<std::string, uint64_t>> sizes;
  ModelWeights w;
  ForEachWeight(c, w, [&](const std::string& name, const Shape& shape, Tensor&) {
    shapes[name] = shape;
    sizes.emplace_back(name, static_cast<uint64_t>(NumElements(shape)) * DTypeSize(options.dtype));
  });
  auto make = [&](const std::string& name) -> Result<Tensor> {
    const Shape& shape = shapes.at(name);
    Tensor t = Tensor::Empty(shape, DType::kF32);
    bool is_norm = shape.size() == 1 && name.find("norm") != std::string::npos;
    bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 1.0f;
    } else if (is_bias) {
      std::memset(t.raw(), 0, t.nbytes());
    } else {
      bool is_embed = name == "model.embed_tokens.weight" || name == "lm_head.weight";
      double embed_std = options.embed_std > 0
                             ? options.embed_std
                             : 1.0 / std::sqrt(static_cast<double>(c.hidden_size));
      FillNormal(t.f32(), t.numel(), is_embed ? embed_std : options.init_std,
                 HashName(name, options.seed));
    }
    return options.dtype != DType::kF32 ? t.ConvertTo(options.dtype) : t;
  };
  BATON_RETURN_IF_ERROR(
      WriteModelShards(env, dir, PlanShards(sizes, options.max_shard_bytes), make));
  return env->WriteFileAtomic(JoinPath(dir, "config.json"), DumpJson(c.ToJson(), 2));
}

}  // namespace baton
