// FakeVm: see fake_ecs_host.h.
#include "fake_ecs_host.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "base/env.h"
#include "base/process_contract.h"

extern char** environ;

namespace baton::testing {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Splits a command line as systemd's ExecStart (and sh) quote it: words apart on blanks, '...'
// literal, "..." with backslash escapes, a backslash outside quotes escaping the next byte.
Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) return InvalidArgument("unterminated ' in: {}", line);
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        word += line[i];
      }
      if (i >= line.size()) return InvalidArgument("unterminated \" in: {}", line);
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// Appends a line to the instance's log (the fake's own remarks, before the agent's output).
void AppendToLog(const std::string& path, const std::string& line) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string text = line + "\n";
  ssize_t ignored = write(fd, text.data(), text.size());
  (void)ignored;
  close(fd);
}

// The agent's environment as "NAME=value" strings (see the header for what goes in).
std::vector<std::string> AgentEnvironment(
    const std::vector<std::pair<std::string, std::string>>& settings) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const EnvVarInfo& info : kEnvVars) env.erase(std::string(info.name));
  for (const auto& [name, value] : settings) env[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

Result<std::vector<std::string>> AgentArgsFromUserData(std::string_view user_data) {
  size_t start = 0;
  while (start < user_data.size()) {
    size_t end = user_data.find('\n', start);
    if (end == std::string_view::npos) end = user_data.size();
    std::string_view line = user_data.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("ExecStart=")) continue;
    line.remove_prefix(std::strlen("ExecStart="));
    // systemd's prefixes: '-' ignore failure, '@' argv[0], '+', '!', '!!' privileges.
    while (!line.empty() && std::strchr("-@+!:", line.front()) != nullptr) line.remove_prefix(1);
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitCommandLine(line));
    if (words.size() < 2 || words[1] != "agent") continue;
    words.erase(words.begin());
    for (size_t i = 1; i < words.size(); ++i) {
      if ((words[i] == "--job" && i + 1 < words.size()) || words[i].starts_with("--job=")) {
        return words;
      }
    }
    return InvalidArgument("user-data: the line 'ExecStart={}' gives the agent no --job", line);
  }
  return InvalidArgument("user-data has no systemd line 'ExecStart=<baton> agent --job <JOB>'");
}

Result<std::string> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string digits;
  for (char c : text) {
    if (c != '\n' && c != '\r') digits += c;
  }
  if (digits.size() % 4 != 0) return InvalidArgument("base64: length is not a multiple of 4");
  size_t pad = 0;
  while (pad < 2 && pad < digits.size() && digits[digits.size() - 1 - pad] == '=') ++pad;
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  for (size_t i = 0; i + pad < digits.size(); ++i) {
    int v = value(digits[i]);
    if (v < 0) return InvalidArgument("base64: unexpected '{}' at {}", digits[i], i);
    bits = (bits << 6 | static_cast<uint32_t>(v)) & 0xffffff;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>(bits >> nbits & 0xff);
    }
  }
  return out;
}

Result<std::unique_ptr<FakeVm>> FakeVm::Boot(const FakeInstanceHostOptions& host,
                                             const FakeVmSpec& spec) {
  std::unique_ptr<FakeVm> vm(new FakeVm());
  vm->aws_ = host.cloud == "aws";
  FakeMetadataOptions mo;
  mo.instance_name = spec.instance_id;
  mo.instance_id = spec.instance_id;
  BATON_ASSIGN_OR_RETURN(vm->metadata_, FakeMetadataServer::Start(mo));
  if (!spec.ram_role.empty()) {
    const AliyunCredential& keys = host.ram_role_keys;
    vm->metadata_->SetRamRole(spec.ram_role, keys.access_key_id, keys.access_key_secret,
                              keys.security_token, NowMs() / 1000 + host.ram_role_ttl_seconds);
  }
  if (!host.work_dir.empty()) {
    vm->dir_ = JoinPath(JoinPath(host.work_dir, "instances"), spec.instance_id);
    vm->log_path_ = JoinPath(vm->dir_, "agent.log");
    BATON_RETURN_IF_ERROR(Env::Default()->CreateDirs(JoinPath(vm->dir_, "cache")));
  }
  if (!host.baton_binary.empty()) {
    Status started = vm->StartAgent(host, spec);
    if (!started.ok())
      AppendToLog(vm->log_path_, "fake-ecs: no agent started: " + started.ToString());
  }
  return vm;
}

