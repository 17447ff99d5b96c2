#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "base/json.h"

namespace baton {

Result<GenerationOptions> GenerationOptions::FromModelDir(Env* env, const std::string& dir) {
  GenerationOptions o;
  BATON_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::Load(env, dir));
  o.stop_ids = config.eos_token_ids;
  std::string path = JoinPath(dir, "generation_config.json");
  if (!env->FileExists(path)) return o;
  BATON_ASSIGN_OR_RETURN(Json g, ReadJsonFile(env, path));
  if (!g.is_object()) return InvalidArgument("{}: expected a JSON object", path);
  auto given = [&](const char* key) { return g.contains(key) && !g[key].is_null(); };
  // Checked readers: a string or 1e999 is an error here, not a throw or an inf.
  auto number = [&](const char* key, float* out) -> Status {
    if (!given(key)) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(double v, JsonNumber(g, key, path));
    *out = static_cast<float>(v);
    return Status::Ok();
  };
  auto integer = [&](const char* key, int64_t* out) -> Status {
    if (!given(key)) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(*out, JsonInt(g, key, path));
    return Status::Ok();
  };
  bool do_sample = false;
  if (given("do_sample")) {
    BATON_ASSIGN_OR_RETURN(do_sample, JsonBool(g, "do_sample", path));
  }
  if (do_sample) {
    o.temperature = 1.0f;
    o.top_k = 50;
    BATON_RETURN_IF_ERROR(number("temperature", &o.temperature));
    BATON_RETURN_IF_ERROR(integer("top_k", &o.top_k));
    BATON_RETURN_IF_ERROR(number("top_p", &o.top_p));
  }
  BATON_RETURN_IF_ERROR(number("repetition_penalty", &o.repetition_penalty));
  BATON_RETURN_IF_ERROR(integer("max_new_tokens", &o.max_new_tokens));
  BATON_RETURN_IF_ERROR(
      o.Validate([&](const char* key) { return fmt::format("{}: key '{}'", path, key); }));
  return o;
}

Status GenerationOptions::Validate(const std::function<std::string(const char* key)>& where) const {
  auto fail = [&](const char* key, double v, const char* range) {
    return InvalidArgument("{} must be {}, got {}", where(key), range, v);
  };
  // float values: a double beyond float's range became inf when it was stored.
  if (!std::isfinite(temperature) || temperature < 0)
    return fail("temperature", temperature, ">= 0");
  if (!std::isfinite(top_p) || top_p <= 0 || top_p > 1) return fail("top_p", top_p, "in (0, 1]");
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0) {
    return fail("repetition_penalty", repetition_penalty, "positive");
  }
  if (top_k < 0) return fail("top_k", static_cast<double>(top_k), ">= 0 (0: off)");
  if (max_new_tokens < 1)
    return fail("max_new_tokens", static_cast<double>(max_new_tokens), ">= 1");
  return Status::Ok();
}

Sampler::Sampler(const GenerationOptions& options) : options_(options), rng_(options.seed) {}

int32_t Sampler::Next(std::span<const float> logits, std::span<const int32_t> history) {
  int64_t v = static_cast<int64_t>(logits.size());
  scratch_.assign(logits.begin(), logits.end());
  float* s = scratch_.data();
  if (options_.repetition_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= v) continue;
      s[id] = s[id] < 0 ? s[id] * options_.repetition_penalty : s[id] / options_.repetition_penalty;
    }
  }
  if (options_.temperature <= 0.0f) {  // greedy: first maximum, as torch.argmax
    return static_cast<int32_t>(std::max_element(s, s + v) - s);
  }
  for (int64_t i = 0; i < v; ++i) s[i] /= options_.temperature;
  order_.resize(v);
  std::iota(order_.begin(), order_.end(), 0);
  // Candidates sorted by logit, descending; ties keep the lower id first.
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return s[a] > s[b]; });
  int64_t keep = v;
  if (options_.top_k > 0) keep = std::min<int64_t>(keep, options_.top_k);
  float max_logit = s[order_[0]];
  std::vector<double> probs(keep);
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(static_cast<double>(s[order_[i]] - max_logit));
    sum += probs[i];
  }
  if (options_.top_p < 1.0f) {
    // Keep the smallest prefix whose probability reaches top_p (at least one token).
    double cum = 0;
    int64_t n = 0;
    while (n < keep) {
      cum += probs[n] / sum;
      ++n;
      if (cum >= options_.top_p) break;
    }
    keep = n;
    sum = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  double r = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  for (int64_t i = 0; i < keep; ++i) {
    r -= probs[i];
    if (r < 0) return order_[i];
  }
  return order_[keep - 1];
}

Result<GenerationResult> Generate(Transformer& model, std::span<const int32_t> prompt,
                                  const GenerationOptions& options,
                                  const std::function<bool(int32_t)>& on_token) {
  using Clock = std::chrono::steady_clock;
  if (prompt.empty()) return InvalidArgument("Generate: empty prompt");
  int64_t limit = model.config().max_position_embeddings;
  int64_t plen = static_cast<int64_t>(prompt.size());
  if (plen >= limit) {
    return InvalidArgument(
        "Generate: prompt of {} tokens leaves no room under "
        "max_position_embeddings {}",
        plen, limit);
  }
  int64_t max_new = std::min<int64_t>(options.max_new_tokens, limit - plen);
  KVCache cache = model.NewCache(1, plen + max_new);
  Sampler sampler(options);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  GenerationResult result;
  auto t0 = Clock::now();
  Tensor input = Tensor::FromI32(history, {1, plen});
  BATON_ASSIGN_OR_RETURN(Tensor logits, model.Forward(input, Tensor(), cache, true));
  BATON_ASSIGN_OR_RETURN(logits, model.backend()->DownloadF32(logits));
  auto t1 = Clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  int64_t vocab = model.config().vocab_size;
  for (int64_t i = 0; i < max_new; ++i) {
    int32_t next = sampler.Next({logits.f32(), static_cast<size_t>(vocab)}, history);
    result.tokens.push_back(next);
    history.push_back(next);
    bool stop =
        std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end();
    if (on_token && !on_token(next)) break;
    if (stop) {
      result.stopped = true;
      break;
    }
    if (i + 1 == max_new) break;
    Tensor step = Tensor::FromI32({next}, {1, 1});
    BATON_ASSIGN_OR_RETURN(logits, model.Forward(step, Tensor(), cache, true));
    BATON_ASSIGN_OR_RETURN(logits, model.backend()->DownloadF32(logits));
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return result;
}

}  // namespace baton
