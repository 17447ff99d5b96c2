#include "cloud/aliyun_api.h"

#include "base/process_contract.h"
#include "base/strings.h"
#include "cloud/aliyun_signer.h"
#include "cloud/metadata_time.h"
#include "store/cloud_credentials.h"

namespace baton {
const char* AliyunServiceName(AliyunService service) {
  return service == AliyunService::kEcs ? "ecs" : "ess";
}

const char* AliyunServiceVersion(AliyunService service) {
  return service == AliyunService::kEcs ? "2014-05-26" : "2014-08-28";
}

AliyunClient::AliyunClient(AliyunClientOptions options)
    : o_(std::move(options)), backoff_(o_.base_backoff_ms, o_.max_backoff_ms, o_.jitter_seed) {
  if (o_.env == nullptr) o_.env = Env::Default();
  endpoint_override_ = o_.endpoint;
  if (endpoint_override_.empty()) {
    endpoint_override_ = GetEnvVar(EnvVar::kAliyunEndpoint).value_or("");
  }
  while (!endpoint_override_.empty() && endpoint_override_.back() == '/') {
    endpoint_override_.pop_back();
  }
  credentials_ = CredentialsOrChain(o_.credentials, CredentialsProvider::Cloud::kAlibaba);
  if (o_.max_attempts < 1) o_.max_attempts = 1;
}

AliyunClient::~AliyunClient() = default;

std::string AliyunClient::EndpointOf(AliyunService service) const {
  if (!endpoint_override_.empty()) return endpoint_override_;
  return fmt::format("https://{}.{}.aliyuncs.com", AliyunServiceName(service), o_.region);
}

std::string AliyunClient::NewNonce() {
  // Fresh randomness, never the (seedable) jitter generator: the server refuses a nonce it has
  // seen from any client with these keys, so two clients seeded alike must still differ.
  std::random_device random;
  uint64_t hi = (uint64_t{random()} << 32) | random();
  uint64_t lo = (uint64_t{random()} << 32) | random();
  return fmt::format("{:016x}{:016x}", hi, lo);
}

uint64_t AliyunClient::RetryAfterMicros(const HttpResponse& response) {
  std::string after = response.Header("x-acs-retry-after");
  char* end = nullptr;
  double seconds = after.empty() ? 0 : std::strtod(after.c_str(), &end);
  return seconds > 0 && seconds < 1e9 ? uint64_t(seconds * 1e6) : 0;
}

Result<HttpResponse> AliyunClient::SendOnce(AliyunService service, std::string_view action,
                                            const RpcParams& params, const SigV4Credentials& keys,
                                            std::string* signature) {
  std::string base = EndpointOf(service);
  std::string body;
  Acs3Request sign;
  sign.method = "POST";
  sign.path = "/";
  sign.headers = {{"host", UrlAuthority(base)},
                  {"x-acs-action", std::string(action)},
                  {"x-acs-version", AliyunServiceVersion(service)}};
  std::string url = base + "/";
  if (o_.params_in_body) {
    body = AliyunCanonicalQuery(params.pairs());
    sign.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
  } else {
    sign.query = params.pairs();
    if (!sign.query.empty()) url += "?" + AliyunCanonicalQuery(sign.query);
  }
  sign.payload_sha256_hex = Sha256Hex(body);
  BATON_ASSIGN_OR_RETURN(
      Acs3Signature s,
      SignAcs3Request(&sign, keys, FormatRfc3339(static_cast<int64_t>(o_.env->NowMicros() / 1000)),
                      NewNonce()));
  *signature = s.signature;

  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = sign.headers;
  req.headers.emplace_back("accept", "application/json");
  req.headers.emplace_back("user-agent", "baton");
  req.body = body;
  req.total_timeout_ms = o_.timeout_ms;
  ++attempts_;
  return http_.Send(req);
}

Result<Json> AliyunClient::Call(AliyunService service, std::string_view action,
                                const RpcParams& params, AliyunError* error) {
  const char* name = AliyunServiceName(service);
  AliyunError scratch;
  AliyunError& last = error != nullptr ? *error : scratch;
  const std::string what = fmt::format("{} {}", name, action);
  return CallWithRetries<Json>(
      what, o_.max_attempts, o_.env, &backoff_, credentials_,
      [&](const SigV4Credentials& keys, CallAttempt* a) -> std::optional<Result<Json>> {
        std::string signature;
        Result<HttpResponse> resp = SendOnce(service, action, params, keys, &signature);
        last = AliyunError{};
        if (!resp.ok()) {
          a->TransportFailed(resp.status(), what, keys, signature);
          return std::nullopt;
        }
        if (resp->status >= 200 && resp->status < 300) {
          Json j = Json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
          if (j.is_discarded()) {
            return Corruption("{} {}: HTTP {} answer is not JSON", name, action, resp->status);
          }
          return j;
        }
        last = ParseAliyunError(resp->status, resp->body);
        a->failure = ScrubSecrets(AliyunErrorStatus(name, action, last), keys, signature);
        a->retry = IsRetryable(ClassifyAliyunError(last.code, last.http_status));
        a->wait_at_least_us = RetryAfterMicros(*resp);
        return std::nullopt;
      });
}

Status PaginateNextToken(AliyunClient* client, AliyunService service, std::string_view action,
                         RpcParams params, int max_results,
                         const std::function<Status(const Json& page)>& on_page) {
  if (max_results > 0) params.Set("MaxResults", max_results);
  params.Erase("NextToken");
  for (int page = 0; page < 100000; ++page) {
    BATON_ASSIGN_OR_RETURN(Json answer, client->Call(service, action, params));
    BATON_RETURN_IF_ERROR(on_page(answer));
    auto it = answer.find("NextToken");
    if (it == answer.end() || !it->is_string() || it->get<std::string>().empty()) {
      return Status::Ok();
    }
    if (it->get<std::string>() == params.Get("NextToken")) {
      return Corruption("{} {}: NextToken did not advance", AliyunServiceName(service), action);
    }
    params.Set("NextToken", it->get<std::string>());
  }
  return Corruption("{} {}: too many pages", AliyunServiceName(service), action);
}

Status PaginatePages(AliyunClient* client, AliyunService service, std::string_view action,
                     RpcParams params, int page_size,
                     const std::function<Status(const Json& page)>& on_page) {
  if (page_size < 1) return InvalidArgument("PaginatePages: page size {}", page_size);
  params.Set("PageSize", page_size);
  for (int64_t page = 1; page < 100000; ++page) {
    params.Set("PageNumber", page);
    BATON_ASSIGN_OR_RETURN(Json answer, client->Call(service, action, params));
    BATON_RETURN_IF_ERROR(on_page(answer));
    auto total = answer.find("TotalCount");
    if (total == answer.end() || !total->is_number_integer()) return Status::Ok();
    if (page * page_size >= total->get<int64_t>()) return Status::Ok();
  }
  return Corruption("{} {}: too many pages", AliyunServiceName(service), action);
}

Json AliyunList(const Json& answer, std::string_view outer, std::string_view inner) {
  auto it = answer.find(std::string(outer));
  if (it == answer.end()) return Json::array();
  if (it->is_array()) return *it;
  if (it->is_object()) {
    auto in = it->find(std::string(inner));
    if (in != it->end() && in->is_array()) return *in;
  }
  return Json::array();
}

}  // namespace baton
