// Test servers for the object-store tests: s3rver (npm) started on a free loopback port, and a
// tiny HTTP server answering fixed paths (a fake instance-metadata service).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "loopback.h"

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

// Answers "METHOD /path" from a map (200 with the body), 404 otherwise; counts requests.
class FakeHttpServer {
 public:
  using Handler = std::function<std::pair<int, std::string>(
      const std::string& method, const std::string& path, const std::string& headers)>;
  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ListenOnLoopback(&port_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeHttpServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void Loop() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, n);
      }
      ++requests_;
      std::istringstream in(req);
      std::string method, path;
      in >> method >> path;
      auto [status, body] = handler_(method, path, req);
      std::string resp = "HTTP/1.1 " + std::to_string(status) +
                         " X\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
      (void)!write(c, resp.data(), resp.size());
      close(c);
    }
  }
  Handler handler_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace baton::testing
