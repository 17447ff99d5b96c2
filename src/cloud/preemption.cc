#include "cloud/preemption.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>
#include <vector>

#include "base/json.h"
#include "cloud/metadata_time.h"
#include "store/http_client.h"

namespace baton {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The start of a body for an error message: one line, at most 120 characters.
std::string Snippet(std::string_view body) {
  std::string s(TrimSpace(body).substr(0, 120));
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

// Plumbing shared by the four watchers: one keep-alive connection, short timeouts, and errors
// that name the full URL.
class WatcherBase : public PreemptionWatcher {
 public:
  WatcherBase(Cloud cloud, std::string base_url, WatcherOptions options)
      : cloud_(cloud), base_url_(std::move(base_url)), options_(options) {}

  Cloud cloud() const override { return cloud_; }
  const std::string& base_url() const override { return base_url_; }

 protected:
  int64_t NowMs() const { return static_cast<int64_t>(options_.env->NowMicros() / 1000); }
  std::string Url(std::string_view path) const { return base_url_ + std::string(path); }

  Result<HttpResponse> Send(const std::string& method, std::string_view path, Headers headers) {
    HttpRequest request;
    request.method = method;
    request.url = Url(path);
    request.headers = std::move(headers);
    request.connect_timeout_ms = options_.request_timeout_ms;
    request.total_timeout_ms = options_.request_timeout_ms;
    request.stall_timeout_ms = options_.request_timeout_ms;
    Result<HttpResponse> response = http_.Send(request);
    if (response.ok()) return response;
    // The client's message starts "GET host:port: "; say the whole URL instead.
    std::string message = response.status().message();
    std::string prefix = method + " " + UrlAuthority(request.url) + ": ";
    if (message.starts_with(prefix)) message.erase(0, prefix.size());
    return Status(response.status().code(),
                  fmt::format("metadata {} {}: {}", method, request.url, message));
  }

  // A status the service should not answer with. Overload and server errors may pass (retry);
  // anything else (403: wrong cloud or a disabled endpoint) needs a person.
  Status UnexpectedStatus(const std::string& method, std::string_view path,
                          const HttpResponse& r) const {
    std::string message =
        fmt::format("metadata {} {}: HTTP {}: {}", method, Url(path), r.status, Snippet(r.body));
    if (r.status >= 500 || r.status == 429) return Status(StatusCode::kUnavailable, message);
    return Status(StatusCode::kFailedPrecondition, message);
  }

  Status Malformed(std::string_view path, std::string_view what) const {
    return Corruption("metadata GET {}: {}", Url(path), what);
  }

  const Cloud cloud_;
  const std::string base_url_;
  const WatcherOptions options_;

 private:
  HttpClient http_;
};

// Session tokens in the style of AWS IMDSv2, which Alibaba's security hardening mode copies
// with its own header names.
struct TokenScheme {
  const char* ttl_header;
  const char* token_header;
};
constexpr TokenScheme kAwsTokens{"X-aws-ec2-metadata-token-ttl-seconds",
                                 "X-aws-ec2-metadata-token"};
constexpr TokenScheme kAlibabaTokens{"X-aliyun-ecs-metadata-token-ttl-seconds",
                                     "X-aliyun-ecs-metadata-token"};
constexpr char kTokenPath[] = "/latest/api/token";

class TokenWatcher : public WatcherBase {
 public:
  TokenWatcher(Cloud cloud, std::string base_url, WatcherOptions options, TokenScheme scheme)
      : WatcherBase(cloud, std::move(base_url), options), scheme_(scheme) {}

 protected:
  // A GET with a valid token: fetched when there is none or it is about to end, and fetched again
  // once when the service says 401 (it expired early, or the service restarted).
  //
  // When the token PUT itself fails (no answer, 403, 404, 405) the GET goes without a token, as
  // IMDSv1 and Alibaba's normal mode allow, and the PUT is tried again a few minutes later. AWS
  // answers a PUT only HttpPutResponseHopLimit hops away (default 1), so from inside a container
  // the PUT times out while GETs work (the AWS SDKs fall back likewise).
  Result<HttpResponse> GetWithToken(std::string_view path) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool tokenless = NowMs() < tokenless_until_ms_;
      if (!tokenless && (token_.empty() || NowMs() >= token_refresh_at_ms_)) {
        int put_status = 0;
        Status s = FetchToken(&put_status);
        bool may_fall_back =
            put_status == 0 || put_status == 403 || put_status == 404 || put_status == 405;
        if (!s.ok() && attempt > 0) {
          return s.WithContext(fmt::format("metadata GET {} needs a token (HTTP 401)", Url(path)));
        }
        if (!s.ok() && !may_fall_back) return s;
        if (!s.ok()) {
          tokenless = true;
          tokenless_until_ms_ = NowMs() + kTokenlessMs;
        }
      }
      Headers headers;
      if (!tokenless) headers.emplace_back(scheme_.token_header, token_);
      BATON_ASSIGN_OR_RETURN(HttpResponse r, Send("GET", path, std::move(headers)));
      if (r.status != 401) return r;
      token_.clear();
      tokenless_until_ms_ = 0;  // tokens are required after all
    }
    return FailedPrecondition("metadata GET {}: HTTP 401 even with a fresh token", Url(path));
  }

