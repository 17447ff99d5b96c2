// The hindsight optimum: the cheapest schedule that finishes the job by the deadline, knowing the
// whole market in advance. `baton sim` prints it as a row and each policy's cost as a ratio of it.
//
// The model is a relaxation of the sim provider's (sim_provider.h), so its optimum is a lower
// bound on the cost of every run of every policy that meets the same deadline:
//   A schedule is a sequence of disjoint training segments, each on one instance (one spot offer,
//   or on-demand). Work grows 1 per second of training, and the job is done when the segments'
//   total reaches the work. A segment that starts training at s was launched at s - B (B = boot
//   + load) and costs its price for B plus its length; its boot may overlap the previous
//   segment's training (make-before-break). A spot segment needs its zone's capacity from its
//   launch to its end (a loss ends it, as a notice stops the holder's training in the sim) and
//   ends at a reclaim of its offer. A segment that ends before the job is done also pays for its
//   last save: on-demand `checkpoint` (a stop), spot min(checkpoint, notice) (a stop or a notice;
//   0 when a loss may come without notice). Billing is per second, as the sim's ledger.
//   What the sim charges beyond this is left out, which only lowers the bound: the stand-by of
//   the next instance while the holder saves, the training time a switch loses, work redone
//   after a kill, instances that never train, the wait for a policy's next step.
// Exactness: time is cut into steps of one length that divides every duration of the problem
// (B, the work, the deadline and every market event's time, in whole seconds); the dynamic
// program over (step, idle steps so far, offer training now or none) is exact on that grid, and
// OptimumTest checks it against brute force on small problems, and on a grid twice as fine.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "base/status.h"
#include "fleet/market.h"
#include "fleet/spec.h"

namespace baton::fleet {

// The problem on its grid, in steps of `step` seconds.
struct OptimumProblem {
  double step = 1;  // seconds per step
  int steps = 0;    // the deadline, in steps
  int work = 0;     // steps of training the job needs
  int boot = 0;     // steps from a launch to training (boot + load)
  // Per spot offer, per step: capacity during the whole step; and whether a reclaim of the offer
  // comes at the start of the step (the running instance is taken: its segment ends there).
  std::vector<std::vector<bool>> up;
  std::vector<std::vector<bool>> reclaim;
  std::vector<double> spot_price;  // per hour, per spot offer
  double on_demand_price = 0;      // per hour, the cheapest on-demand offer (0: none offered)
  double spot_end_seconds = 0;     // billed when a spot segment ends before the job is done
  double on_demand_end_seconds = 0;
};

constexpr double kNoSchedule = std::numeric_limits<double>::infinity();

// The optimum's cost, or kNoSchedule when no schedule meets the deadline.
double SolveOptimum(const OptimumProblem& p);

struct HindsightOptimum {
  double cost = kNoSchedule;
  double step = 0;  // the grid it was computed on (seconds)
};

// The optimum of a run of `spec` on `market` (a market fresh from MakeMarket, t=0 the run's
// start) that completes by `deadline` seconds. Errors say why it cannot be computed: a market
// event or a duration off every whole-second grid, or a grid so fine that the program would be
// too large (`max_cells`: steps x idle steps x modes).
Result<HindsightOptimum> ComputeOptimum(const FleetSpec& spec, const Market& market,
                                        double deadline, double max_cells = 6e9);

}  // namespace baton::fleet
