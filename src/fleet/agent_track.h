// What a fleet provider knows of one instance's agent from its heartbeats (run/layout.h), shared
// by the providers whose instances run `baton agent`: `local` and the cloud ones. Each poll feeds
// the newest heartbeat; the track moves the instance to standby / running as the agent says, and
// the run's progress (steps done, the newest checkpoint, steps per second) is summed over tracks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fleet/provider.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton::fleet {

struct AgentTrack {
  std::optional<AgentState> state;  // from the agent's last heartbeat
  std::optional<Heartbeat> last;    // that heartbeat
  double rate_t0 = -1, rate_step0 = 0, rate_t1 = -1, rate_step1 = 0;
  int64_t max_steps = 0;
  int64_t checkpoint_step = 0;

  // Reads the instance's heartbeat from the run's store and applies it to `info` at `now`
  // (provider time). None yet, or a torn document (a write in progress on a store without atomic
  // puts), changes nothing: the next poll reads it again. Returns whether the instance entered
  // kRunning with this heartbeat. An instance that is stopping or ended keeps its state.
  bool Poll(Store* store, double now, Instance* info, bool* changed);
  // Whether the last heartbeat is final (the agent exits or has exited).
  bool Final() const { return state && IsFinalAgentState(*state); }
};

// The run's progress as the tracks saw it, with `complete` / `scale_to_zero_requested` filled in
// by the caller.
RunProgress ProgressOf(const std::vector<const AgentTrack*>& tracks,
                       const std::vector<const Instance*>& infos);

// COMPLETE and the scale-to-zero request of the run, as the last successful read saw them: a store
// error keeps what was seen (never "not complete" by mistake) and warns once.
class RunEndWatch {
 public:
  // Sets progress->complete and progress->scale_to_zero_requested.
  void Read(Store* store, const std::function<void(const std::string&)>& warn,
            RunProgress* progress);

 private:
  bool warned_ = false, complete_ = false, scale_to_zero_ = false;
};

}  // namespace baton::fleet