Status FakeVm::StartAgent(const FakeInstanceHostOptions& host, const FakeVmSpec& spec) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> args, AgentArgsFromUserData(spec.user_data));
  argv_ = {host.baton_binary};
  argv_.insert(argv_.end(), args.begin(), args.end());
  std::vector<std::pair<std::string, std::string>> settings = {
      {EnvVarName(EnvVar::kMetadataUrl), metadata_->url()},
      {EnvVarName(EnvVar::kCloud), host.cloud},
      {EnvVarName(EnvVar::kCacheDir), JoinPath(dir_, "cache")}};
  if (aws_) {
    // Where a real instance reaches EC2 and its instance profile's keys (the SDKs' variables).
    settings.push_back({"AWS_ENDPOINT_URL_EC2", spec.api_endpoint});
    settings.push_back({"AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata_->url()});
  } else {
    settings.push_back({EnvVarName(EnvVar::kAliyunEndpoint), spec.api_endpoint});
    settings.push_back({"ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", metadata_->url()});
  }
  settings.insert(settings.end(), host.extra_env.begin(), host.extra_env.end());
  std::vector<std::string> env = AgentEnvironment(settings);

  std::string shown;
  for (const std::string& a : argv_) shown += (shown.empty() ? "" : " ") + a;
  AppendToLog(log_path_, "fake-ecs: " + spec.instance_id + ": exec " + shown);

  // Everything the child needs is made before fork(): between fork and execve it only makes
  // async-signal-safe calls (the test process has other threads, whose locks may be held).
  std::vector<std::string> argv_copy = argv_;
  std::vector<char*> argv_c = CStrings(argv_copy);
  std::vector<char*> env_c = CStrings(env);
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return IoError("{}: {}", log_path_, std::strerror(errno));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char* dir = dir_.c_str();
  // systemd starts a service with no signal blocked or ignored; the thread that forks here may
  // block some, and the test process may ignore SIGPIPE.
  sigset_t no_signals;
  sigemptyset(&no_signals);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &default_action, nullptr);
    sigprocmask(SIG_SETMASK, &no_signals, nullptr);
    if (chdir(dir) != 0) _exit(126);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close_range(3, ~0U, 0);  // the fake's sockets are no business of the VM's
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  int fork_errno = errno;
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  if (pid < 0) return IoError("fork: {}", std::strerror(fork_errno));
  setpgid(pid, pid);  // as the child does: whichever runs first, the group exists before a kill
  pid_ = pid;
  alive_ = true;
  return Status::Ok();
}

FakeVm::~FakeVm() { PowerOff(); }

void FakeVm::Exited(int wait_status) {
  alive_ = false;
  exit_code_ = ExitCode(wait_status);
}

void FakeVm::PowerOff() {
  if (pid_ > 0) {
    // The whole group, also after the leader is gone: a VM takes everything it ran with it.
    kill(-pid_, SIGKILL);
    if (alive_) {
      int status = 0;
      pid_t r;
      do {
        r = waitpid(pid_, &status, 0);
      } while (r < 0 && errno == EINTR);
      if (r == pid_) Exited(status);
      alive_ = false;
    }
  }
  if (metadata_) metadata_->Stop();
}

void FakeVm::Reap() {
  if (!alive_) return;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) Exited(status);
}

Status FakeVm::Pause() {
  Reap();
  if (!alive_) return FailedPrecondition("the instance has no running process");
  if (kill(-pid_, SIGSTOP) != 0) return IoError("SIGSTOP: {}", std::strerror(errno));
  return Status::Ok();
}

Status FakeVm::Resume() {
  Reap();
  if (!alive_) return FailedPrecondition("the instance has no running process");
  if (kill(-pid_, SIGCONT) != 0) return IoError("SIGCONT: {}", std::strerror(errno));
  return Status::Ok();
}

void FakeVm::ScheduleTermination(int64_t deadline_unix_ms) {
  if (metadata_) {
    metadata_->ScheduleNotice(aws_ ? Cloud::kAws : Cloud::kAlibaba, NoticeKind::kTermination,
                              deadline_unix_ms);
  }
}

void FakeVm::ScheduleRebalance() {
  if (metadata_) metadata_->ScheduleNotice(Cloud::kAws, NoticeKind::kRebalance, NowMs());
}

}  // namespace baton::testing
