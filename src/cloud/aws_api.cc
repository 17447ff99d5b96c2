#include "cloud/aws_api.h"

#include <cstdlib>

#include "base/strings.h"
#include "cloud/metadata_time.h"
#include "store/cloud_credentials.h"

namespace baton {
namespace {

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string TrimSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// "20261206T042609Z" from the Env's clock.
std::string AmzDate(Env* env) {
  std::string iso = FormatRfc3339(static_cast<int64_t>(env->NowMicros() / 1000));
  std::string out;
  for (char c : iso) {
    if (c != '-' && c != ':') out += c;
  }
  return out;
}

struct ServiceInfo {
  const char* name;     // signing name and host prefix
  const char* version;  // the pinned API version
  const char* env;      // the service-specific endpoint variable
};

// Indexed by AwsService.
constexpr ServiceInfo kServices[] = {
    {"ec2", "2016-11-15", "AWS_ENDPOINT_URL_EC2"},
    {"autoscaling", "2011-01-01", "AWS_ENDPOINT_URL_AUTO_SCALING"},
    {"iam", "2010-05-08", "AWS_ENDPOINT_URL_IAM"},
};

const ServiceInfo& Info(AwsService service) { return kServices[static_cast<int>(service)]; }

}  // namespace

std::string AwsMemberList(std::string_view list) { return std::string(list) + ".member"; }

const char* AwsServiceName(AwsService service) { return Info(service).name; }
const char* AwsServiceVersion(AwsService service) { return Info(service).version; }
const char* AwsServiceEndpointEnv(AwsService service) { return Info(service).env; }

std::string AwsQueryBody(AwsService service, std::string_view action, const AwsParams& params) {
  std::string body = "Action=" + UriEncode(action, true) +
                     "&Version=" + UriEncode(AwsServiceVersion(service), true);
  for (const auto& [name, value] : params.values()) {
    body += "&" + UriEncode(name, true) + "=" + UriEncode(value, true);
  }
  return body;
}

AwsClient::AwsClient(AwsClientOptions options)
    : o_(std::move(options)), backoff_(o_.base_backoff_ms, o_.max_backoff_ms, o_.jitter_seed) {
  if (o_.env == nullptr) o_.env = Env::Default();
  region_ = o_.region;
  if (region_.empty()) region_ = GetEnv("AWS_REGION");
  if (region_.empty()) region_ = GetEnv("AWS_DEFAULT_REGION");
  credentials_ = CredentialsOrChain(o_.credentials, CredentialsProvider::Cloud::kAws);
  if (o_.max_attempts < 1) o_.max_attempts = 1;
}

AwsClient::~AwsClient() = default;

std::string AwsClient::EndpointOf(AwsService service) const {
  if (!o_.endpoint.empty()) return TrimSlashes(o_.endpoint);
  if (GetEnv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") != "true") {
    for (const char* var : {AwsServiceEndpointEnv(service), "AWS_ENDPOINT_URL"}) {
      std::string url = GetEnv(var);
      if (!url.empty()) return TrimSlashes(url);
    }
  }
  if (service == AwsService::kIam) return "https://iam.amazonaws.com";
  return fmt::format("https://{}.{}.amazonaws.com", AwsServiceName(service), region_);
}

std::string AwsClient::SigningRegion(AwsService service) const {
  return service == AwsService::kIam ? "us-east-1" : region_;
}

Result<HttpResponse> AwsClient::SendOnce(AwsService service, const std::string& body,
                                         const SigV4Credentials& keys, std::string* signature) {
  std::string base = EndpointOf(service);
  // The path as sent: "/" after a bare host, else the endpoint's own path.
  size_t scheme = base.find("://");
  size_t slash = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string url = slash == std::string::npos ? base + "/" : base;
  HttpRequestToSign sign;
  sign.method = "POST";
  sign.path = slash == std::string::npos ? "/" : base.substr(slash);
  sign.headers = {{"host", UrlAuthority(base)},
                  {"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  sign.payload_sha256_hex = Sha256Hex(body);
  SigV4Params params{SigningRegion(service), AwsServiceName(service), AmzDate(o_.env)};
  BATON_RETURN_IF_ERROR(SignRequest(&sign, params, keys));
  for (const auto& [name, value] : sign.headers) {
    if (AsciiLower(name) != "authorization") continue;
    size_t at = value.find("Signature=");
    if (at != std::string::npos) *signature = value.substr(at + 10);
  }

  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = sign.headers;
  req.headers.emplace_back("user-agent", "baton");
  req.body = body;
  req.total_timeout_ms = o_.timeout_ms;
  ++attempts_;
  return http_.Send(req);
}

Result<XmlElement> AwsClient::Call(AwsService service, std::string_view action,
                                   const AwsParams& params, AwsError* error) {
  const char* name = AwsServiceName(service);
  AwsError scratch;
  AwsError& last = error != nullptr ? *error : scratch;
  last = AwsError{};
  if (SigningRegion(service).empty()) {
    return InvalidArgument(
        "{} {}: no AWS region: set the region option, AWS_REGION or AWS_DEFAULT_REGION", name,
        action);
  }
  const std::string body = AwsQueryBody(service, action, params);
  const std::string what = fmt::format("{} {}", name, action);
  return CallWithRetries<XmlElement>(
      what, o_.max_attempts, o_.env, &backoff_, credentials_,
      [&](const SigV4Credentials& keys, CallAttempt* a) -> std::optional<Result<XmlElement>> {
        std::string signature;
        Result<HttpResponse> resp = SendOnce(service, body, keys, &signature);
        last = AwsError{};
        if (!resp.ok()) {
          a->TransportFailed(resp.status(), what, keys, signature);
          return std::nullopt;
        }
        if (resp->status >= 200 && resp->status < 300) {
          Result<XmlElement> root = ParseXml(
              resp->body, fmt::format("{} {} answer (HTTP {})", name, action, resp->status));
          if (!root.ok()) {
            return ScrubSecrets(Status(StatusCode::kCorruption, root.status().message()), keys,
                                signature);
          }
          return root;
        }
        last = ParseAwsError(resp->status, resp->body);
        if (last.request_id.empty()) last.request_id = resp->Header("x-amzn-requestid");
        if (last.request_id.empty()) last.request_id = resp->Header("x-amz-request-id");
        a->failure = ScrubSecrets(AwsErrorStatus(name, action, last), keys, signature);
        for (std::string* field : {&last.message, &last.code}) {
          *field = ScrubSecrets(std::move(*field), keys, signature);
        }
        a->retry = IsRetryable(ClassifyAwsError(last.code, last.http_status));
        return std::nullopt;
      });
}

std::vector<const XmlElement*> AwsItems(const XmlElement* set) {
  return set != nullptr ? set->Children("item") : std::vector<const XmlElement*>{};
}

std::vector<const XmlElement*> AwsMembers(const XmlElement* list) {
  return list != nullptr ? list->Children("member") : std::vector<const XmlElement*>{};
}

const XmlElement* AwsQueryResult(const XmlElement& root, std::string_view action) {
  return root.Child(std::string(action) + "Result");
}

namespace {

// The pagination loop both protocols share: `size_name` (MaxResults / MaxRecords) and the
// answer's token, found by `token_of`, into the next request's NextToken.
Status Paginate(AwsClient* client, AwsService service, std::string_view action, AwsParams params,
                const char* size_name, int size,
                const std::function<std::string(const XmlElement&)>& token_of,
                const std::function<Status(const XmlElement& page)>& on_page) {
  if (size > 0) params.Set(size_name, size);
  params.Erase("NextToken");
  for (int page = 0; page < 100000; ++page) {
    BATON_ASSIGN_OR_RETURN(XmlElement answer, client->Call(service, action, params));
    BATON_RETURN_IF_ERROR(on_page(answer));
    std::string token = token_of(answer);
    if (token.empty()) return Status::Ok();
    if (token == params.Get("NextToken")) {
      return Corruption("{} {}: NextToken did not advance", AwsServiceName(service), action);
    }
    params.Set("NextToken", token);
  }
  return Corruption("{} {}: too many pages", AwsServiceName(service), action);
}

}  // namespace

Status PaginateEc2(AwsClient* client, std::string_view action, AwsParams params, int max_results,
                   const std::function<Status(const XmlElement& page)>& on_page) {
  return Paginate(
      client, AwsService::kEc2, action, std::move(params), "MaxResults", max_results,
      [](const XmlElement& answer) { return answer.ChildText("nextToken"); }, on_page);
}

Status PaginateAutoScaling(AwsClient* client, std::string_view action, AwsParams params,
                           int max_records,
                           const std::function<Status(const XmlElement& page)>& on_page) {
  std::string result = std::string(action) + "Result";
  return Paginate(
      client, AwsService::kAutoScaling, action, std::move(params), "MaxRecords", max_records,
      [result](const XmlElement& answer) {
        const XmlElement* r = answer.Child(result);
        return r != nullptr ? r->ChildText("NextToken") : std::string();
      },
      on_page);
}

}  // namespace baton
