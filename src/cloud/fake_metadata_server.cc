#include "cloud/fake_metadata_server.h"

#include <chrono>
#include <cstdlib>
#include <utility>

#include "base/json.h"
#include "cloud/metadata_time.h"

namespace baton {
namespace {

constexpr char kAwsTtlHeader[] = "X-aws-ec2-metadata-token-ttl-seconds";
constexpr char kAwsTokenHeader[] = "X-aws-ec2-metadata-token";
constexpr char kAlibabaTtlHeader[] = "X-aliyun-ecs-metadata-token-ttl-seconds";
constexpr char kAlibabaTokenHeader[] = "X-aliyun-ecs-metadata-token";
constexpr int kMaxTokenTtlSeconds = 21600;
// The RAM role items, under both spellings (see the header).
constexpr const char* kRamRolePaths[] = {"/latest/meta-data/ram/security-credentials/",
                                         "/latest/meta-data/Ram/security-credentials/"};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int Index(Cloud cloud) { return static_cast<int>(cloud); }

// The plain error page AWS and Alibaba serve for a missing item or a refused request.
HttpServerResponse HtmlError(int status) {
  std::string title = fmt::format("{} - {}", status, HttpReasonPhrase(status));
  return HttpServerResponse::Text(
      status,
      fmt::format("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>{}</title>"
                  "</head><body><h1>{}</h1></body></html>\n",
                  title, title),
      "text/html");
}

HttpServerResponse AzureError(std::string message) {
  return HttpServerResponse::Json(400, DumpJson(Json{{"error", std::move(message)}}));
}

// A strictly positive decimal integer, or -1.
int64_t ParsePositive(const std::string& s) {
  if (s.empty() || s.size() > 15) return -1;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
  }
  return std::strtoll(s.c_str(), nullptr, 10);
}

// Scheduled Events versions that know EventType Preempt (2017-11-01 added it).
bool KnownScheduledEventsVersion(const std::string& v) {
  return v == "2017-11-01" || v == "2019-01-01" || v == "2019-08-01" || v == "2020-07-01";
}

// The instance endpoint takes any dated version since its first, 2017-04-02.
bool KnownInstanceVersion(const std::string& v) {
  Result<int64_t> t = ParseRfc3339Ms(v + "T00:00:00Z");
  return t.ok() && v >= "2017-04-02";
}

}  // namespace

FakeMetadataServer::FakeMetadataServer(FakeMetadataOptions options)
    : options_(std::move(options)), rng_(std::random_device{}()) {}

FakeMetadataServer::~FakeMetadataServer() { http_.Stop(); }

Result<std::unique_ptr<FakeMetadataServer>> FakeMetadataServer::Start(FakeMetadataOptions options) {
  std::unique_ptr<FakeMetadataServer> server(new FakeMetadataServer(std::move(options)));
  server->AddRoutes();
  BATON_RETURN_IF_ERROR(server->http_.Start(server->options_.port).WithContext("fake metadata"));
  server->port_ = server->http_.port();
  return server;
}

void FakeMetadataServer::AddRoutes() {
  auto bind = [this](HttpServerResponse (FakeMetadataServer::*method)(const HttpServerRequest&)) {
    return [this, method](const HttpServerRequest& r) { return (this->*method)(r); };
  };
  http_.Route("PUT", "/latest/api/token", bind(&FakeMetadataServer::PutToken));
  http_.Route("GET", "/latest/meta-data/instance/spot/termination-time",
              bind(&FakeMetadataServer::Alibaba));
  http_.Route("GET", "/latest/meta-data/instance-id", bind(&FakeMetadataServer::AlibabaInstanceId));
  for (const char* path : kRamRolePaths) {
    http_.Route("GET", path, bind(&FakeMetadataServer::AlibabaRoleList));
  }
  http_.Route("GET", "/latest/meta-data/spot/instance-action",
              bind(&FakeMetadataServer::AwsInstanceAction));
  http_.Route("GET", "/latest/meta-data/events/recommendations/rebalance",
              bind(&FakeMetadataServer::AwsRebalance));
  http_.Route("GET", "/computeMetadata/v1/instance/preempted", bind(&FakeMetadataServer::Gcp));
  http_.Route("GET", "/metadata/scheduledevents", bind(&FakeMetadataServer::AzureEvents));
  http_.Route("GET", "/metadata/instance/compute/name", bind(&FakeMetadataServer::AzureName));

  http_.Route("POST", "/__baton/notice", bind(&FakeMetadataServer::ControlNotice));
  http_.Route("DELETE", "/__baton/notice", [this](const HttpServerRequest&) {
    Clear();
    return HttpServerResponse::Json(200, R"({"cleared":true})");
  });
  http_.Route("POST", "/__baton/expire-tokens", [this](const HttpServerRequest&) {
    ExpireTokens();
    return HttpServerResponse::Json(200, R"({"expired":true})");
  });
  http_.Route("POST", "/__baton/fail", [this](const HttpServerRequest& r) {
    int64_t count = ParsePositive(r.Query("count"));
    int64_t status = r.HasQuery("status") ? ParsePositive(r.Query("status")) : 500;
    if (r.Query("status") == "0") status = 0;
    if (count < 0 || status < 0 || (status > 0 && status < 100) || status > 599) {
      return HttpServerResponse::Json(400, R"({"error":"need count=N and status=100..599 or 0"})");
    }
    FailNextRequests(static_cast<int>(count), static_cast<int>(status));
    return HttpServerResponse::Json(200, DumpJson(Json{{"failing", count}, {"status", status}}));
  });
  http_.Route("GET", "/__baton/stats", [this](const HttpServerRequest&) { return Stats(); });

  http_.SetInterceptor([this](const HttpServerRequest& r) -> std::optional<HttpServerResponse> {
    if (r.path.starts_with("/__baton/")) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_next_ <= 0) return std::nullopt;
    --fail_next_;
    HttpServerResponse failure = HtmlError(fail_status_ == 0 ? 500 : fail_status_);
    failure.drop_connection = fail_status_ == 0;
    return failure;
  });
}

