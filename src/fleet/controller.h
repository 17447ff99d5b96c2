// The fleet controller: keeps the run on the offer its policy chooses, through a provider.
//
// Each step it reads the provider's instances, the market's capacity and the run's progress, asks
// the policy for an offer and reconciles: launch when nothing runs; switch make-before-break (the
// new instance is launched with hand-off, and the old one is stopped only once the new one is
// loaded and waiting, so the new one takes the lease after the old one checkpointed); relaunch
// after a preemption; stop everything and set the desired capacity to 0 when the run completes.
// Every instance-second is billed into the ledger. Its state lives in the provider (instances)
// and the run's store (progress), so a restarted controller carries on where the old one was.
#pragma once

#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "fleet/market.h"
#include "fleet/policy.h"
#include "fleet/provider.h"
#include "fleet/report.h"
#include "fleet/spec.h"

namespace baton::fleet {

struct ControllerOptions {
  double tick_seconds = 60;  // longest simulated time between two steps
  double max_seconds = std::numeric_limits<double>::infinity();  // give up (DeadlineExceeded)
  // One line per decision and event ("t=01:30 spot-first: spot back in cn-hangzhou-h ...").
  std::function<void(const std::string&)> print;
  // Called after every step (live progress on the terminal).
  std::function<void(const FleetReport&)> progress;
  // Polled every step; true makes Run() return FailedPrecondition("stopped") at once, leaving
  // the instances as they are (the caller shuts them down or a restarted controller adopts them).
  std::function<bool()> should_stop;
  // An agent that fails (EndReason::kFailed) is relaunched after failure_backoff_seconds,
  // doubling with each failure in a row; after max_failures in a row Step() gives up with an
  // error. An instance that trained and then ended otherwise resets the count.
  int max_failures = 5;
  double failure_backoff_seconds = 60;
};

class Controller {
 public:
  Controller(const FleetSpec& spec, Provider* provider, ControllerOptions options);
  // One reconcile step at provider->Now().
  Status Step();
  // Steps and advances time until the run completed and nothing is left running. Past
  // options.max_seconds it gives up with FailedPrecondition (base/status.h has no
  // DeadlineExceeded code).
  Result<FleetReport> Run();
  // The report of the run so far (costs up to Now()).
  FleetReport Report();

  // What a move between instances costs, for the deadline policy: boot + load + checkpoint.
  static double SwitchDelay(const FleetSpec& spec);

 private:
  struct View;  // one step's reading of the provider
  Status Reconcile(const View& v);
  Status LaunchChosen(const View& v, PolicyInput in, bool handoff, int stay);
  void NoteChanges(const View& v);
  void Print(double now, const std::string& message);
  void PrintOnce(double now, const std::string& message);

  FleetSpec spec_;
  Provider* provider_;
  ControllerOptions options_;
  std::unique_ptr<Policy> policy_;
  // For printing only: decisions use nothing but the provider's state, so a restarted
  // controller decides as the old one would have.
  std::map<std::string, std::string> seen_;  // instance id -> state it was last seen in
  std::vector<int> seen_capacity_;           // per offer: -1 not seen yet, else 0/1
  std::string last_once_;                    // the last PrintOnce message
  bool finished_ = false;                    // the last step found the run over
};

}  // namespace baton::fleet
