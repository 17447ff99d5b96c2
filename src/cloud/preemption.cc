#include "cloud/preemption.h"

#include <cctype>
#include <cstdlib>
#include <utility>

#include "base/json.h"
#include "base/process_contract.h"
#include "base/strings.h"
#include "cloud/metadata_time.h"
#include "net/metadata_client.h"

namespace baton {
namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Plumbing shared by the four watchers: one metadata client (keep-alive connection, short
// timeouts, tokens where the cloud has them, errors that name the full URL).
class WatcherBase : public PreemptionWatcher {
 public:
  WatcherBase(Cloud cloud, std::string base_url, const WatcherOptions& options,
              const MetadataTokenScheme* tokens = nullptr)
      : cloud_(cloud), options_(options), client_(std::move(base_url), tokens, options) {}

  Cloud cloud() const override { return cloud_; }
  const std::string& base_url() const override { return client_.base_url(); }

 protected:
  int64_t NowMs() const { return static_cast<int64_t>(options_.env->NowMicros() / 1000); }
  std::string Url(std::string_view path) const { return client_.Url(path); }
  Result<HttpResponse> Get(std::string_view path, MetadataClient::Headers headers = {}) {
    return client_.Get(path, std::move(headers));
  }
  Status UnexpectedStatus(std::string_view path, const HttpResponse& r) const {
    return client_.UnexpectedStatus("GET", path, r);
  }
  Status Malformed(std::string_view path, std::string_view what) const {
    return Corruption("metadata GET {}: {}", Url(path), what);
  }

  const Cloud cloud_;
  const WatcherOptions options_;

 private:
  MetadataClient client_;
};

class AlibabaWatcher : public WatcherBase {
 public:
  AlibabaWatcher(std::string base_url, WatcherOptions options)
      : WatcherBase(Cloud::kAlibaba, std::move(base_url), options, &kAlibabaMetadataTokens) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kPath[] = "/latest/meta-data/instance/spot/termination-time";
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Get(kPath));
    if (r.status == 404) return std::optional<Notice>();
    if (r.status != 200) return UnexpectedStatus(kPath, r);
    std::string_view text = TrimSpace(r.body);
    if (text.empty()) return std::optional<Notice>();
    Result<int64_t> when = ParseRfc3339Ms(text);
    if (!when.ok()) return Malformed(kPath, when.status().message());
    return std::optional<Notice>(Notice{Cloud::kAlibaba, NoticeKind::kTermination, *when,
                                        fmt::format("alibaba spot termination-time {}", text)});
  }
};

class AwsWatcher : public WatcherBase {
 public:
  AwsWatcher(std::string base_url, WatcherOptions options)
      : WatcherBase(Cloud::kAws, std::move(base_url), options, &kAwsMetadataTokens) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kActionPath[] = "/latest/meta-data/spot/instance-action";
    static constexpr char kRebalancePath[] = "/latest/meta-data/events/recommendations/rebalance";
    BATON_ASSIGN_OR_RETURN(HttpResponse action, Get(kActionPath));
    if (action.status == 200) {
      Result<Json> doc = ParseJson(action.body, Url(kActionPath));
      if (!doc.ok()) return Malformed(kActionPath, doc.status().message());
      Result<std::string> what = JsonString(*doc, "action", "instance-action");
      Result<std::string> time = JsonString(*doc, "time", "instance-action");
      if (!what.ok()) return Malformed(kActionPath, what.status().message());
      if (!time.ok()) return Malformed(kActionPath, time.status().message());
      Result<int64_t> when = ParseRfc3339Ms(*time);
      if (!when.ok()) return Malformed(kActionPath, when.status().message());
      return std::optional<Notice>(
          Notice{Cloud::kAws, NoticeKind::kTermination, *when,
                 fmt::format("aws spot instance-action: {} at {}", *what, *time)});
    }
    if (action.status != 404) return UnexpectedStatus(kActionPath, action);

    BATON_ASSIGN_OR_RETURN(HttpResponse rebalance, Get(kRebalancePath));
    if (rebalance.status == 404) return std::optional<Notice>();
    if (rebalance.status != 200) return UnexpectedStatus(kRebalancePath, rebalance);
    Result<Json> doc = ParseJson(rebalance.body, Url(kRebalancePath));
    if (!doc.ok()) return Malformed(kRebalancePath, doc.status().message());
    Result<std::string> time = JsonString(*doc, "noticeTime", "rebalance recommendation");
    if (!time.ok()) return Malformed(kRebalancePath, time.status().message());
    if (Result<int64_t> when = ParseRfc3339Ms(*time); !when.ok()) {
      return Malformed(kRebalancePath, when.status().message());
    }
    return std::optional<Notice>(
        Notice{Cloud::kAws, NoticeKind::kRebalance, 0,
               fmt::format("aws rebalance recommendation, noticeTime {}", *time)});
  }
};

