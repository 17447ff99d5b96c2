// HttpServer: a small embedded HTTP/1.1 server on 127.0.0.1 for the project's own fakes of cloud
// services (instance metadata, object stores in tests, webhooks) and `baton ui`. It is meant for
// tests and for the local fleet, not for untrusted traffic: one thread per connection (at most
// kMaxConnections), keep-alive, Content-Length or chunked request bodies, bounded header and body
// sizes.
//
// Routes match the method and the exact path (without the query); a request for a known path
// with another method gets 405, an unknown path 404. An interceptor, when set, sees every request
// first and may answer it instead: a fake that serves every path, or fault injection (a 500, a
// dropped connection, a body cut short).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"

namespace baton {

struct HttpServerRequest {
  std::string method;     // "GET", "PUT", ...
  std::string path;       // percent-decoded, without the query: "/latest/api/token"
  std::string raw_query;  // as on the request line, without '?'
  // The target as on the request line, not decoded (an absolute URL reduced to its path and
  // query): "/bkt/a%20b?x=1". What a request signature covers.
  std::string target;
  // The request line and header lines as received, without the blank line after them.
  std::string head;
  std::map<std::string, std::string> query;                  // decoded; the last value wins
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  std::string body;

  // The first header named `name` (any case), or "".
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // The query parameter `name`, or "".
  std::string Query(const std::string& name) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
};

struct HttpServerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
  // Close the connection after this response.
  bool close_connection = false;
  // Close the connection without answering at all (a crashed or overloaded service).
  bool drop_connection = false;
  // When >= 0: send the head (with the full Content-Length) and only this many bytes of the body,
  // then close the connection (a transfer cut mid-body).
  int64_t cut_body_at = -1;

  static HttpServerResponse Text(int status, std::string body,
                                 std::string content_type = "text/plain");
  static HttpServerResponse Json(int status, std::string body);
};

class HttpServer {
 public:
  using Handler = std::function<HttpServerResponse(const HttpServerRequest&)>;
  // Returns a response to send instead of routing the request, or nullopt to route it as usual.
  using Interceptor = std::function<std::optional<HttpServerResponse>(const HttpServerRequest&)>;

  static constexpr int kMaxConnections = 64;
  static constexpr size_t kMaxHeaderBytes = 64 << 10;
  static constexpr size_t kMaxBodyBytes = 8 << 20;  // the default; see SetMaxBodyBytes

  HttpServer();
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds (or replaces) the handler of `method` + `path`. Safe at any time, also while serving.
  void Route(std::string method, std::string path, Handler handler);
  void SetInterceptor(Interceptor interceptor);
  // Request bodies larger than this are refused with 413 (an object-store fake takes big PUTs).
  void SetMaxBodyBytes(size_t bytes) { max_body_bytes_ = bytes; }

  // Listens on 127.0.0.1:`port` (0: a free port the kernel picks) and starts serving. A stopped
  // server can be started again, e.g. on its old port to simulate a service that came back.
  Status Start(int port = 0);
  // Listens on `host` (an IPv4 address: "127.0.0.1", "0.0.0.0" for every interface) instead.
  Status Start(int port, const std::string& host);
  // Closes the listener and every open connection and waits for the handlers to return.
  // Idempotent.
  void Stop();

  bool running() const { return running_; }
  int port() const { return port_; }
  // "http://<host>:<port>" ("http://127.0.0.1:<port>" for a server on 0.0.0.0).
  std::string url() const;

  // Requests answered (intercepted ones included), since construction.
  uint64_t request_count() const;
  // How many requests had this method and path, or got this status.
  uint64_t CountOf(std::string_view method, std::string_view path) const;
  uint64_t CountOfStatus(int status) const;
  // Every counter: "GET /path" -> n and "status 404" -> n.
  std::map<std::string, uint64_t> Counters() const;

 private:
  struct Connection {
    int fd = -1;  // guarded by HttpServer::mu_; -1 once closed
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop();
  void Serve(Connection* conn);
  HttpServerResponse Dispatch(const HttpServerRequest& request);
  void CloseConnection(Connection* conn);
  void ReapFinished(bool all);

  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
  Interceptor interceptor_;
  std::map<std::string, uint64_t> counters_;
  uint64_t request_count_ = 0;
  std::atomic<size_t> max_body_bytes_{kMaxBodyBytes};

  std::mutex lifecycle_mu_;  // serialises Start and Stop
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::string host_ = "127.0.0.1";
  std::thread accept_thread_;
  std::vector<std::unique_ptr<Connection>> connections_;  // guarded by mu_
};

// Percent-decodes `s` ('+' stays '+'); malformed escapes are kept as they are.
std::string PercentDecode(std::string_view s);
// "a=1&b=x%20y" -> {a: "1", b: "x y"}.
std::map<std::string, std::string> ParseQueryString(std::string_view query);
// "Not Found" for 404; "" for codes it does not know.
const char* HttpReasonPhrase(int status);

}  // namespace baton
