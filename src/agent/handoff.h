// Make-before-break hand-off: an agent launched to take over from a running one loads
// everything, then waits on stand-by until the current holder of the run lease lets go, and only
// then takes the lease. Time goes through the Env, so tests run the wait on simulated time.
#pragma once

#include <functional>
#include <string>

#include "agent/heartbeat_writer.h"
#include "base/env.h"
#include "base/status.h"
#include "store/store.h"

namespace baton {

struct HandoffOptions {
  double stale_seconds = 30;  // a holder silent this long (lease and heartbeat) has let go
  double poll_seconds = 0.2;
  std::function<void(const std::string&)> print;
  std::function<bool()> stop_requested;
  Env* env = Env::Default();
};

// Waits in state "standby" (written at once) until the holder released the lease, wrote a final
// heartbeat (stopped, fenced, failed, complete) or fell silent; then sets the state back to
// "loading" and returns Ok. Ok too when the run completed meanwhile (the caller checks). When a
// stop is requested first it sets *stopped and returns FailedPrecondition. Transient store
// errors (Unavailable, IoError) warn once and the wait goes on; other errors are returned.
Status WaitForHandoff(Store* store, HeartbeatWriter& heartbeat, const HandoffOptions& options,
                      bool* stopped);

// The instance id in a lease holder "<instance>:<pid>:<nonce>".
std::string HolderInstance(const std::string& holder);

}  // namespace baton
