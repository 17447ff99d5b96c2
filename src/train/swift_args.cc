#include "train/swift_args.h"

#include <algorithm>
#include <set>

#include "base/json.h"
#include "base/strings.h"
#include "model/weights.h"
#include "run/layout.h"

namespace baton {
namespace {

// ms-swift's default system prompt of its `qwen` template (Qwen2's chat template).
constexpr char kQwenDefaultSystem[] = "You are a helpful assistant.";

// The module names a target list adapts, "all-linear" expanded (PEFT's special value).
std::set<std::string> TargetSet(const std::vector<std::string>& targets) {
  std::set<std::string> out;
  for (const std::string& t : targets) {
    if (t == "all-linear") {
      for (LinearKind k : kAllLinearKinds) out.insert(LinearModuleName(k));
    } else {
      out.insert(t);
    }
  }
  return out;
}

}  // namespace

SwiftModelNames SwiftNamesFor(ChatTemplateKind kind, const std::string& default_system) {
  // ms-swift registers DeepSeek-R1-Distill-* as model_type deepseek_r1_distill with template
  // deepseek_r1 (swift/llm/model/model/deepseek.py), Qwen2.5 as qwen2_5 / qwen2_5, Qwen2 as
  // qwen2 / qwen, Llama 3 as llama3 / llama3 (swift/llm/model/constant.py, template/constant.py).
  switch (kind) {
    case ChatTemplateKind::kDeepSeekR1:
      return {"deepseek_r1_distill", "deepseek_r1"};
    case ChatTemplateKind::kLlama3:
      return {"llama3", "llama3"};
    case ChatTemplateKind::kChatML:
      if (default_system == kQwen25DefaultSystem) return {"qwen2_5", "qwen2_5"};
      if (default_system.empty()) return {"qwen2", "chatml"};
      return {"qwen2", "qwen"};
  }
  return {"qwen2", "qwen"};
}

Result<SwiftTemplate> ParseSwiftTemplate(const std::string& name) {
  if (name == "qwen2_5") {
    return SwiftTemplate{ChatTemplateKind::kChatML, std::string(kQwen25DefaultSystem)};
  }
  if (name == "qwen" || name == "qwen2") {
    return SwiftTemplate{ChatTemplateKind::kChatML, kQwenDefaultSystem};
  }
  if (name == "chatml") return SwiftTemplate{ChatTemplateKind::kChatML, ""};
  if (name == "deepseek_r1") return SwiftTemplate{ChatTemplateKind::kDeepSeekR1, ""};
  if (name == "llama3") return SwiftTemplate{ChatTemplateKind::kLlama3, ""};
  return InvalidArgument(
      "template '{}' is not supported (expected qwen2_5, qwen, chatml, deepseek_r1 or llama3)",
      name);
}

std::string MakeSwiftArgs(const TrainArgs& args, const SwiftModelNames& names) {
  // TrainArgs already uses ms-swift's flag names; what ms-swift spells differently or fills in
  // itself is set here.
  Json j = args.ToJson();
  j["model"] = RedactUrl(args.model);
  j["output_dir"] = RedactUrl(args.output_dir);
  j["model_type"] = names.model_type;
  j["template"] = names.template_name;
  j["system"] = args.system_given ? Json(args.system) : Json(nullptr);
  j["task_type"] = "causal_lm";
  j["torch_dtype"] =
      args.torch_dtype == "bf16" || args.torch_dtype == "bfloat16" ? "bfloat16" : "float32";
  j["gradient_accumulation_steps"] = args.EffectiveGradientAccumulation();
  j["lora_bias"] = "none";
  j["use_dora"] = false;
  j["adapters"] = Json::array();
  j["add_version"] = false;
  j.erase("device");  // Baton's own flag; ms-swift picks devices from CUDA_VISIBLE_DEVICES
  return DumpJson(j, 2);
}

Status CheckSwiftArgs(const std::string& text, const LoraConfig& config,
                      const std::string& source) {
  Result<Json> parsed = ParseJson(text, source);
  if (!parsed.ok()) return Status(StatusCode::kCorruption, parsed.status().message());
  const Json& j = *parsed;
  if (!j.is_object()) return Corruption("{}: not a JSON object", source);
  auto disagree = [&](const char* key, const std::string& theirs) {
    return Corruption("{}: '{}' is {}, but {} says {}", source, key,
                      j.contains(key) ? DumpJson(j[key]) : std::string("missing"),
                      kAdapterConfigFile, theirs);
  };
  for (const char* key : {"model", "template"}) {
    if (!j.contains(key) || !j[key].is_string()) {
      return Corruption("{}: '{}' is {}, want a string", source, key,
                        j.contains(key) ? DumpJson(j[key]) : std::string("missing"));
    }
  }
  if (j.value("train_type", Json()) != "lora") {
    return Corruption("{}: 'train_type' is {}, want \"lora\" (the checkpoint holds an adapter)",
                      source, j.contains("train_type") ? DumpJson(j["train_type"]) : "missing");
  }
  if (config.base_model_name_or_path && j["model"] != *config.base_model_name_or_path) {
    return disagree("model",
                    "base_model_name_or_path = " + DumpJson(Json(*config.base_model_name_or_path)));
  }
  const Json rank = j.value("lora_rank", Json());
  if (!rank.is_number_integer() || rank.get<int64_t>() != config.r) {
    return disagree("lora_rank", fmt::format("r = {}", config.r));
  }
  const Json alpha = j.value("lora_alpha", Json());
  if (!alpha.is_number() || alpha.get<double>() != config.alpha) {
    return disagree("lora_alpha", fmt::format("lora_alpha = {}", config.alpha));
  }
  const Json rslora = j.value("use_rslora", Json(false));
  if (rslora != Json(config.use_rslora)) {
    return disagree("use_rslora", fmt::format("use_rslora = {}", config.use_rslora));
  }
  const Json targets = j.value("target_modules", Json());
  std::vector<std::string> listed;
  bool strings = targets.is_array();
  for (const Json& t : strings ? targets : Json::array()) {
    strings = strings && t.is_string();
    if (strings) listed.push_back(t.get<std::string>());
  }
  const bool same = config.target_regex
                        ? j.value("target_regex", Json()) == Json(*config.target_regex)
                        : strings && TargetSet(listed) == TargetSet(config.target_modules);
  if (!same) {
    return disagree("target_modules", config.target_regex
                                          ? "the regex " + DumpJson(Json(*config.target_regex))
                                          : DumpJson(Json(config.target_modules)));
  }
  return Status::Ok();
}

Result<std::optional<SwiftCheckpointArgs>> ReadSwiftArgs(Env* env, const std::string& adapter_dir) {
  const std::string path = JoinPath(adapter_dir, kSwiftArgsFile);
  if (!env->FileExists(path)) return std::optional<SwiftCheckpointArgs>();
  BATON_ASSIGN_OR_RETURN(Json j, ReadJsonFile(env, path));
  if (!j.is_object()) return InvalidArgument("{}: not a JSON object", path);
  SwiftCheckpointArgs out;
  // ms-swift treats null like absent; any other type is an error naming the key.
  auto optional_string = [&](const char* key) -> Result<std::optional<std::string>> {
    if (!j.contains(key) || j[key].is_null()) return std::optional<std::string>();
    BATON_ASSIGN_OR_RETURN(std::string value, JsonString(j, key, path));
    return std::optional<std::string>(std::move(value));
  };
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> model, optional_string("model"));
  if (model) out.model = *model;
  BATON_ASSIGN_OR_RETURN(out.template_name, optional_string("template"));
  BATON_ASSIGN_OR_RETURN(out.system, optional_string("system"));
  return std::optional<SwiftCheckpointArgs>(std::move(out));
}

}  // namespace baton
