#include "job/job_spec.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "store/cache.h"

namespace baton {
namespace {

std::string Where(const std::string& source, const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.line < 0) return source;
  return fmt::format("{}:{}:{}", source, m.line + 1, m.column + 1);
}

Status Bad(const std::string& source, const YAML::Node& node, const std::string& key,
           const std::string& what) {
  return InvalidArgument("{}: {}: {}", Where(source, node), key, what);
}

// Converts one YAML value into a field of the type the flag has.
class Converter {
 public:
  Converter(const std::string& source) : source_(source) {}

  Status Into(const YAML::Node& n, const std::string& key, std::string* out) {
    if (!n.IsScalar()) return Bad(source_, n, key, "expected a string");
    *out = n.Scalar();
    return Status::Ok();
  }
  Status Into(const YAML::Node& n, const std::string& key, bool* out) {
    if (!n.IsScalar()) return Bad(source_, n, key, "expected true or false");
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "yes") {
      *out = true;
    } else if (s == "false" || s == "False" || s == "no") {
      *out = false;
    } else {
      return Bad(source_, n, key, fmt::format("expected true or false, got '{}'", s));
    }
    return Status::Ok();
  }
  template <typename Int>
  requires std::is_integral_v<Int> Status Into(const YAML::Node& n, const std::string& key,
                                               Int* out) {
    if (!n.IsScalar()) return Bad(source_, n, key, "expected an integer");
    const std::string& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || (std::is_unsigned_v<Int> && v < 0)) {
      return Bad(source_, n, key, fmt::format("expected an integer, got '{}'", s));
    }
    *out = static_cast<Int>(v);
    return Status::Ok();
  }
  Status Into(const YAML::Node& n, const std::string& key, double* out) {
    if (!n.IsScalar()) return Bad(source_, n, key, "expected a number");
    const std::string& s = n.Scalar();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') {
      return Bad(source_, n, key, fmt::format("expected a number, got '{}'", s));
    }
    *out = v;
    return Status::Ok();
  }
  Status Into(const YAML::Node& n, const std::string& key, std::vector<std::string>* out) {
    out->clear();
    if (n.IsScalar()) {
      out->push_back(n.Scalar());
      return Status::Ok();
    }
    if (!n.IsSequence()) return Bad(source_, n, key, "expected a list of strings");
    for (const YAML::Node& item : n) {
      if (!item.IsScalar()) return Bad(source_, item, key, "expected a list of strings");
      out->push_back(item.Scalar());
    }
    return Status::Ok();
  }

 private:
  const std::string& source_;
};

// YAML -> JSON for sections read elsewhere (fleet): scalars that look like numbers or
// booleans become numbers or booleans.
Json ToJson(const YAML::Node& n) {
  if (n.IsMap()) {
    Json j = Json::object();
    for (const auto& kv : n) j[kv.first.Scalar()] = ToJson(kv.second);
    return j;
  }
  if (n.IsSequence()) {
    Json j = Json::array();
    for (const YAML::Node& item : n) j.push_back(ToJson(item));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() != "!") {  // not quoted
    if (s == "true" || s == "false") return s == "true";
    if (s == "null" || s == "~") return nullptr;
    char* end = nullptr;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') return i;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return d;
  }
  return s;
}

