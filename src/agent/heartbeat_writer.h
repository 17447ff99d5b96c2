// The agent's heartbeat: agents/<instance>.json in the run's store (run/layout.h), rewritten every
// `period` seconds by a background thread and at once on a state change others wait for (the
// make-before-break hand-off watches it). A heartbeat that cannot be written only warns: it is
// not worth stopping training for.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "base/env.h"
#include "base/periodic_thread.h"
#include "run/layout.h"
#include "store/store.h"
#include "train/trainer.h"

namespace baton {

class HeartbeatWriter {
 public:
  // Starts writing `initial` (its updated_unix_ms is set on every write, from env's clock), every
  // `period_s` on a base/periodic_thread.h thread, so Finish never waits a period out.
  HeartbeatWriter(Store* store, Heartbeat initial, double period_s, Env* env);
  ~HeartbeatWriter() { Finish(std::nullopt); }

  // Training progress from the trainer's hook.
  void Update(const TrainProgress& p);
  // Changes the document under the lock (state, resumed step, timings).
  void Change(const std::function<void(Heartbeat&)>& change);
  // Writes the heartbeat at once.
  void WriteNow() { Write(); }
  // Stops the thread and writes the last heartbeat, in `state` if given; later calls do nothing.
  void Finish(std::optional<AgentState> state);

 private:
  void Write();

  Store* store_;
  Env* env_;
  std::mutex mu_;        // guards doc_ and done_
  std::mutex write_mu_;  // one write at a time, so a stale document never lands after a newer one
  Heartbeat doc_;
  bool done_ = false;
  bool warned_ = false;
  std::unique_ptr<PeriodicThread> ticker_;  // last: it starts writing once the rest is set
};

}  // namespace baton
