// Test servers for the object-store tests: s3rver (npm) started on a free loopback port, and a
// one-function HTTP server (a fake instance-metadata service, a webhook receiver).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "net/http_server.h"

namespace baton::testing {

// `n` pseudo-random bytes (xorshift), different for each `salt`.
inline std::string Blob(size_t n, int salt) {
  std::string s(n, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull * (salt + 1);
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x);
  }
  return s;
}

// s3rver with one bucket, in its own scratch folder; killed by the destructor. It accepts the
// access key S3RVER with the secret S3RVER (and does not check signatures).
class S3rver {
 public:
  explicit S3rver(const std::string& bucket) {
    char tmpl[] = "/tmp/baton_s3rver_XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string log = dir_ + "/log";
    std::string script =
        std::string(BATON_SOURCE_DIR) + "/tools/npm/node_modules/s3rver/bin/s3rver.js";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1);
      std::string data = dir_ + "/data";
      execlp("node", "node", script.c_str(), "-d", data.c_str(), "-a", "127.0.0.1", "-p", "0",
             "--silent", "--configure-bucket", bucket.c_str(), (char*)nullptr);
      _exit(127);
    }
    std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::ifstream f(log);
      std::stringstream ss;
      ss << f.rdbuf();
      std::string text = ss.str();
      std::smatch m;
      if (std::regex_search(text, m, re)) port_ = std::stoi(m[1]);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~S3rver() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)!system(cmd.c_str());
  }
  bool ok() const { return port_ != 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Answers every request with what `handler` returns (status, body), on the embedded HTTP server
// (net/http_server.h). The handler gets the method, the target as on the request line (path and
// query, not decoded) and the request as received (head, blank line, body); calls take turns,
// one request per connection (Connection: close).
class FakeHttpServer {
 public:
  using Handler = std::function<std::pair<int, std::string>(
      const std::string& method, const std::string& target, const std::string& request)>;
  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    http_.SetInterceptor([this](const HttpServerRequest& r) -> std::optional<HttpServerResponse> {
      std::lock_guard<std::mutex> lock(mu_);
      auto [status, body] = handler_(r.method, r.target, r.head + "\r\n\r\n" + r.body);
      HttpServerResponse response;
      response.status = status;
      response.body = std::move(body);
      response.close_connection = true;
      return response;
    });
    if (Status s = http_.Start(); !s.ok()) {
      std::fprintf(stderr, "FakeHttpServer: %s\n", s.ToString().c_str());
    }
  }
  ~FakeHttpServer() { http_.Stop(); }
  std::string endpoint() const { return http_.url(); }
  int requests() const { return static_cast<int>(http_.request_count()); }

 private:
  std::mutex mu_;  // one handler call at a time
  Handler handler_;
  HttpServer http_;  // last: destroyed (stopped) first
};

}  // namespace baton::testing
