// Supervisor mode: the agent runs the user's own trainer (job `command:`, e.g. `swift sft ...
// --resume_from_checkpoint {resume_from}`) instead of training in-process. The trainer resumes
// from the newest checkpoint, is told to stop with SIGTERM (to its whole process group) on a
// notice, and a clean exit 0 without a stop is the run's completion, recorded with a COMPLETE
// marker.
#pragma once

#include <functional>
#include <string>

#include "agent/agent.h"
#include "agent/heartbeat_writer.h"
#include "base/env.h"
#include "job/job_spec.h"
#include "store/store.h"

namespace baton {

struct SuperviseOptions {
  std::function<void(const std::string&)> print;
  std::function<bool()> stop_requested;
  Env* env = Env::Default();
};

Result<AgentOutcome> Supervise(const JobSpec& job, Store* store, HeartbeatWriter& heartbeat,
                               const SuperviseOptions& options);

// `command` with every "{resume_from}" replaced by `resume` quoted for the shell where it stands:
// a word of its own outside quotes (ShellQuote: "" gives ''), escaped inside "..." and inside
// '...', so a path with spaces, quotes, '$' or ';' is always one argument and never code.
std::string SubstituteResumeFrom(std::string_view command, std::string_view resume);

// Where an external trainer resumes from: the newest checkpoint that is valid under Baton's
// protocol (MANIFEST.json), else the newest "checkpoint-N/" holding a trainer_state.json (what
// HF Trainer and ms-swift write last); "" when there is none. A local path for a folder store,
// the store URL otherwise.
Result<std::string> ResumeFrom(Store* store);

}  // namespace baton
