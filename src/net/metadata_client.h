// MetadataClient: requests to a cloud's instance metadata service (the link-local HTTP endpoint
// every instance has), shared by the preemption watchers (src/cloud/preemption.h) and the
// instance-role credentials of the object stores (src/store/cloud_credentials.h).
//
// Session tokens: AWS IMDSv2 has GETs carry a token from PUT /latest/api/token (TTL header
// 1..21600 s), and Alibaba's security hardening mode copies the scheme with its own header
// names. The client fetches a token when it has none or it nears its end (90% of the TTL granted,
// at most 60 s before it), and once more when a GET comes back 401 (the token expired early, or
// the service restarted). When the token PUT itself fails (no answer, 403, 404, 405) GETs go
// without a token for a few minutes, as IMDSv1 and Alibaba's normal mode allow: AWS answers a
// PUT only HttpPutResponseHopLimit hops away (default 1), so from inside a container the PUT
// times out while GETs work (the AWS SDKs fall back likewise).
//
// Errors name the whole URL ("metadata GET http://169.254.169.254/latest/...: ..."). Not
// thread-safe: one client per thread of use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "net/http_client.h"

namespace baton {

// The header names of a session-token scheme.
struct MetadataTokenScheme {
  const char* ttl_header;
  const char* token_header;
};
inline constexpr MetadataTokenScheme kAwsMetadataTokens{"X-aws-ec2-metadata-token-ttl-seconds",
                                                        "X-aws-ec2-metadata-token"};
inline constexpr MetadataTokenScheme kAlibabaMetadataTokens{
    "X-aliyun-ecs-metadata-token-ttl-seconds", "X-aliyun-ecs-metadata-token"};

struct MetadataClientOptions {
  // Per request: connect timeout and whole-exchange limit. The service is link-local, so anything
  // slower means it is not there.
  int request_timeout_ms = 1000;
  // The TTL asked for tokens (1..21600).
  int token_ttl_seconds = 21600;
  // Clock for token expiry.
  Env* env = Env::Default();
};

class MetadataClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // `base_url` like "http://169.254.169.254", without a trailing slash. `tokens`: the scheme of
  // the service, or null where it has none (GCP, Azure).
  MetadataClient(std::string base_url, const MetadataTokenScheme* tokens,
                 MetadataClientOptions options = {});

  const std::string& base_url() const { return base_url_; }
  std::string Url(std::string_view path) const { return base_url_ + std::string(path); }

  // A GET of `path` (with its query) with `headers`, and a valid token where the scheme has
  // one. Any HTTP status is returned as a response; errors are transport failures (Unavailable)
  // and a token that cannot be had where one is needed.
  Result<HttpResponse> Get(std::string_view path, Headers headers = {});
  // One request as it is, without a token.
  Result<HttpResponse> Send(const std::string& method, std::string_view path, Headers headers);

  // "metadata GET <url>: HTTP 403: <start of the body>": Unavailable for 5xx and 429 (worth
  // another try), FailedPrecondition otherwise (a wrong cloud or a disabled endpoint).
  Status UnexpectedStatus(const std::string& method, std::string_view path,
                          const HttpResponse& response) const;

 private:
  int64_t NowMs() const;
  // `*http_status`: the PUT's status, or 0 when it got no answer.
  Status FetchToken(int* http_status);

  const std::string base_url_;
  const MetadataTokenScheme* const tokens_;
  const MetadataClientOptions options_;
  HttpClient http_;
  std::string token_;
  int64_t token_refresh_at_ms_ = 0;
  int64_t tokenless_until_ms_ = 0;  // until then, GETs go without a token
};

// The start of a metadata answer for an error message: one line, at most 120 characters.
std::string MetadataSnippet(std::string_view body);

}  // namespace baton
