// Fleet policies: given the market and the run's progress, which offer the run should be on now.
//
//   spot-first  the cheapest spot offer with capacity; else the cheapest on-demand one; back to
//               spot as soon as it has capacity again (the controller switches make-before-break)
//   spot-only   the cheapest spot offer with capacity; else nothing (wait for spot)
//   on-demand   the cheapest on-demand offer
//   deadline    Uniform Progress ("Can't Be Late", NSDI '24): spot whenever it has capacity; when
//               it has none, on-demand if progress is behind the straight line from (start, 0)
//               to (deadline, total), else wait; once on on-demand, back to spot only when ahead
//               of that line by twice the switch delay; on-demand regardless when the deadline
//               leaves no more slack than the switch delay.
//   adaptive    Baton's own, for several zones: it remembers when each spot offer's capacity came
//               and went during the run, and launches on the spot offer with capacity that has
//               been up the longest without a break (on traces, capacity periods are
//               heavy-tailed: the longer one has lasted, the longer it is likely to last), ties
//               to the longest mean period seen, then the cheapest. It stays on a spot offer
//               while it has capacity. With no spot capacity anywhere it waits while the slack
//               (deadline - now - work left) is above AdaptiveParams::wait_slack, else runs on
//               on-demand, and leaves on-demand for spot only with return_slack or more; the
//               same safety net as deadline. Its memory is the controller's process: a
//               restarted controller starts it afresh.
#pragma once

#include <memory>
#include <vector>

#include "fleet/spec.h"

namespace baton::fleet {

struct PolicyInput {
  double now = 0;              // seconds since the run began
  std::vector<bool> capacity;  // per offer (FleetSpec::offers)
  int current_offer = -1;      // offer of the instance holding the run (-1: none)
  double done = 0;             // work done (RunProgress units)
  double total = 0;            // work needed (0: unknown)
  double rate = 0;             // work units per second on one instance (0: unknown)
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The offer the run should be on now, or -1 for none (wait).
  virtual int Choose(const PolicyInput& in) = 0;
};

// `switch_delay` (seconds): what a move between instances costs (boot + load + checkpoint).
std::unique_ptr<Policy> MakePolicy(const FleetSpec& spec, double switch_delay);

}  // namespace baton::fleet
