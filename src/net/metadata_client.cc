#include "net/metadata_client.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>

namespace baton {
namespace {

constexpr char kTokenPath[] = "/latest/api/token";
// How long GETs go without a token after the token PUT failed, before it is tried again.
constexpr int64_t kTokenlessMs = 5 * 60 * 1000;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string MetadataSnippet(std::string_view body) {
  std::string s(TrimSpace(body).substr(0, 120));
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

MetadataClient::MetadataClient(std::string base_url, const MetadataTokenScheme* tokens,
                               MetadataClientOptions options)
    : base_url_(std::move(base_url)), tokens_(tokens), options_(options) {}

int64_t MetadataClient::NowMs() const {
  return static_cast<int64_t>(options_.env->NowMicros() / 1000);
}

Result<HttpResponse> MetadataClient::Send(const std::string& method, std::string_view path,
                                          Headers headers) {
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

Status MetadataClient::UnexpectedStatus(const std::string& method, std::string_view path,
                                        const HttpResponse& r) const {
  std::string message = fmt::format("metadata {} {}: HTTP {}: {}", method, Url(path), r.status,
                                    MetadataSnippet(r.body));
  if (r.status >= 500 || r.status == 429) return Status(StatusCode::kUnavailable, message);
  return Status(StatusCode::kFailedPrecondition, message);
}

Result<HttpResponse> MetadataClient::Get(std::string_view path, Headers headers) {
  if (tokens_ == nullptr) return Send("GET", path, std::move(headers));
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
    Headers with_token = headers;
    if (!tokenless) with_token.emplace_back(tokens_->token_header, token_);
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Send("GET", path, std::move(with_token)));
    if (r.status != 401) return r;
    token_.clear();
    tokenless_until_ms_ = 0;  // tokens are required after all
  }
  return FailedPrecondition("metadata GET {}: HTTP 401 even with a fresh token", Url(path));
}

Status MetadataClient::FetchToken(int* http_status) {
  int ttl = options_.token_ttl_seconds;
  BATON_ASSIGN_OR_RETURN(HttpResponse r,
                         Send("PUT", kTokenPath, {{tokens_->ttl_header, std::to_string(ttl)}}));
  *http_status = static_cast<int>(r.status);
  if (r.status != 200) return UnexpectedStatus("PUT", kTokenPath, r);
  std::string_view token = TrimSpace(r.body);
  if (token.empty()) return Corruption("metadata PUT {}: empty token", Url(kTokenPath));
  // The service may grant less than asked for; it echoes the TTL it granted.
  for (const auto& [name, value] : r.headers) {
    if (strcasecmp(name.c_str(), tokens_->ttl_header) != 0) continue;
    if (int g = std::atoi(value.c_str()); g > 0 && g < ttl) ttl = g;
  }
  int64_t ttl_ms = int64_t{ttl} * 1000;
  token_ = std::string(token);
  token_refresh_at_ms_ = NowMs() + ttl_ms - std::min<int64_t>(ttl_ms / 10, 60000);
  tokenless_until_ms_ = 0;
  return Status::Ok();
}

}  // namespace baton