 private:
  static constexpr int64_t kTokenlessMs = 5 * 60 * 1000;

  // `*http_status`: the PUT's status, or 0 when it got no answer.
  Status FetchToken(int* http_status) {
    int ttl = options_.token_ttl_seconds;
    BATON_ASSIGN_OR_RETURN(HttpResponse r,
                           Send("PUT", kTokenPath, {{scheme_.ttl_header, std::to_string(ttl)}}));
    *http_status = static_cast<int>(r.status);
    if (r.status != 200) return UnexpectedStatus("PUT", kTokenPath, r);
    std::string_view token = TrimSpace(r.body);
    if (token.empty()) return Corruption("metadata PUT {}: empty token", Url(kTokenPath));
    // The service may grant less than asked for; it echoes the TTL it granted.
    std::string granted = r.Header(Lower(scheme_.ttl_header));
    if (int g = std::atoi(granted.c_str()); g > 0 && g < ttl) ttl = g;
    int64_t ttl_ms = int64_t{ttl} * 1000;
    token_ = std::string(token);
    token_refresh_at_ms_ = NowMs() + ttl_ms - std::min<int64_t>(ttl_ms / 10, 60000);
    tokenless_until_ms_ = 0;
    return Status::Ok();
  }

  const TokenScheme scheme_;
  std::string token_;
  int64_t token_refresh_at_ms_ = 0;
  int64_t tokenless_until_ms_ = 0;  // until then, GETs go without a token
};

class AlibabaWatcher : public TokenWatcher {
 public:
  AlibabaWatcher(std::string base_url, WatcherOptions options)
      : TokenWatcher(Cloud::kAlibaba, std::move(base_url), options, kAlibabaTokens) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kPath[] = "/latest/meta-data/instance/spot/termination-time";
    BATON_ASSIGN_OR_RETURN(HttpResponse r, GetWithToken(kPath));
    if (r.status == 404) return std::optional<Notice>();
    if (r.status != 200) return UnexpectedStatus("GET", kPath, r);
    std::string_view text = TrimSpace(r.body);
    if (text.empty()) return std::optional<Notice>();
    Result<int64_t> when = ParseRfc3339Ms(text);
    if (!when.ok()) return Malformed(kPath, when.status().message());
    return std::optional<Notice>(Notice{Cloud::kAlibaba, NoticeKind::kTermination, *when,
                                        fmt::format("alibaba spot termination-time {}", text)});
  }
};

class AwsWatcher : public TokenWatcher {
 public:
  AwsWatcher(std::string base_url, WatcherOptions options)
      : TokenWatcher(Cloud::kAws, std::move(base_url), options, kAwsTokens) {}

  Result<std::optional<Notice>> Poll() override {
    static constexpr char kActionPath[] = "/latest/meta-data/spot/instance-action";
    static constexpr char kRebalancePath[] = "/latest/meta-data/events/recommendations/rebalance";
    BATON_ASSIGN_OR_RETURN(HttpResponse action, GetWithToken(kActionPath));
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
    if (action.status != 404) return UnexpectedStatus("GET", kActionPath, action);

    BATON_ASSIGN_OR_RETURN(HttpResponse rebalance, GetWithToken(kRebalancePath));
    if (rebalance.status == 404) return std::optional<Notice>();
    if (rebalance.status != 200) return UnexpectedStatus("GET", kRebalancePath, rebalance);
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
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Send("GET", kPath, {{"Metadata-Flavor", "Google"}}));
    if (r.status != 200) return UnexpectedStatus("GET", kPath, r);
    std::string_view value = TrimSpace(r.body);
    if (value == "FALSE") {
      first_seen_ms_ = 0;
      return std::optional<Notice>();
    }
    if (value != "TRUE") {
      return Malformed(kPath, fmt::format("expected TRUE or FALSE, got '{}'", Snippet(value)));
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
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Send("GET", kPath, {{"Metadata", "true"}}));
    if (r.status != 200) return UnexpectedStatus("GET", kPath, r);
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
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Send("GET", kPath, {{"Metadata", "true"}}));
    if (r.status >= 500 || r.status == 429) return UnexpectedStatus("GET", kPath, r);
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
  std::string n = Lower(TrimSpace(name));
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
  const char* url = std::getenv("BATON_METADATA_URL");
  if (url != nullptr && *url != '\0') return url;
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
  std::string n = Lower(TrimSpace(name));
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

}  // namespace baton
