#include "net/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>

namespace baton {
namespace {

// Keep-alive connections idle this long are closed (clients reconnect).
constexpr int kIdleTimeoutSeconds = 60;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Appends what the peer sends next; false at EOF, on error or after the idle timeout.
bool ReadMore(int fd, std::string* buf) {
  char chunk[16384];
  for (;;) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buf->append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Finds `what` in *buf at or after `from`, reading more until it appears or `limit` bytes are
// buffered. Returns its offset, or npos (peer gone, or over the limit: *over_limit).
size_t FindOrRead(int fd, std::string* buf, size_t from, std::string_view what, size_t limit,
                  bool* over_limit) {
  for (;;) {
    size_t at = buf->find(what, from);
    if (at != std::string::npos) return at;
    if (buf->size() > limit) {
      *over_limit = true;
      return std::string::npos;
    }
    if (!ReadMore(fd, buf)) return std::string::npos;
  }
}

bool HaveBytes(int fd, std::string* buf, size_t n) {
  while (buf->size() < n) {
    if (!ReadMore(fd, buf)) return false;
  }
  return true;
}

enum class ReadOutcome { kRequest, kClosed, kBad };

struct Reader {
  int fd;
  std::string* buf;  // bytes received but not yet consumed (pipelined requests)
  size_t max_body_bytes;
  int bad_status = 400;
  std::string bad_message;

  ReadOutcome Bad(int status, std::string message) {
    bad_status = status;
    bad_message = std::move(message);
    return ReadOutcome::kBad;
  }

  // Reads a chunked body starting at `pos`; on success `*end` is the offset after it.
  ReadOutcome ReadChunked(size_t pos, std::string* body, size_t* end) {
    bool over = false;
    for (;;) {
      size_t eol = FindOrRead(fd, buf, pos, "\r\n", pos + 1024, &over);
      if (eol == std::string::npos) {
        return over ? Bad(400, "bad chunk size line") : ReadOutcome::kClosed;
      }
      std::string_view line(buf->data() + pos, eol - pos);
      line = line.substr(0, line.find(';'));  // chunk extensions are ignored
      line = Trim(line);
      if (line.empty() || line.size() > 8 ||
          !std::all_of(line.begin(), line.end(), [](char c) { return std::isxdigit(c); })) {
        return Bad(400, "bad chunk size");
      }
      size_t size = std::stoul(std::string(line), nullptr, 16);
      pos = eol + 2;
      if (size == 0) {
        // Trailer fields, then an empty line.
        for (;;) {
          size_t t = FindOrRead(fd, buf, pos, "\r\n", pos + HttpServer::kMaxHeaderBytes, &over);
          if (t == std::string::npos) {
            return over ? Bad(431, "trailers too large") : ReadOutcome::kClosed;
          }
          bool last = t == pos;
          pos = t + 2;
          if (last) break;
        }
        *end = pos;
        return ReadOutcome::kRequest;
      }
      if (body->size() + size > max_body_bytes) return Bad(413, "body too large");
      if (!HaveBytes(fd, buf, pos + size + 2)) return ReadOutcome::kClosed;
      body->append(*buf, pos, size);
      if (buf->compare(pos + size, 2, "\r\n") != 0) return Bad(400, "chunk not followed by CRLF");
      pos += size + 2;
    }
  }

  ReadOutcome Read(HttpServerRequest* req, bool* keep_alive) {
    bool over = false;
    size_t head_end = FindOrRead(fd, buf, 0, "\r\n\r\n", HttpServer::kMaxHeaderBytes, &over);
    if (head_end == std::string::npos) {
      return over ? Bad(431, "request header too large") : ReadOutcome::kClosed;
    }
    std::string_view head(buf->data(), head_end);
    req->head = std::string(head);
    size_t line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) return Bad(400, "bad request line");
    req->method = std::string(request_line.substr(0, sp1));
    std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = request_line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
      return Bad(505, "unsupported version " + std::string(version));
    }
    if (target.starts_with("http://")) {  // absolute form, as sent to proxies
      target.remove_prefix(7);
      size_t slash = target.find('/');
      target = slash == std::string_view::npos ? "/" : target.substr(slash);
    }
    if (target.empty() || target.front() != '/') return Bad(400, "bad request target");
    req->target = std::string(target);
    size_t q = target.find('?');
    req->path = PercentDecode(target.substr(0, q));
    req->raw_query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
    req->query = ParseQueryString(req->raw_query);

    std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return Bad(400, "bad header line");
      req->headers.emplace_back(Lower(line.substr(0, colon)),
                                std::string(Trim(line.substr(colon + 1))));
    }
    std::string connection = Lower(req->Header("connection"));
    *keep_alive = version == "HTTP/1.1" ? connection.find("close") == std::string::npos
                                        : connection.find("keep-alive") != std::string::npos;

