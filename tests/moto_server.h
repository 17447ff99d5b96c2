// moto (the AWS fake, `pip install moto[server]`, 5.2.1 here) as a test server: started on a
// free loopback port with INITIAL_NO_AUTH_ACTION_COUNT=<n> (the first n actions are not
// authenticated; after them moto checks every SigV4 signature against the IAM keys made inside
// it), and killed by the destructor. No process outlives the test: the server runs in its own
// process group, which the destructor kills (SIGTERM, then SIGKILL after 5 s) and reaps, and the
// kernel kills it should the test process die first (PR_SET_PDEATHSIG).
// Facts about moto used here: shared/notes/cloud-apis.md section 4.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/env.h"
#include "base/process_contract.h"
#include "cli_process.h"
#include "net/http_client.h"

namespace baton::testing {

class MotoServer {
 public:
  // Why moto cannot run here ("" when `python3 -c 'import moto.server'` works).
  static std::string WhyUnavailable() {
    int rc = std::system("python3 -c 'import moto.server' >/dev/null 2>&1");
    if (rc == 0) return "";
    return "python3 cannot import moto.server (pip install 'moto[server]'; this machine's tests "
           "use moto 5.2.1); set BATON_SKIP_MOTO=1 to skip the moto tests";
  }
  // Whether the caller asked to skip the moto tests where moto is missing.
  static bool SkipWanted() { return GetEnvVar(EnvVar::kSkipMoto).value_or("") == "1"; }

  explicit MotoServer(int no_auth_actions) : no_auth_actions_(no_auth_actions) {
    char tmpl[] = "/tmp/baton_moto_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      error_ = "cannot make a scratch folder";
      return;
    }
    dir_ = tmpl;
    // A port the kernel just handed out can be taken by another process before moto binds it:
    // try a few.
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) Start();
  }
  ~MotoServer() {
    Stop();
    if (!dir_.empty() && !GetEnvVar(EnvVar::kKeepTmp)) {
      std::string cmd = "rm -rf '" + dir_ + "'";
      (void)!std::system(cmd.c_str());
    }
  }
  MotoServer(const MotoServer&) = delete;
  MotoServer& operator=(const MotoServer&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& error() const { return error_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log_path() const { return dir_ + "/moto.log"; }
  pid_t pid() const { return pid_; }
  // Seconds from the start to the first answer.
  double startup_seconds() const { return startup_seconds_; }

  // POST /moto-api/reset: forgets every resource (users and keys too).
  Status Reset() { return Post("/moto-api/reset", ""); }
  // POST /moto-api/reset-auth: the next `n` actions are unauthenticated again.
  Status ResetAuth(int n) { return Post("/moto-api/reset-auth", std::to_string(n)); }

 private:
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
  }

  void Start() {
    int port = FreePort();
    if (port == 0) {
      error_ = "no free port";
      return;
    }
    std::string log = log_path();
    auto started = std::chrono::steady_clock::now();
    pid_t pid = StartProcess({"/usr/bin/env", "python3", "-m", "moto.server", "-H", "127.0.0.1",
                              "-p", std::to_string(port)},
                             {"INITIAL_NO_AUTH_ACTION_COUNT=" + std::to_string(no_auth_actions_)},
                             log, /*own_group=*/true);
    if (pid < 0) {
      error_ = "fork failed";
      return;
    }
    pid_ = pid;
    port_ = port;
    // Ready when it answers; a server that exited (its port was taken) is tried again.
    for (int i = 0; i < 600; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        port_ = 0;
        error_ = "moto exited before answering: " + LogTail();
        return;
      }
      if (Reset().ok()) {
        startup_seconds_ =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "moto did not answer within 30 s: " + LogTail();
    Stop();
  }

  // The end of moto's output, for a failure's message (the folder goes with the server).
  std::string LogTail() {
    Result<std::string> text = Env::Default()->ReadFile(log_path());
    if (!text.ok()) return "no output";
    return text->size() > 800 ? "..." + text->substr(text->size() - 800) : *text;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGTERM);
    // Wait for the leader to exit without reaping it (WNOWAIT): while it is an unreaped zombie
    // its id, and so its group's, cannot be reused, so the group kill below reaches only moto's.
    siginfo_t info{};
    bool exited = false;
    for (int i = 0; i < 250 && !exited; ++i) {
      info.si_pid = 0;
      exited = waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(-pid_, SIGKILL);  // the leader if it ignored SIGTERM, and anything left in its group
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    port_ = 0;
  }

  Status Post(const std::string& path, const std::string& body) {
    HttpRequest req;
    req.method = "POST";
    req.url = endpoint() + path;
    req.body = body;
    req.connect_timeout_ms = 1000;
    req.total_timeout_ms = 10000;
    Result<HttpResponse> r = http_.Send(req);
    if (!r.ok()) return r.status();
    if (r->status != 200) return Unavailable("moto {}: HTTP {}", path, r->status);
    return Status::Ok();
  }

  int no_auth_actions_;
  std::string dir_;
  std::string error_;
  pid_t pid_ = -1;
  int port_ = 0;
  double startup_seconds_ = 0;
  HttpClient http_;
};

}  // namespace baton::testing
