// A small HTTP/1.1 client over libcurl for the object stores and metadata services: one request
// at a time per HttpClient (connections are kept alive and reused), the body from memory, the
// response body to memory or to a sink. Transport failures (refused, reset, timeout, a body cut
// short of its Content-Length) come back as Unavailable, so callers can retry them; any HTTP
// status is a successful exchange and left to the caller to judge.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace baton {

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET";  // GET, PUT, POST, HEAD, DELETE
  std::string url;             // "http://127.0.0.1:9000/bkt/key?x=y", already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // must stay alive during the call
  int connect_timeout_ms = 5000;
  // A transfer slower than 1 byte/s for this long is abandoned (a stalled connection).
  int stall_timeout_ms = 30000;
  // 0: no limit on the whole exchange.
  int total_timeout_ms = 0;
  // When set and the status is 2xx, body bytes go here instead of HttpResponse::body; an error
  // from the sink aborts the transfer and is returned.
  std::function<Status(std::string_view)> sink;
  // With `sink`: called once with the status and headers of a 2xx answer, before the first body
  // byte goes to the sink (a caller can refuse an answer that is not the one it asked for before
  // any byte is written); an error aborts the transfer and is returned.
  std::function<Status(const HttpResponse&)> sink_begin;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  // The value of the first header `name` (lowercase), or "".
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Thread-safe: concurrent calls take turns on the one connection. With `no_answer`, sets it
  // to whether a failed Send was a server that took the request and sent nothing back (not a
  // status line) for the request's stall_timeout_ms: it holds requests (overloaded, a full
  // cluster), which retrying the same way rarely fixes. Other failures (refused, reset, a body
  // that stalled halfway, the sink's own errors) are not this.
  Result<HttpResponse> Send(const HttpRequest& request, bool* no_answer = nullptr);

 private:
  std::mutex mu_;
  void* curl_ = nullptr;  // CURL*
};

// "http://user:pass@host:port/path?q" -> "host:port" (the port only when given): where a request
// goes, for messages and the Host header; credentials never come along.
std::string UrlAuthority(std::string_view url);

}  // namespace baton