    size_t body_start = head_end + 4;
    size_t end = body_start;
    if (Lower(req->Header("expect")) == "100-continue") {
      SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    if (Lower(req->Header("transfer-encoding")).find("chunked") != std::string::npos) {
      ReadOutcome r = ReadChunked(body_start, &req->body, &end);
      if (r != ReadOutcome::kRequest) return r;
    } else if (req->HasHeader("content-length")) {
      std::string length = req->Header("content-length");
      if (length.empty() || length.size() > 12 ||
          !std::all_of(length.begin(), length.end(), [](char c) { return std::isdigit(c); })) {
        return Bad(400, "bad Content-Length");
      }
      size_t n = std::stoull(length);
      if (n > max_body_bytes) return Bad(413, "body too large");
      if (!HaveBytes(fd, buf, body_start + n)) return ReadOutcome::kClosed;
      req->body = buf->substr(body_start, n);
      end = body_start + n;
    }
    buf->erase(0, end);
    return ReadOutcome::kRequest;
  }
};

std::string Serialize(const HttpServerResponse& r, bool close, bool head) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", r.status, HttpReasonPhrase(r.status));
  for (const auto& [name, value] : r.headers) {
    if (strcasecmp(name.c_str(), "content-length") == 0) continue;
    if (strcasecmp(name.c_str(), "connection") == 0) continue;
    out += name + ": " + value + "\r\n";
  }
  out += fmt::format("Content-Length: {}\r\n", r.body.size());
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head) out += r.body;
  return out;
}

}  // namespace

std::string HttpServerRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return "";
}

bool HttpServerRequest::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return true;
  }
  return false;
}

std::string HttpServerRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

HttpServerResponse HttpServerResponse::Text(int status, std::string body,
                                            std::string content_type) {
  HttpServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::move(content_type)}};
  r.body = std::move(body);
  return r;
}

HttpServerResponse HttpServerResponse::Json(int status, std::string body) {
  return Text(status, std::move(body), "application/json; charset=utf-8");
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQueryString(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    out[key] = value;
  }
  return out;
}

const char* HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "";
}

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string path, Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_[std::move(path)][std::move(method)] = std::move(handler);
}

void HttpServer::SetInterceptor(Interceptor interceptor) {
  std::lock_guard<std::mutex> lock(mu_);
  interceptor_ = std::move(interceptor);
}

std::string HttpServer::url() const {
  // A server on every address is reached here on the loopback one.
  return fmt::format("http://{}:{}", host_ == "0.0.0.0" ? "127.0.0.1" : host_, port_);
}

Status HttpServer::Start(int port) { return Start(port, "127.0.0.1"); }

Status HttpServer::Start(int port, const std::string& host) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (running_) return FailedPrecondition("http server: already serving on port {}", port_);
  if (port < 0 || port > 65535) return InvalidArgument("http server: bad port {}", port);
  in_addr host_addr{};
  if (inet_pton(AF_INET, host.c_str(), &host_addr) != 1) {
    return InvalidArgument("http server: '{}' is not an IPv4 address (e.g. 127.0.0.1, 0.0.0.0)",
                           host);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError("http server: socket: {}", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr = host_addr;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    int err = errno;
    close(fd);
    return IoError("http server: listen on {}:{}: {}", host, port, std::strerror(err));
  }
  host_ = host;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  listen_fd_ = fd;
  port_ = ntohs(addr.sin_port);
  stopping_ = false;
  running_ = true;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!running_) return;
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  close(listen_fd_);
  listen_fd_ = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : connections_) {
      if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    }
  }
  ReapFinished(/*all=*/true);
  running_ = false;
}