Status CheckKeys(const YAML::Node& map, const std::string& section, const std::string& source,
                 const std::set<std::string>& known) {
  for (const auto& kv : map) {
    const std::string& k = kv.first.Scalar();
    if (!known.count(k)) {
      std::string list;
      for (const std::string& s : known) list += (list.empty() ? "" : ", ") + s;
      return Bad(source, kv.first, section.empty() ? k : section + "." + k,
                 fmt::format("unknown key (known: {})", list));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<JobSpec> ParseJobSpec(std::string_view text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument("{}:{}:{}: not valid YAML: {}", source, e.mark.line + 1,
                           e.mark.column + 1, e.msg);
  }
  if (!root.IsMap()) return InvalidArgument("{}: a job spec is a YAML mapping of keys", source);
  BATON_RETURN_IF_ERROR(CheckKeys(
      root, "", source,
      {"name", "model", "datasets", "store", "train", "agent", "hooks", "fleet", "command"}));
  JobSpec spec;
  Converter conv(source);
  try {
    if (root["name"]) BATON_RETURN_IF_ERROR(conv.Into(root["name"], "name", &spec.name));
    if (root["command"]) {
      BATON_RETURN_IF_ERROR(conv.Into(root["command"], "command", &spec.command));
    }
    for (const char* required : {"model", "datasets", "store"}) {
      if (!root[required] && (spec.command.empty() || std::string(required) == "store")) {
        return InvalidArgument("{}: {}: required key is missing", source, required);
      }
    }
    if (root["model"]) BATON_RETURN_IF_ERROR(conv.Into(root["model"], "model", &spec.train.model));
    if (root["datasets"]) {
      BATON_RETURN_IF_ERROR(conv.Into(root["datasets"], "datasets", &spec.train.dataset));
    }
    BATON_RETURN_IF_ERROR(conv.Into(root["store"], "store", &spec.train.output_dir));
    if (YAML::Node train = root["train"]) {
      if (!train.IsMap()) return Bad(source, train, "train", "expected a mapping of flags");
      std::set<std::string> known;
      spec.train.VisitFields([&](const char* key, auto&) { known.insert(key); });
      for (const char* k : {"model", "dataset", "output_dir"}) known.erase(k);
      BATON_RETURN_IF_ERROR(CheckKeys(train, "train", source, known));
      Status s;
      spec.train.VisitFields([&](const char* key, auto& field) {
        if (!s.ok() || !known.count(key) || !train[key]) return;
        s = conv.Into(train[key], std::string("train.") + key, &field);
      });
      BATON_RETURN_IF_ERROR(s);
      spec.train.system_given = static_cast<bool>(train["system"]);
    }
    if (YAML::Node agent = root["agent"]) {
      if (!agent.IsMap()) return Bad(source, agent, "agent", "expected a mapping");
      BATON_RETURN_IF_ERROR(
          CheckKeys(agent, "agent", source, {"cloud", "metadata_url", "heartbeat_seconds"}));
      if (agent["cloud"]) {
        BATON_RETURN_IF_ERROR(conv.Into(agent["cloud"], "agent.cloud", &spec.cloud));
        static const std::set<std::string> clouds = {"none",   "aws", "alibaba",
                                                     "aliyun", "gcp", "azure"};
        if (!clouds.count(spec.cloud)) {
          return Bad(source, agent["cloud"], "agent.cloud",
                     fmt::format("'{}' is not one of none, aws, alibaba, gcp, azure", spec.cloud));
        }
      }
      if (agent["metadata_url"]) {
        BATON_RETURN_IF_ERROR(
            conv.Into(agent["metadata_url"], "agent.metadata_url", &spec.metadata_url));
      }
      if (agent["heartbeat_seconds"]) {
        BATON_RETURN_IF_ERROR(conv.Into(agent["heartbeat_seconds"], "agent.heartbeat_seconds",
                                        &spec.heartbeat_seconds));
        if (spec.heartbeat_seconds <= 0) {
          return Bad(source, agent["heartbeat_seconds"], "agent.heartbeat_seconds",
                     "must be positive");
        }
      }
    }
    if (YAML::Node hooks = root["hooks"]) {
      if (!hooks.IsMap()) return Bad(source, hooks, "hooks", "expected a mapping");
      BATON_RETURN_IF_ERROR(CheckKeys(hooks, "hooks", source, {"scale_to_zero", "webhooks"}));
      if (hooks["scale_to_zero"]) {
        BATON_RETURN_IF_ERROR(
            conv.Into(hooks["scale_to_zero"], "hooks.scale_to_zero", &spec.scale_to_zero));
      }
      if (YAML::Node hs = hooks["webhooks"]) {
        if (!hs.IsSequence()) return Bad(source, hs, "hooks.webhooks", "expected a list");
        for (const YAML::Node& h : hs) {
          if (!h.IsMap()) return Bad(source, h, "hooks.webhooks[]", "expected {url, format}");
          BATON_RETURN_IF_ERROR(CheckKeys(h, "hooks.webhooks[]", source, {"url", "format"}));
          WebhookSpec w;
          if (!h["url"]) return Bad(source, h, "hooks.webhooks[].url", "required key is missing");
          BATON_RETURN_IF_ERROR(conv.Into(h["url"], "hooks.webhooks[].url", &w.url));
          if (!w.url.starts_with("http://") && !w.url.starts_with("https://")) {
            return Bad(source, h["url"], "hooks.webhooks[].url", "must be an http(s) URL");
          }
          if (h["format"]) {
            BATON_RETURN_IF_ERROR(conv.Into(h["format"], "hooks.webhooks[].format", &w.format));
            if (w.format != "generic" && w.format != "dingtalk" && w.format != "slack") {
              return Bad(source, h["format"], "hooks.webhooks[].format",
                         fmt::format("'{}' is not one of generic, dingtalk, slack", w.format));
            }
          }
          spec.webhooks.push_back(std::move(w));
        }
      }
    }
    if (YAML::Node fleet = root["fleet"]) spec.fleet = ToJson(fleet);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (spec.name.empty()) {
    std::string base = source.substr(source.find_last_of('/') + 1);
    spec.name = base.substr(0, base.find('.'));
  }
  if (!spec.command.empty()) return spec;  // the external trainer has its own flags
  Status v = spec.train.Validate();
  if (!v.ok()) return InvalidArgument("{}: train: {}", source, v.message());
  return spec;
}

Result<Json> JobSpecDocument(std::string_view text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap()) return InvalidArgument("{}: a job spec is a YAML mapping of keys", source);
    return ToJson(root);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("{}:{}:{}: not valid YAML: {}", source, e.mark.line + 1,
                           e.mark.column + 1, e.msg);
  }
}

Result<JobSpec> LoadJobSpec(const std::string& path_or_url, Env* env) {
  BATON_ASSIGN_OR_RETURN(std::string local, FetchToCache(path_or_url, {}, env));
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(local));
  return ParseJobSpec(text, path_or_url);
}

}  // namespace baton
