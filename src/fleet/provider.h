// Where instances come from. The controller (controller.h) drives every provider through this
// interface: `local` (each instance a `baton agent` process on this machine, local_provider.h) and
// `sim` (discrete events, no processes, sim_provider.h); the cloud ones, `aliyun` and `aws`,
// over cloud_provider.h.
//
// Time is in seconds since the run began, simulated time: the sim provider jumps from event to
// event, the local provider scales the wall clock by the spec's time_scale.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "base/status.h"
#include "fleet/spec.h"

namespace baton::fleet {

enum class InstanceState {
  kBooting,   // launched; the machine is coming up
  kLoading,   // the agent runs: fetching the model, loading, resuming
  kStandby,   // launched for a hand-off: loaded, waiting for the current holder to let go
  kRunning,   // training (holds the run's lease)
  kStopping,  // asked to stop, or given a preemption notice: checkpointing
  kEnded,
};
const char* InstanceStateName(InstanceState state);

enum class EndReason {
  kNone,
  kCompleted,  // the run finished on it
  kStopped,    // the controller stopped it (hand-off, scale to zero), after a checkpoint
  kPreempted,  // reclaimed by the market after a notice
  kKilled,     // reclaimed without notice (or the notice window ran out)
  kFailed,     // the agent exited with an error
};
const char* EndReasonName(EndReason reason);

struct Instance {
  std::string id;
  int offer = -1;  // index into FleetSpec::offers
  InstanceState state = InstanceState::kBooting;
  EndReason end_reason = EndReason::kNone;
  bool handoff = false;    // launched to take over from a running instance (make-before-break)
  double launched_at = 0;  // billing starts
  double running_at = -1;  // began training (-1: never)
  double ended_at = -1;    // billing ends (-1: still alive)
  double start_work = -1;  // progress it resumed from (-1: unknown yet)
  double last_work = -1;   // progress it last reported
  std::string detail;      // e.g. the failure message, or "notice 120 s, checkpoint in 3.1 s"
  // What the provider knows the instance cost (a cloud's spot price history); < 0: the report
  // bills its time at the offer's price.
  double billed_cost = -1;
};

// Progress of the run as the store shows it, in work units: steps for the local provider,
// seconds of compute for the sim provider.
struct RunProgress {
  double done = 0;        // newest step (or work second) any instance reached
  double total = 0;       // what the run needs (max_steps); 0 while unknown
  double checkpoint = 0;  // newest valid checkpoint
  double rate = 0;        // work units per second of one running instance (0: unknown yet)
  bool complete = false;  // COMPLETE exists
  bool scale_to_zero_requested = false;  // an agent asked for it (job hooks.scale_to_zero)
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // Seconds since the run began.
  virtual double Now() = 0;
  // Whether `offer` has capacity now (on-demand offers: always).
  virtual bool HasCapacity(int offer) = 0;
  // Starts an instance on `offer` and returns its id; Unavailable when the offer has no capacity.
  // handoff: the instance boots and loads, then waits in kStandby until the run's current holder
  // has checkpointed and let go of the lease, and only then takes it (make-before-break).
  virtual Result<std::string> Launch(int offer, bool handoff) = 0;
  // Asks an instance to checkpoint and exit (as a notice or SIGTERM does). Ended ones: no-op.
  virtual Status Stop(const std::string& id) = 0;
  // Every instance this run has had, ended ones included, in launch order. A new provider on the
  // same run (a restarted controller) finds the instances of the old one.
  virtual std::vector<Instance> Instances() = 0;
  virtual RunProgress Progress() = 0;
  // The group's desired capacity; 0 ends every instance (stopping running ones gracefully).
  virtual Status SetDesiredCapacity(int n) = 0;
  // Lets time pass until `until`, or less when something happens first (an instance changes
  // state, the market changes, progress is reported). Returns Now().
  virtual double Advance(double until) = 0;
};

}  // namespace baton::fleet