void FakeMetadataServer::ScheduleNotice(std::optional<Cloud> cloud, NoticeKind kind,
                                        int64_t deadline_unix_ms, std::string aws_action) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Cloud c : kAllClouds) {
    if (cloud && *cloud != c) continue;
    Scheduled s;
    s.deadline_unix_ms = deadline_unix_ms;
    s.issued_unix_ms = NowMs();
    s.aws_action = aws_action;
    s.event_id =
        fmt::format("{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}", rng_() & 0xffffffff, rng_() & 0xffff,
                    rng_() & 0xfff, rng_() & 0xfff, rng_() & 0xffffffffffff);
    (kind == NoticeKind::kTermination ? termination_ : rebalance_)[Index(c)] = s;
    if (c == Cloud::kAzure && kind == NoticeKind::kTermination) ++azure_incarnation_;
  }
}

void FakeMetadataServer::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  if (termination_[Index(Cloud::kAzure)]) ++azure_incarnation_;
  for (int i = 0; i < 4; ++i) {
    termination_[i].reset();
    rebalance_[i].reset();
  }
}

void FakeMetadataServer::SetRamRole(const std::string& role, const std::string& access_key_id,
                                    const std::string& access_key_secret,
                                    const std::string& security_token, int64_t expiration_unix_s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (role.empty()) {
      ram_role_.reset();
      return;
    }
    ram_role_ =
        FakeRamRole{role, access_key_id, access_key_secret, security_token, expiration_unix_s};
    ram_role_updated_unix_ms_ = NowMs();
  }
  // Routes match exact paths: the role's item gets its own, which answers 404 once the role is
  // replaced or detached.
  for (const char* base : kRamRolePaths) {
    http_.Route("GET", base + role,
                [this, role](const HttpServerRequest& r) { return AlibabaRoleKeys(r, role); });
  }
}

void FakeMetadataServer::ExpireTokens() {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_.clear();
}

void FakeMetadataServer::FailNextRequests(int count, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = count;
  fail_status_ = status;
}

HttpServerResponse FakeMetadataServer::PutToken(const HttpServerRequest& r) {
  // IMDSv2 refuses token requests that went through a proxy.
  if (r.HasHeader("x-forwarded-for")) return HtmlError(403);
  bool aws = r.HasHeader(kAwsTtlHeader);
  if (!aws && !r.HasHeader(kAlibabaTtlHeader)) return HtmlError(400);
  const char* ttl_header = aws ? kAwsTtlHeader : kAlibabaTtlHeader;
  int64_t ttl = ParsePositive(r.Header(ttl_header));
  if (ttl < 1 || ttl > kMaxTokenTtlSeconds) return HtmlError(400);
  std::lock_guard<std::mutex> lock(mu_);
  std::string token = fmt::format("{}{:016x}{:016x}", aws ? "AQAE" : "ALIY", rng_(), rng_());
  tokens_[token] = Token{aws, NowMs() + ttl * 1000};
  HttpServerResponse response = HttpServerResponse::Text(200, token);
  response.headers.emplace_back(ttl_header, std::to_string(ttl));
  return response;
}

