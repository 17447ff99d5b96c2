// The instance agent (`baton agent --job FILE_OR_URL`): what runs on every instance of the fleet.
// It reads the job spec, fetches model and data into the local cache, and decides: the run is
// complete (exit at once), or training starts or resumes in-process from the newest valid
// checkpoint. While it trains it writes a heartbeat to the run's store every few seconds
// (agent/heartbeat_writer.h; the document is run/layout.h's Heartbeat) and watches the cloud's
// metadata service for a preemption notice; a notice, a stop request from the fleet in the
// run's store (run/layout.h StopRequest), or SIGTERM makes the trainer checkpoint at the next
// micro-batch boundary and exit 0, and the agent reports how long that took against the
// notice's deadline. When the run completes it posts the webhooks of the job
// (agent/webhooks.h) after the final checkpoint is safe. The pieces: agent/handoff.h
// (make-before-break), agent/supervise.h (an external trainer command).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "job/job_spec.h"
#include "train/trainer.h"

namespace baton {

struct AgentOptions {
  // Instance id for heartbeats and the lease: EnvVar::kInstanceId, else the host name.
  std::string instance_id;
  // "spot", "on-demand" or "" (EnvVar::kBilling).
  std::string billing;
  // Set by signal handlers (SIGTERM/SIGINT); may be null.
  std::atomic<bool>* stop_flag = nullptr;
  // Make-before-break hand-off (EnvVar::kHandoff=1): load everything, then wait in state "standby"
  // until the run's current lease holder has checkpointed and let go (released the lease, or its
  // heartbeat says it stopped, or it fell silent), and only then take the lease.
  bool handoff = false;
  // Progress lines (default: stderr). Called from more than one thread (the trainer's, the
  // stop-request poller's, the notice monitor's), one line per call.
  std::function<void(const std::string&)> print;
  // Clock and sleeps (heartbeat times, hand-off waits, webhook backoff).
  Env* env = Env::Default();
  // When `baton agent` started (its command sets it before reading the job): the cold start's
  // total runs from here to the first training step (run/layout.h ColdStart).
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

enum class AgentOutcome { kCompleted, kAlreadyComplete, kStopped, kFenced };

Result<AgentOutcome> RunAgent(const JobSpec& job, const AgentOptions& options);

}  // namespace baton
