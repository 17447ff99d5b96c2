// Running the `baton` binary from a test, as a user would: its own process with extra
// environment variables, output to a log file. The child gets argv and envp built before fork
// (a threaded parent's child may only make async-signal-safe calls before execve).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/env.h"

extern char** environ;

namespace baton::testing {

// Polls `done` every 20 ms until it holds or `timeout_ms` passed; whether it held.
template <typename F>
bool WaitUntil(F done, int timeout_ms = 60000) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Starts `args` (args[0] is the program) with this process's environment plus `vars`
// ("NAME=value", replacing a variable of that name), stdout and stderr to `log`, stdin from
// /dev/null. With `own_group`, the child leads a new process group (kill(-pid) reaches all it
// starts) and is killed by the kernel should this process die first (a test server that must
// never outlive its test).
inline pid_t StartProcess(const std::vector<std::string>& args,
                          const std::vector<std::string>& vars, const std::string& log,
                          bool own_group = false) {
  std::vector<std::string> all = vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    bool replaced = false;
    for (const std::string& mine : vars) {
      replaced |= v.compare(0, mine.find('=') + 1, mine, 0, mine.find('=') + 1) == 0;
    }
    if (!replaced) all.push_back(v);
  }
  std::vector<char*> envp;
  for (std::string& v : all) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (own_group) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent died before prctl
    }
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fd);
  close(null);
  if (own_group && pid > 0) setpgid(pid, pid);  // also here: no race with the child's own call
  return pid;
}

// Waits for the child; its wait status, or -1 (after killing it) when it takes over `timeout_ms`.
inline int WaitChild(pid_t pid, int timeout_ms = 120000) {
  int status = 0;
  if (!WaitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout_ms)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return status;
}

// Runs a command to its end: its exit code (-1 when killed or timed out) and its output.
struct ProcessResult {
  int exit_code = -1;
  std::string output;
};
inline ProcessResult RunProcess(const std::vector<std::string>& args,
                                const std::vector<std::string>& vars, const std::string& log,
                                int timeout_ms = 120000) {
  int status = WaitChild(StartProcess(args, vars, log), timeout_ms);
  ProcessResult r;
  r.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  Result<std::string> text = Env::Default()->ReadFile(log);
  r.output = text.ok() ? *text : "";
  return r;
}

}  // namespace baton::testing
