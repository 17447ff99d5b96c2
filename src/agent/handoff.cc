#include "agent/handoff.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "ckpt/lease.h"
#include "run/layout.h"

namespace baton {

std::string HolderInstance(const std::string& holder) {
  size_t b = holder.rfind(':');
  if (b == std::string::npos || b == 0) return holder;
  size_t a = holder.rfind(':', b - 1);
  return a == std::string::npos ? holder : holder.substr(0, a);
}

namespace {

// Why the holder has let go, or "" while it holds the run.
Result<std::string> LetGo(Store* store, double stale_s, int64_t now_ms) {
  BATON_ASSIGN_OR_RETURN(std::optional<LeaseRecord> lease, ReadLease(store, ""));
  if (!lease) return std::string("no lease");
  if (lease->released) return "released by " + lease->holder;
  std::string who = HolderInstance(lease->holder);
  int64_t last_ms = std::max(lease->acquired_unix_ms, lease->renewed_unix_ms);
  if (ValidateInstanceId(who).ok()) {
    Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, who);
    if (!hb.ok() && hb.status().code() != StatusCode::kCorruption) return hb.status();
    // A torn document (a write in progress on a store without atomic puts) says nothing yet.
    if (hb.ok() && *hb) {
      if (IsFinalAgentState((*hb)->state)) return who + " " + AgentStateName((*hb)->state);
      last_ms = std::max(last_ms, (*hb)->updated_unix_ms);
    }
  }
  if (now_ms - last_ms > stale_s * 1000) {
    return fmt::format("{} silent for {:.0f} s", who, (now_ms - last_ms) / 1000.0);
  }
  return std::string();
}

}  // namespace

Status WaitForHandoff(Store* store, HeartbeatWriter& heartbeat, const HandoffOptions& options,
                      bool* stopped) {
  Env* env = options.env;
  auto now_ms = [env] { return static_cast<int64_t>(env->NowMicros() / 1000); };
  auto print = [&](const std::string& s) {
    if (options.print) options.print(s);
  };
  heartbeat.Change([](Heartbeat& h) { h.state = AgentState::kStandby; });
  heartbeat.WriteNow();
  print("baton agent: hand-off: loaded; waiting for the current holder to checkpoint and let go");
  int64_t t0 = now_ms();
  std::string why;
  bool warned = false;
  while (why.empty()) {
    if (options.stop_requested && options.stop_requested()) {
      *stopped = true;
      return FailedPrecondition("stopped while waiting for the hand-off");
    }
    Result<bool> complete = IsComplete(store);
    if (complete.ok() && *complete) return Status::Ok();
    Result<std::string> let_go =
        complete.ok() ? LetGo(store, options.stale_seconds, now_ms()) : complete.status();
    if (let_go.ok()) {
      why = *let_go;
    } else if (let_go.status().code() == StatusCode::kUnavailable ||
               let_go.status().code() == StatusCode::kIoError) {
      // The store's own retries gave up for now; the wait may be long, so it goes on.
      if (!warned) print("baton agent: hand-off: warning: " + let_go.status().ToString());
      warned = true;
    } else {
      return let_go.status();
    }
    if (why.empty()) env->SleepMicros(static_cast<uint64_t>(options.poll_seconds * 1e6));
  }
  print(fmt::format("baton agent: hand-off: taking over after {:.1f} s ({})",
                    (now_ms() - t0) / 1000.0, why));
  heartbeat.Change([](Heartbeat& h) { h.state = AgentState::kLoading; });
  return Status::Ok();
}

}  // namespace baton