std::optional<HttpServerResponse> FakeMetadataServer::CheckToken(const HttpServerRequest& r,
                                                                 bool aws) {
  const char* header = aws ? kAwsTokenHeader : kAlibabaTokenHeader;
  if (!r.HasHeader(header)) {
    if (aws ? options_.aws_require_token : options_.alibaba_require_token) return HtmlError(401);
    return std::nullopt;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(r.Header(header));
  if (it == tokens_.end() || it->second.aws != aws || NowMs() >= it->second.expires_unix_ms) {
    return HtmlError(401);
  }
  return std::nullopt;
}

HttpServerResponse FakeMetadataServer::Alibaba(const HttpServerRequest& r) {
  if (auto refused = CheckToken(r, /*aws=*/false)) return *refused;
  std::lock_guard<std::mutex> lock(mu_);
  const auto& s = termination_[Index(Cloud::kAlibaba)];
  if (!s) return HtmlError(404);
  return HttpServerResponse::Text(200, FormatRfc3339(s->deadline_unix_ms));
}

HttpServerResponse FakeMetadataServer::AlibabaInstanceId(const HttpServerRequest& r) {
  if (auto refused = CheckToken(r, /*aws=*/false)) return *refused;
  if (options_.instance_id.empty()) return HtmlError(404);
  return HttpServerResponse::Text(200, options_.instance_id);
}

HttpServerResponse FakeMetadataServer::AlibabaRoleList(const HttpServerRequest& r) {
  if (auto refused = CheckToken(r, /*aws=*/false)) return *refused;
  std::lock_guard<std::mutex> lock(mu_);
  if (!ram_role_) return HtmlError(404);
  return HttpServerResponse::Text(200, ram_role_->role_name);
}

HttpServerResponse FakeMetadataServer::AlibabaRoleKeys(const HttpServerRequest& r,
                                                       const std::string& role) {
  if (auto refused = CheckToken(r, /*aws=*/false)) return *refused;
  std::lock_guard<std::mutex> lock(mu_);
  if (!ram_role_ || ram_role_->role_name != role) return HtmlError(404);
  // shared/notes/cloud-apis.md section 6: the SDKs refuse an answer whose Code is not Success.
  return HttpServerResponse::Text(
      200,
      DumpJson(Json{{"AccessKeyId", ram_role_->access_key_id},
                    {"AccessKeySecret", ram_role_->access_key_secret},
                    {"SecurityToken", ram_role_->security_token},
                    {"Expiration", FormatRfc3339(ram_role_->expiration_unix_s * 1000)},
                    {"LastUpdated", FormatRfc3339(ram_role_updated_unix_ms_)},
                    {"Code", "Success"}}),
      "text/plain");
}

HttpServerResponse FakeMetadataServer::AwsInstanceAction(const HttpServerRequest& r) {
  if (auto refused = CheckToken(r, /*aws=*/true)) return *refused;
  std::lock_guard<std::mutex> lock(mu_);
  const auto& s = termination_[Index(Cloud::kAws)];
  if (!s) return HtmlError(404);
  return HttpServerResponse::Text(
      200, DumpJson(Json{{"action", s->aws_action}, {"time", FormatRfc3339(s->deadline_unix_ms)}}));
}

HttpServerResponse FakeMetadataServer::AwsRebalance(const HttpServerRequest& r) {
  if (auto refused = CheckToken(r, /*aws=*/true)) return *refused;
  std::lock_guard<std::mutex> lock(mu_);
  const auto& s = rebalance_[Index(Cloud::kAws)];
  if (!s) return HtmlError(404);
  return HttpServerResponse::Text(200,
                                  DumpJson(Json{{"noticeTime", FormatRfc3339(s->issued_unix_ms)}}));
}

HttpServerResponse FakeMetadataServer::Gcp(const HttpServerRequest& r) {
  HttpServerResponse response;
  if (r.Header("metadata-flavor") != "Google" || r.HasHeader("x-forwarded-for")) {
    response = HttpServerResponse::Text(
        403,
        fmt::format("Your client does not have permission to get URL {} from this server. "
                    "Missing Metadata-Flavor:Google header.\n",
                    r.path),
        "text/html; charset=UTF-8");
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    bool preempted = termination_[Index(Cloud::kGcp)].has_value();
    response = HttpServerResponse::Text(200, preempted ? "TRUE" : "FALSE", "application/text");
  }
  response.headers.emplace_back("Metadata-Flavor", "Google");
  return response;
}

HttpServerResponse FakeMetadataServer::AzureEvents(const HttpServerRequest& r) {
  if (r.Header("metadata") != "true") {
    return AzureError("Bad request. Required metadata header not specified");
  }
  if (r.HasHeader("x-forwarded-for")) {
    return AzureError("Bad request. Request contains an X-Forwarded-For header");
  }
  if (!KnownScheduledEventsVersion(r.Query("api-version"))) {
    return AzureError(
        "Bad request. api-version is invalid or was not specified in the request. For more "
        "information refer to aka.ms/azureimds");
  }
  std::lock_guard<std::mutex> lock(mu_);
  Json events = Json::array();
  if (const auto& s = termination_[Index(Cloud::kAzure)]) {
    events.push_back(Json{{"EventId", s->event_id},
                          {"EventStatus", "Scheduled"},
                          {"EventType", "Preempt"},
                          {"ResourceType", "VirtualMachine"},
                          {"Resources", Json::array({options_.instance_name})},
                          {"NotBefore", FormatRfc1123(s->deadline_unix_ms)},
                          {"Description", "Virtual machine is being preempted."},
                          {"EventSource", "Platform"},
                          {"DurationInSeconds", -1}});
  }
  return HttpServerResponse::Json(
      200, DumpJson(Json{{"DocumentIncarnation", azure_incarnation_}, {"Events", events}}));
}

HttpServerResponse FakeMetadataServer::AzureName(const HttpServerRequest& r) {
  if (r.Header("metadata") != "true") {
    return AzureError("Bad request. Required metadata header not specified");
  }
  if (!KnownInstanceVersion(r.Query("api-version"))) {
    return AzureError(
        "Bad request. api-version is invalid or was not specified in the request. For more "
        "information refer to aka.ms/azureimds");
  }
  if (r.Query("format") == "text") return HttpServerResponse::Text(200, options_.instance_name);
  return HttpServerResponse::Json(200, DumpJson(Json(options_.instance_name)));
}

HttpServerResponse FakeMetadataServer::ControlNotice(const HttpServerRequest& r) {
  auto bad = [](const std::string& message) {
    return HttpServerResponse::Json(400, DumpJson(Json{{"error", message}}));
  };
  std::optional<Cloud> cloud;
  std::string cloud_name = r.HasQuery("cloud") ? r.Query("cloud") : "all";
  if (cloud_name != "all") {
    Result<Cloud> c = ParseCloud(cloud_name);
    if (!c.ok()) return bad(c.status().message());
    cloud = *c;
  }
  NoticeKind kind = NoticeKind::kTermination;
  if (r.HasQuery("kind")) {
    Result<NoticeKind> k = ParseNoticeKind(r.Query("kind"));
    if (!k.ok()) return bad(k.status().message());
    kind = *k;
  }
  std::string action = r.HasQuery("action") ? r.Query("action") : "terminate";
  if (action != "terminate" && action != "stop" && action != "hibernate") {
    return bad("action must be terminate, stop or hibernate");
  }
  if (r.HasQuery("in_ms") && r.HasQuery("at_unix_ms")) return bad("give in_ms or at_unix_ms");
  int64_t in_ms = -1, at_ms = -1;
  if (r.HasQuery("in_ms")) {
    in_ms = r.Query("in_ms") == "0" ? 0 : ParsePositive(r.Query("in_ms"));
    if (in_ms < 0) return bad("in_ms must be a whole number of milliseconds");
  }
  if (r.HasQuery("at_unix_ms")) {
    at_ms = ParsePositive(r.Query("at_unix_ms"));
    if (at_ms < 0) return bad("at_unix_ms must be a whole number of milliseconds");
  }
  Json scheduled = Json::array();
  int64_t now = NowMs();
  for (Cloud c : kAllClouds) {
    if (cloud && *cloud != c) continue;
    int64_t deadline = at_ms >= 0 ? at_ms : in_ms >= 0 ? now + in_ms : now + DocumentedWarningMs(c);
    ScheduleNotice(c, kind, deadline, action);
    scheduled.push_back(Json{{"cloud", CloudName(c)},
                             {"kind", NoticeKindName(kind)},
                             {"deadline", FormatRfc3339(deadline)},
                             {"deadline_unix_ms", deadline}});
  }
  return HttpServerResponse::Json(200, DumpJson(Json{{"scheduled", scheduled}}));
}

HttpServerResponse FakeMetadataServer::Stats() {
  Json counters = Json::object();
  for (const auto& [key, n] : http_.Counters()) counters[key] = n;
  return HttpServerResponse::Json(
      200, DumpJson(Json{{"requests", http_.request_count()}, {"counters", counters}}));
}

}  // namespace baton