class GcpWatcher : public WatcherBase {
 public:
  GcpWatcher(std::string base_url, WatcherOptions options)
      : WatcherBase(Cloud::kGcp, std::move(base_url), options) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kPath[] = "/computeMetadata/v1/instance/preempted";
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Get(kPath, {{"Metadata-Flavor", "Google"}}));
    if (r.status != 200) return UnexpectedStatus(kPath, r);
    std::string_view value = TrimSpace(r.body);
    if (value == "FALSE") {
      first_seen_ms_ = 0;
      return std::optional<Notice>();
    }
    if (value != "TRUE") {
      return Malformed(kPath,
                       fmt::format("expected TRUE or FALSE, got '{}'", MetadataSnippet(value)));
    }
    // The service gives no time; the VM gets about 30 s from when the flag turns TRUE.
    if (first_seen_ms_ == 0) first_seen_ms_ = NowMs();
    return std::optional<Notice>(Notice{Cloud::kGcp, NoticeKind::kTermination,
                                        first_seen_ms_ + DocumentedWarningMs(Cloud::kGcp),
                                        "gcp instance/preempted TRUE"});
  }

 private:
  int64_t first_seen_ms_ = 0;
};

class AzureWatcher : public WatcherBase {
 public:
  AzureWatcher(std::string base_url, WatcherOptions options)
      : WatcherBase(Cloud::kAzure, std::move(base_url), options) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kPath[] = "/metadata/scheduledevents?api-version=2020-07-01";
    BATON_RETURN_IF_ERROR(LookUpVmName());
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Get(kPath, {{"Metadata", "true"}}));
    if (r.status != 200) return UnexpectedStatus(kPath, r);
    Result<Json> doc = ParseJson(r.body, Url(kPath));
    if (!doc.ok()) return Malformed(kPath, doc.status().message());
    if (!doc->is_object() || !doc->contains("Events") || !(*doc)["Events"].is_array()) {
      return Malformed(kPath, "expected an object with an Events array");
    }
    for (const Json& event : (*doc)["Events"]) {
      if (!event.is_object()) return Malformed(kPath, "an event is not an object");
      Result<std::string> type = JsonString(event, "EventType", "scheduled event");
      if (!type.ok()) return Malformed(kPath, type.status().message());
      // Terminate: a scale set is about to delete this VM; as final as a preemption.
      if (*type != "Preempt" && *type != "Terminate") continue;
      if (!ConcernsThisVm(event)) continue;
      std::string not_before;
      if (event.contains("NotBefore")) {
        Result<std::string> nb = JsonString(event, "NotBefore", "scheduled event");
        if (!nb.ok()) return Malformed(kPath, nb.status().message());
        not_before = *nb;
      }
      int64_t deadline = 0;  // an event that has started has an empty NotBefore
      if (!not_before.empty()) {
        Result<int64_t> when = ParseRfc1123Ms(not_before);
        if (!when.ok()) return Malformed(kPath, when.status().message());
        deadline = *when;
      }
      std::string id = event.contains("EventId") && event["EventId"].is_string()
                           ? event["EventId"].get<std::string>()
                           : "?";
      return std::optional<Notice>(Notice{
          Cloud::kAzure, NoticeKind::kTermination, deadline,
          fmt::format("azure scheduled event {} {}, NotBefore '{}'", id, *type, not_before)});
    }
    return std::optional<Notice>();
  }

 private:
  // Events go to every VM of an availability set or scale set placement group; Resources says
  // which VMs each one is for. Without our name every Preempt counts (a needless checkpoint is
  // cheap, a missed preemption is not).
  bool ConcernsThisVm(const Json& event) const {
    if (vm_name_.empty() || !event.contains("Resources") || !event["Resources"].is_array() ||
        event["Resources"].empty()) {
      return true;
    }
    for (const Json& r : event["Resources"]) {
      if (r.is_string() && r.get<std::string>() == vm_name_) return true;
    }
    return false;
  }

  Status LookUpVmName() {
    if (!vm_name_.empty() || name_unavailable_) return Status::Ok();
    static constexpr char kPath[] =
        "/metadata/instance/compute/name?api-version=2021-02-01&format=text";
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Get(kPath, {{"Metadata", "true"}}));
    if (r.status >= 500 || r.status == 429) return UnexpectedStatus(kPath, r);
    if (r.status == 200 && !TrimSpace(r.body).empty()) {
      vm_name_ = std::string(TrimSpace(r.body));
    } else {
      name_unavailable_ = true;
    }
    return Status::Ok();
  }

  std::string vm_name_;
  bool name_unavailable_ = false;
};

}  // namespace

Result<Cloud> ParseCloud(std::string_view name) {
  std::string n = AsciiLower(TrimSpace(name));
  if (n == "alibaba" || n == "aliyun") return Cloud::kAlibaba;
  if (n == "aws") return Cloud::kAws;
  if (n == "gcp") return Cloud::kGcp;
  if (n == "azure") return Cloud::kAzure;
  return InvalidArgument("unknown cloud '{}' (expected alibaba, aliyun, aws, gcp or azure)", name);
}