void HttpServer::ReapFinished(bool all) {
  std::vector<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::partition(connections_.begin(), connections_.end(),
                             [all](const auto& c) { return !all && !c->done; });
    for (auto j = it; j != connections_.end(); ++j) finished.push_back(std::move(*j));
    connections_.erase(it, connections_.end());
  }
  for (auto& c : finished) c->thread.join();  // outside mu_: Serve takes it to close its fd
}

void HttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int ready = poll(&p, 1, 250);
    ReapFinished(/*all=*/false);
    if (ready <= 0 || stopping_) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the listener stays readable, so do not spin on it.
      if (errno == EMFILE || errno == ENFILE) poll(nullptr, 0, 50);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval idle{kIdleTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || connections_.size() >= static_cast<size_t>(kMaxConnections)) {
      close(fd);
      continue;
    }
    auto conn = std::make_unique<Connection>();
    conn->fd = fd;
    Connection* c = conn.get();
    connections_.push_back(std::move(conn));
    c->thread = std::thread([this, c] { Serve(c); });
  }
}

void HttpServer::CloseConnection(Connection* conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn->fd >= 0) close(conn->fd);
  conn->fd = -1;
  conn->done = true;
}

void HttpServer::Serve(Connection* conn) {
  int fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fd = conn->fd;
  }
  std::string buf;
  while (!stopping_) {
    HttpServerRequest request;
    bool keep_alive = true;
    Reader reader{fd, &buf, max_body_bytes_, 400, ""};
    ReadOutcome outcome = reader.Read(&request, &keep_alive);
    if (outcome == ReadOutcome::kClosed) break;
    if (outcome == ReadOutcome::kBad) {
      SendAll(fd, Serialize(HttpServerResponse::Text(reader.bad_status, reader.bad_message + "\n"),
                            /*close=*/true, /*head=*/false));
      break;
    }
    HttpServerResponse response = Dispatch(request);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++request_count_;
      ++counters_[request.method + " " + request.path];
      ++counters_[response.drop_connection ? std::string("dropped")
                                           : fmt::format("status {}", response.status)];
    }
    if (response.drop_connection) break;
    bool head = request.method == "HEAD";
    bool cut = response.cut_body_at >= 0 && !head &&
               static_cast<size_t>(response.cut_body_at) < response.body.size();
    bool close = !keep_alive || response.close_connection || cut || stopping_;
    std::string out = Serialize(response, close, head);
    if (cut) out.resize(out.size() - response.body.size() + response.cut_body_at);
    if (!SendAll(fd, out) || close) break;
  }
  CloseConnection(conn);
}

HttpServerResponse HttpServer::Dispatch(const HttpServerRequest& request) {
  Interceptor interceptor;
  Handler handler;
  std::string allow;
  {
    std::lock_guard<std::mutex> lock(mu_);
    interceptor = interceptor_;
    auto path = routes_.find(request.path);
    if (path != routes_.end()) {
      auto method = path->second.find(request.method);
      if (method != path->second.end()) handler = method->second;
      for (const auto& [m, h] : path->second) allow += (allow.empty() ? "" : ", ") + m;
    }
  }
  // A handler that throws (a JSON library, a bug) answers 500 instead of taking the server down.
  try {
    if (interceptor) {
      if (std::optional<HttpServerResponse> r = interceptor(request)) return *std::move(r);
    }
    if (handler) return handler(request);
  } catch (const std::exception& e) {
    return HttpServerResponse::Text(500, std::string("handler failed: ") + e.what() + "\n");
  }
  if (!allow.empty()) {
    HttpServerResponse r = HttpServerResponse::Text(405, "Method Not Allowed\n");
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  return HttpServerResponse::Text(404, "Not Found\n");
}

uint64_t HttpServer::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return request_count_;
}

uint64_t HttpServer::CountOf(std::string_view method, std::string_view path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(fmt::format("{} {}", method, path));
  return it == counters_.end() ? 0 : it->second;
}

uint64_t HttpServer::CountOfStatus(int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(fmt::format("status {}", status));
  return it == counters_.end() ? 0 : it->second;
}

std::map<std::string, uint64_t> HttpServer::Counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

}  // namespace baton
