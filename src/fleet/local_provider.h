// The local provider: the whole fleet on this machine. Each instance is a `baton agent` process
// with a fresh work folder (its own model cache and log) and its own fake metadata server, which
// the provider uses to deliver the market's preemption notices; when a notice window runs out
// the process is SIGKILLed, and a reclaim without notice is a SIGKILL at once. The market (a
// script, a seeded random process or a trace) is played back on the wall clock, compressed by
// the spec's time_scale, and on the run's progress: every poll reports the newest step the
// heartbeats showed to the market before applying its events, so events keyed to steps
// (market.h) happen at those steps however fast this machine trains. Boot times are waited out
// in simulated time, the rest (loading, checkpointing, training) is real.
//
// It also writes the run's fleet/ledger.json (run/layout.h, provider "local") whenever its
// instances change, so that the bucket alone shows the local fleet as it shows a cloud's.
//
// Its state (the instances, their pids and metadata ports, when the run began, the progress
// reports that moved the market) is kept in <work_dir>/local-fleet.json, so a restarted
// controller finds the instances of the old one, still running, bills them from when they were
// launched, and sees the market as the old one left it. It is the local fleet's ledger: every
// action on an instance (a notice, a stop, a kill, a fork) is saved before it is done, and a
// restarted controller does again those that the instance shows no sign of (a notice is put on
// the restarted metadata server again), so no restart turns a notice into a kill. Each instance
// is billed from its launch to its real end: its agent's final heartbeat or the provider's
// SIGKILL, also when it ended while no controller watched.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "fleet/agent_track.h"
#include "fleet/market.h"
#include "fleet/provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
class FakeMetadataServer;
}

namespace baton::fleet {

struct LocalProviderOptions {
  std::string baton_binary;       // the `baton` executable the agents run
  std::string job_path;           // the job spec the agents get (`baton agent --job`)
  std::string store_url;          // the run's store (heartbeats, COMPLETE)
  std::string work_dir;           // instances/<id>/ go here, and local-fleet.json
  std::string cloud = "alibaba";  // whose notices the fake metadata servers give
  double heartbeat_seconds = 1;
  std::function<void(const std::string&)> print;
  // For the run's fleet/ledger.json (run/layout.h), which readers of the bucket alone use: the
  // run's name and the job's fleet section as JSON (null: none).
  std::string run;
  Json fleet_spec;
};

class LocalProvider : public Provider {
 public:
  // Opens (or, after a controller restart, re-opens) the local fleet under options.work_dir.
  static Result<std::unique_ptr<LocalProvider>> Open(const FleetSpec& spec,
                                                     std::unique_ptr<Market> market,
                                                     LocalProviderOptions options);
  ~LocalProvider() override;

  std::string name() const override { return "local"; }
  double Now() override;
  bool HasCapacity(int offer) override;
  Result<std::string> Launch(int offer, bool handoff) override;
  Status Stop(const std::string& id) override;
  std::vector<Instance> Instances() override;
  RunProgress Progress() override;
  Status SetDesiredCapacity(int n) override;
  double Advance(double until) override;

  // Ends every instance now: SIGTERM (they checkpoint), then SIGKILL after `grace_s` real seconds.
  void Shutdown(double grace_s);
  // The agent log of an instance (its work folder's agent.log).
  std::string LogPath(const std::string& id) const;

 private:
  struct Proc;
  LocalProvider(FleetSpec spec, std::unique_ptr<Market> market, LocalProviderOptions options,
                std::unique_ptr<Store> store);
  Status Load();
  void Save();
  void SaveLedger();
  bool Poll();  // true when anything changed
  void ApplyMarket(double now, bool* changed);
  void Preempt(Proc& p, bool notice, double now, const std::string& why);
  // Sends SIGKILL, saved first (with when) so that a restarted controller bills it to then.
  void Kill(Proc& p, double now, const std::string& detail);
  // Puts the preemption notice on the instance's metadata server (SIGTERM without one).
  void DeliverNotice(Proc& p);
  // After a restart: does again what the last controller saved as done (a notice, a stop, a
  // kill), since it may have died before doing it.
  void Redo(Proc& p);
  void AdoptSpawned(Proc& p);
  Status Spawn(Proc& p);
  void Reap(Proc& p, int wait_status, double now);
  // Ends it, billed to EndTime.
  void End(Proc& p, EndReason reason, double now, const std::string& detail);
  // When it really ended, `now` at the latest: the agent's final heartbeat or the provider's
  // SIGKILL; for one that ended while no controller watched, its last heartbeat.
  double EndTime(const Proc& p, double now) const;
  double TimeOfUnixMs(int64_t unix_ms) const;
  void PollHeartbeat(Proc& p, double now, bool* changed);
  RunProgress TrackedProgress() const;  // from the heartbeats only
  void Print(const std::string& line) const;

  FleetSpec spec_;
  std::unique_ptr<Market> market_;
  LocalProviderOptions options_;
  std::unique_ptr<Store> store_;
  RunEndWatch end_watch_;  // COMPLETE and the scale-to-zero request
  int64_t start_unix_ms_ = 0;
  double market_t_ = 0;  // market events up to here are applied
  // (time, progress) of each ReportProgress that changed the market, replayed after a restart.
  std::vector<std::pair<double, double>> progress_reports_;
  std::vector<std::unique_ptr<Proc>> procs_;
  FleetLedger ledger_;        // the copy in the run's store
  bool ledger_read_ = false;  // the old controller's ledger was looked for
  std::string ledger_text_;   // what was last written
};

}  // namespace baton::fleet
