#include "agent/supervise.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/process_contract.h"
#include "base/strings.h"
#include "ckpt/checkpoint_manager.h"
#include "run/layout.h"
#include "store/file_store.h"

namespace baton {

std::string SubstituteResumeFrom(std::string_view command, std::string_view resume) {
  static constexpr std::string_view kPlaceholder = "{resume_from}";
  enum class Quote { kNone, kSingle, kDouble } state = Quote::kNone;
  std::string out;
  for (size_t i = 0; i < command.size(); ++i) {
    if (command.substr(i, kPlaceholder.size()) == kPlaceholder) {
      if (state == Quote::kNone) {
        out += ShellQuote(resume);
      } else if (state == Quote::kSingle) {
        std::string v(resume);
        ReplaceAll(&v, "'", "'\\''");  // close, an escaped quote, open again
        out += v;
      } else {
        for (char c : resume) {
          if (c == '\\' || c == '"' || c == '$' || c == '`') out += '\\';
          out += c;
        }
      }
      i += kPlaceholder.size() - 1;
      continue;
    }
    char c = command[i];
    out += c;
    if (state == Quote::kSingle) {
      if (c == '\'') state = Quote::kNone;
    } else if (c == '\\' && i + 1 < command.size()) {
      out += command[++i];  // an escaped character, in "..." or outside
    } else if (c == '"') {
      state = state == Quote::kDouble ? Quote::kNone : Quote::kDouble;
    } else if (c == '\'' && state == Quote::kNone) {
      state = Quote::kSingle;
    }
  }
  return out;
}

Result<std::string> ResumeFrom(Store* store) {
  CheckpointManager m(store, "");
  BATON_ASSIGN_OR_RETURN(std::optional<int64_t> best, m.LatestValid());
  if (!best) {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(""));
    for (const std::string& k : keys) {
      size_t slash = k.find('/');
      if (slash == std::string::npos || k.substr(slash + 1) != kTrainerStateFile) continue;
      std::optional<int64_t> step = ParseCheckpointDir(k.substr(0, slash));
      if (step && (!best || *step > *best)) best = step;
    }
  }
  if (!best) return std::string();
  std::string name = CheckpointDir(*best);
  if (auto* fs = dynamic_cast<FileStore*>(store)) return JoinPath(fs->root(), name);
  return JoinKey(store->Url(), name);
}

Result<AgentOutcome> Supervise(const JobSpec& job, Store* store, HeartbeatWriter& heartbeat,
                               const SuperviseOptions& options) {
  Env* env = options.env;
  auto print = [&](const std::string& s) {
    if (options.print) options.print(s);
  };
  BATON_ASSIGN_OR_RETURN(std::string resume, ResumeFrom(store));
  std::string cmd = SubstituteResumeFrom(job.command, resume);
  print(fmt::format("baton agent: running `{}`{}", cmd,
                    resume.empty() ? " (fresh start)" : " (resuming from " + resume + ")"));
  pid_t child = fork();
  if (child < 0) return IoError("fork failed: {}", std::strerror(errno));
  if (child == 0) {
    setpgid(0, 0);
    SetEnvVar(EnvVar::kResumeFrom, resume);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(child, child);
  std::optional<uint64_t> forwarded_us;
  int wstatus = 0;
  for (;;) {
    pid_t r = waitpid(child, &wstatus, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return IoError("waitpid: {}", std::strerror(errno));
    if (!forwarded_us && options.stop_requested && options.stop_requested()) {
      forwarded_us = env->NowMicros();
      print("baton agent: stop requested: sending SIGTERM to the trainer");
      kill(-child, SIGTERM);
    }
    env->SleepMicros(50'000);
  }
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (forwarded_us) {
    double secs = static_cast<double>(env->NowMicros() - *forwarded_us) / 1e6;
    print(fmt::format("baton agent: the trainer exited {} {:.2f} s after SIGTERM", code, secs));
    heartbeat.Change([secs](Heartbeat& h) { h.stop_to_checkpoint_seconds = secs; });
    heartbeat.Finish(AgentState::kStopped);
    return AgentOutcome::kStopped;
  }
  if (code != 0) {
    heartbeat.Finish(AgentState::kFailed);
    return IoError("the trainer command exited {}", code);
  }
  CompleteMarker complete;
  complete.external = true;
  BATON_RETURN_IF_ERROR(WriteCompleteMarker(store, complete));
  return AgentOutcome::kCompleted;
}

}  // namespace baton