const char* CloudName(Cloud cloud) {
  switch (cloud) {
    case Cloud::kAlibaba:
      return "alibaba";
    case Cloud::kAws:
      return "aws";
    case Cloud::kGcp:
      return "gcp";
    case Cloud::kAzure:
      return "azure";
  }
  return "?";
}

std::string DefaultMetadataUrl(Cloud cloud) {
  switch (cloud) {
    case Cloud::kAlibaba:
      return "http://100.100.100.200";
    case Cloud::kGcp:
      return "http://metadata.google.internal";
    case Cloud::kAws:
    case Cloud::kAzure:
      return "http://169.254.169.254";
  }
  return "";
}

std::string ResolveMetadataUrl(Cloud cloud) {
  if (std::optional<std::string> url = GetEnvVar(EnvVar::kMetadataUrl)) return *url;
  return DefaultMetadataUrl(cloud);
}

int64_t DocumentedWarningMs(Cloud cloud) {
  switch (cloud) {
    case Cloud::kAlibaba:
      return 5 * 60 * 1000;
    case Cloud::kAws:
      return 2 * 60 * 1000;
    case Cloud::kGcp:
    case Cloud::kAzure:
      return 30 * 1000;
  }
  return 0;
}

const char* NoticeKindName(NoticeKind kind) {
  return kind == NoticeKind::kTermination ? "termination" : "rebalance";
}

Result<NoticeKind> ParseNoticeKind(std::string_view name) {
  std::string n = AsciiLower(TrimSpace(name));
  if (n == "termination") return NoticeKind::kTermination;
  if (n == "rebalance") return NoticeKind::kRebalance;
  return InvalidArgument("unknown notice kind '{}' (expected termination or rebalance)", name);
}

std::string DescribeNotice(const Notice& notice) {
  std::string deadline =
      notice.deadline_unix_ms > 0 ? FormatRfc3339(notice.deadline_unix_ms) : "unknown";
  return fmt::format("{} {} notice, deadline {}: {}", CloudName(notice.cloud),
                     NoticeKindName(notice.kind), deadline, notice.detail);
}

Result<std::unique_ptr<PreemptionWatcher>> PreemptionWatcher::Create(Cloud cloud,
                                                                     std::string base_url,
                                                                     WatcherOptions options) {
  if (base_url.empty()) base_url = ResolveMetadataUrl(cloud);
  while (base_url.ends_with('/')) base_url.pop_back();
  if (!base_url.starts_with("http://") && !base_url.starts_with("https://")) {
    return InvalidArgument("metadata URL '{}' must start with http:// or https://", base_url);
  }
  if (options.request_timeout_ms <= 0) {
    return InvalidArgument("metadata request timeout must be positive");
  }
  if (options.token_ttl_seconds < 1 || options.token_ttl_seconds > 21600) {
    return InvalidArgument("metadata token TTL {} s is outside 1..21600",
                           options.token_ttl_seconds);
  }
  if (options.env == nullptr) options.env = Env::Default();
  std::unique_ptr<PreemptionWatcher> watcher;
  switch (cloud) {
    case Cloud::kAlibaba:
      watcher = std::make_unique<AlibabaWatcher>(std::move(base_url), options);
      break;
    case Cloud::kAws:
      watcher = std::make_unique<AwsWatcher>(std::move(base_url), options);
      break;
    case Cloud::kGcp:
      watcher = std::make_unique<GcpWatcher>(std::move(base_url), options);
      break;
    case Cloud::kAzure:
      watcher = std::make_unique<AzureWatcher>(std::move(base_url), options);
      break;
  }
  return watcher;
}

Result<std::string> InstanceIdFromMetadata(Cloud cloud, std::string base_url,
                                           WatcherOptions options) {
  if (base_url.empty()) base_url = ResolveMetadataUrl(cloud);
  while (base_url.ends_with('/')) base_url.pop_back();
  if (options.env == nullptr) options.env = Env::Default();
  const MetadataTokenScheme* tokens = nullptr;
  std::string path = "/latest/meta-data/instance-id";
  MetadataClient::Headers headers;
  switch (cloud) {
    case Cloud::kAlibaba:
      tokens = &kAlibabaMetadataTokens;
      break;
    case Cloud::kAws:
      tokens = &kAwsMetadataTokens;
      break;
    case Cloud::kGcp:
      path = "/computeMetadata/v1/instance/id";
      headers.emplace_back("Metadata-Flavor", "Google");
      break;
    case Cloud::kAzure:
      return Unimplemented("the instance id is not read from Azure's metadata service");
  }
  MetadataClient client(base_url, tokens, options);
  BATON_ASSIGN_OR_RETURN(HttpResponse r, client.Get(path, std::move(headers)));
  if (r.status != 200) return client.UnexpectedStatus("GET", path, r);
  std::string id(TrimSpace(r.body));
  if (id.empty()) return Corruption("metadata GET {}: empty instance id", client.Url(path));
  return id;
}

}  // namespace baton
