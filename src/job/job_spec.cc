#include "job/job_spec.h"

#include <set>
#include <type_traits>

#include "base/strings.h"
#include "store/cache.h"
#include "store/store.h"

namespace baton {
namespace {

Status CheckJobFileSize(uint64_t size, const std::string& shown) {
  if (size <= SpecNode::kMaxDocumentBytes) return Status::Ok();
  return InvalidArgument("{}: the job file is {} bytes, over the limit of {} bytes", shown, size,
                         SpecNode::kMaxDocumentBytes);
}

}  // namespace

Result<JobSpec> ParseJobSpec(std::string_view text, const std::string& source) {
  BATON_ASSIGN_OR_RETURN(SpecNode root, SpecNode::Parse(text, source));
  if (!root.IsMap()) return root.Error("a job spec is a YAML mapping of keys");
  BATON_RETURN_IF_ERROR(root.CheckKeys(
      {"name", "model", "datasets", "store", "train", "agent", "hooks", "fleet", "command"}));
  JobSpec spec;
  if (root.Has("name")) BATON_RETURN_IF_ERROR(root.Get("name").Read(&spec.name));
  if (root.Has("command")) BATON_RETURN_IF_ERROR(root.Get("command").Read(&spec.command));
  for (const char* required : {"model", "datasets", "store"}) {
    if (!root.Has(required) && (spec.command.empty() || std::string(required) == "store")) {
      return root.Error(required, "required key is missing");
    }
  }
  if (root.Has("model")) BATON_RETURN_IF_ERROR(root.Get("model").Read(&spec.train.model));
  if (root.Has("datasets")) BATON_RETURN_IF_ERROR(root.Get("datasets").Read(&spec.train.dataset));
  BATON_RETURN_IF_ERROR(root.Get("store").Read(&spec.train.output_dir));
  if (SpecNode train = root.Get("train"); train.present()) {
    std::set<std::string> known;
    spec.train.VisitFields([&](const char* key, auto&) { known.insert(key); });
    for (const char* k : {"model", "dataset", "output_dir"}) known.erase(k);
    BATON_RETURN_IF_ERROR(train.CheckKeys(known));
    Status s;
    spec.train.VisitFields([&](const char* key, auto& field) {
      if (!s.ok() || !known.count(key) || !train.Has(key)) return;
      // `columns` is a JSON object on the command line; a YAML mapping says the same here.
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>) {
        if (std::string_view(key) == "columns" && train.Get(key).IsMap()) {
          field = DumpJson(train.Get(key).ToJson());
          return;
        }
      }
      s = train.Get(key).Read(&field);
    });
    BATON_RETURN_IF_ERROR(s);
    spec.train.system_given = train.Has("system");
  }
  if (SpecNode agent = root.Get("agent"); agent.present()) {
    BATON_RETURN_IF_ERROR(agent.CheckKeys({"cloud", "metadata_url", "heartbeat_seconds"}));
    BATON_ASSIGN_OR_RETURN(spec.cloud, agent.String("cloud", spec.cloud));
    static const std::set<std::string> clouds = {"none",   "aws", "alibaba",
                                                 "aliyun", "gcp", "azure"};
    if (!clouds.count(spec.cloud)) {
      return agent.Error(
          "cloud", fmt::format("'{}' is not one of none, aws, alibaba, gcp, azure", spec.cloud));
    }
    BATON_ASSIGN_OR_RETURN(spec.metadata_url, agent.String("metadata_url", ""));
    BATON_ASSIGN_OR_RETURN(spec.heartbeat_seconds,
                           agent.Number("heartbeat_seconds", spec.heartbeat_seconds));
    if (spec.heartbeat_seconds <= 0 || spec.heartbeat_seconds > 86400) {
      return agent.Error("heartbeat_seconds", "must be in (0, 86400]");
    }
  }
  if (SpecNode hooks = root.Get("hooks"); hooks.present()) {
    BATON_RETURN_IF_ERROR(hooks.CheckKeys({"scale_to_zero", "webhooks"}));
    BATON_ASSIGN_OR_RETURN(spec.scale_to_zero, hooks.Bool("scale_to_zero", spec.scale_to_zero));
    if (SpecNode list = hooks.Get("webhooks"); list.present()) {
      if (!list.IsList()) return list.Error("expected a list");
      for (size_t i = 0; i < list.size(); ++i) {
        SpecNode h = list.Item(i);
        BATON_RETURN_IF_ERROR(h.CheckKeys({"url", "format"}));
        WebhookSpec w;
        if (!h.Has("url")) return h.Error("url", "required key is missing");
        BATON_ASSIGN_OR_RETURN(w.url, h.String("url", ""));
        if (!w.url.starts_with("http://") && !w.url.starts_with("https://")) {
          return h.Error("url", "must be an http(s) URL");
        }
        BATON_ASSIGN_OR_RETURN(w.format, h.String("format", w.format));
        if (w.format != "generic" && w.format != "dingtalk" && w.format != "slack") {
          return h.Error("format",
                         fmt::format("'{}' is not one of generic, dingtalk, slack", w.format));
        }
        spec.webhooks.push_back(std::move(w));
      }
    }
  }
  spec.fleet = root.Get("fleet");
  // The name becomes folders and keys (.cache/baton-run/<name>, the fleet's tags): checked
  // here, where every command gets it from.
  if (root.Has("name")) {
    if (Status s = ValidatePathSegment(spec.name, "job name"); !s.ok()) {
      return root.Get("name").Error(s.message());
    }
  } else {
    std::string file = source.substr(0, source.find('?'));
    file = file.substr(file.find_last_of('/') + 1);
    spec.name = file.substr(0, file.find('.'));
    if (!ValidatePathSegment(spec.name, "name").ok()) {
      return root.Error(fmt::format(
          "no `name:`, and the file name '{}' gives none that can name a folder: add one", file));
    }
  }
  if (!spec.command.empty()) return spec;  // the external trainer has its own flags
  Status v = spec.train.Validate();
  if (!v.ok()) return root.Error("train", v.message());
  return spec;
}

