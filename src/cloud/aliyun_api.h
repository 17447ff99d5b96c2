// AliyunClient: calls RPC-style actions of Alibaba's ECS (2014-05-26) and ESS (2014-08-28)
// OpenAPI, signed with ACS3-HMAC-SHA256 (cloud/aliyun_signer.h). Each call is a POST to
// "<endpoint>/" with the action's parameters in the query (or, with params_in_body, in a
// form-encoded body), Action and Version in x-acs-action / x-acs-version, and a JSON answer.
// Source: shared/notes/cloud-apis.md 1.2 and 2.1 (the Tea SDK's do_request; ESS Go SDK
// OpenApiRequest{Query, Method POST, Style RPC}).
//
// Endpoints: https://ecs.<region>.aliyuncs.com and https://ess.<region>.aliyuncs.com, or one base
// URL for both from AliyunClientOptions::endpoint, else EnvVar::kAliyunEndpoint (a loopback fake).
// Errors: a JSON error becomes a Status naming the service, action, code, HTTP status, message
// and RequestId (cloud/aliyun_errors.h); the secret, the session token and the signature never
// appear in one (they are scrubbed from the server's message too). Retries: retryable kinds and
// transport failures are retried up to max_attempts with exponential backoff and jitter, slept
// through the Env (a server's x-acs-retry-after, in seconds, is honoured up to max_backoff_ms).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/json.h"
#include "base/status.h"
#include "cloud/aliyun_errors.h"
#include "cloud/aliyun_params.h"
#include "cloud/api_shared.h"
#include "net/http_client.h"
#include "store/sigv4.h"

namespace baton {

enum class AliyunService { kEcs, kEss };

// "ecs" / "ess" and the pinned API versions "2014-05-26" / "2014-08-28".
const char* AliyunServiceName(AliyunService service);
const char* AliyunServiceVersion(AliyunService service);

struct AliyunClientOptions {
  std::string region;  // "cn-hangzhou"
  // A base URL for both services ("http://127.0.0.1:8080"); "" reads EnvVar::kAliyunEndpoint, and
  // without it the regional endpoints are used.
  std::string endpoint;
  // The keys to sign with, asked before every attempt; null: the Alibaba credentials chain of
  // store/cloud_credentials.h.
  std::function<Result<SigV4Credentials>()> credentials;
  Env* env = nullptr;  // clock and sleep; null: Env::Default()
  bool params_in_body = false;
  int max_attempts = 6;
  uint64_t base_backoff_ms = 200;   // before the 2nd attempt; doubles each time
  uint64_t max_backoff_ms = 20000;  // cap of one wait
  uint64_t jitter_seed = 0;         // 0: random
  int timeout_ms = 60000;           // whole exchange of one attempt
};

class AliyunClient {
 public:
  explicit AliyunClient(AliyunClientOptions options);
  ~AliyunClient();

  // Calls `action` and returns its JSON answer. On failure, `error` (when given) holds the last
  // answer's code, message and RequestId, so callers branch on codes (OperationDenied.NoStock).
  Result<Json> Call(AliyunService service, std::string_view action, const RpcParams& params,
                    AliyunError* error = nullptr);

  // The base URL a service's calls go to: "https://ess.cn-hangzhou.aliyuncs.com".
  std::string EndpointOf(AliyunService service) const;
  // How many HTTP attempts were made (retries included), since construction.
  uint64_t attempts() const { return attempts_; }

 private:
  // One signed exchange: the HTTP answer, or the transport failure.
  Result<HttpResponse> SendOnce(AliyunService service, std::string_view action,
                                const RpcParams& params, const SigV4Credentials& keys,
                                std::string* signature);
  // The wait an error answer asks for (x-acs-retry-after, seconds); 0 when none.
  static uint64_t RetryAfterMicros(const HttpResponse& response);
  std::string NewNonce();

  AliyunClientOptions o_;
  std::string endpoint_override_;
  HttpClient http_;
  RetryBackoff backoff_;
  std::function<Result<SigV4Credentials>()> credentials_;
  uint64_t attempts_ = 0;
};

// Pagination with NextToken/MaxResults (ECS DescribeInstances): calls `action` until the answer's
// NextToken is empty, handing each page to `on_page`. `max_results` 0 leaves MaxResults unset.
Status PaginateNextToken(AliyunClient* client, AliyunService service, std::string_view action,
                         RpcParams params, int max_results,
                         const std::function<Status(const Json& page)>& on_page);

// Pagination with PageNumber/PageSize (ESS Describe*, max 50; ECS, max 100): pages 1, 2, ...
// until PageNumber * PageSize reaches TotalCount (one page when the answer has no TotalCount).
Status PaginatePages(AliyunClient* client, AliyunService service, std::string_view action,
                     RpcParams params, int page_size,
                     const std::function<Status(const Json& page)>& on_page);

// The items of a list in an answer of the 2014 APIs, "ScalingGroups": {"ScalingGroup": [...]},
// or of the newer flat shape, "ScalingGroups": [...]; an empty array when absent.
Json AliyunList(const Json& answer, std::string_view outer, std::string_view inner);

}  // namespace baton