Result<Json> JobSpecDocument(std::string_view text, const std::string& source) {
  BATON_ASSIGN_OR_RETURN(SpecNode root, SpecNode::Parse(text, source));
  if (!root.IsMap()) return root.Error("a job spec is a YAML mapping of keys");
  return root.ToJson();
}

Result<JobSpec> LoadJobSpec(const std::string& path_or_url, Env* env) {
  const std::string shown = RedactUrl(path_or_url);
  std::string text;
  if (IsRemoteUrl(path_or_url)) {
    // Read straight from the store, never copied to disk: a job may hold webhook tokens.
    auto split = SplitStoreUrl(path_or_url);
    if (!split) return InvalidArgument("{}: names a bucket, not a job file", shown);
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                           OpenStore(split->first, OpenMode::kMustExist, env));
    // The size first: a job file in a bucket must not make every agent read gigabytes.
    Result<uint64_t> size = store->Head(split->second);
    if (!size.ok()) return size.status().WithContext(shown);
    BATON_RETURN_IF_ERROR(CheckJobFileSize(*size, shown));
    Result<std::string> got = store->Get(split->second);
    if (!got.ok()) return got.status().WithContext(shown);
    text = std::move(*got);
  } else {
    std::string path = path_or_url.starts_with("file://") ? path_or_url.substr(7) : path_or_url;
    Result<uint64_t> size = env->FileSize(path);
    if (size.ok()) BATON_RETURN_IF_ERROR(CheckJobFileSize(*size, shown));
    BATON_ASSIGN_OR_RETURN(text, env->ReadFile(path));
  }
  return ParseJobSpec(text, shown);
}

}  // namespace baton
