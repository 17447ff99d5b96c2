// Fleet specs run on the sim provider: the engine behind `baton sim`, its tests and its
// benchmark. A scenario is a job's fleet section with one row per policy (or variant); each row
// runs once per start point of the spec (FleetSpec::sim_start_seconds) and is summarised by
// its means.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "fleet/market.h"
#include "fleet/report.h"
#include "fleet/spec.h"

namespace baton::fleet {

struct SimRow {
  std::string label;  // "hybrid (spot-first)"
  FleetSpec spec;     // with the row's policy (and variant) set
};

struct SimScenario {
  std::string title;
  std::string source;    // the job spec, named in errors and in the reports
  std::string base_dir;  // resolves the market's trace paths
  MarketOptions market;  // read_file: the compiled-in copies for the built-in scenarios
  std::vector<SimRow> rows;
};

struct SimOptions {
  std::function<void(const std::string&)> print;  // the controller's lines (--verbose)
  double tick_seconds = 60;                       // ControllerOptions::tick_seconds
};

struct SimResult {  // one row: its runs and their means
  std::string label;
  PolicyKind policy = PolicyKind::kSpotFirst;
  std::vector<FleetReport> runs;
  double cost = 0, makespan_seconds = 0, completed_at = 0, interruptions = 0, work_redone = 0,
         overhead_seconds = 0, baseline_cost = 0, saving_fraction = 0;
  int incomplete = 0;       // runs that gave up before the work was done
  int deadline_missed = 0;  // runs that completed after spec.deadline_seconds (when set)
};

// One run of `spec` (its policy) with the market started `start` seconds into its timeline. A
// run that does not complete within max(30 days, 20 x the work) stops there, not complete.
Result<FleetReport> SimulateOnce(const FleetSpec& spec, const SimScenario& where, double start,
                                 const SimOptions& options);
// Every row of `scenario`, each from every start point.
Result<std::vector<SimResult>> RunScenario(const SimScenario& scenario, const SimOptions& options);

// Policy adaptive's parameters for `row`: the cheapest of a grid of thresholds on the runs from
// row.spec.sim_tune_start_seconds (fewest late or incomplete runs first), or its own when it has
// no tuning starts. RunScenario tunes an adaptive row so before it runs it from sim_start_seconds:
// the tuning never sees the runs it is reported on (unless a start is in both lists).
Result<AdaptiveParams> TuneAdaptive(const SimRow& row, const SimScenario& where);

// The hindsight optimum of each start of a scenario (optimum.h): the same spec, offers,
// overheads and market for every row, so one per start. With a deadline: by it; without: by the
// time the slowest of `results` completed from that start. `unavailable` says why there is none
// (the grid: optimum.h); errors are the market's.
struct SimOptimum {
  std::vector<double> cost;  // per start point (kNoSchedule: none meets the deadline)
  double mean = 0;
  double step = 0;     // seconds: the grid of the last start
  double seconds = 0;  // wall time it took
  std::string unavailable;
};
Result<SimOptimum> ScenarioOptimum(const SimScenario& scenario,
                                   const std::vector<SimResult>& results);

// The scenario of a job spec's fleet section (only `name` and `fleet` are read: a sim job needs
// no model, datasets or store): one row per policy, labelled by its name; with no `policies`,
// every policy that fits the offers (and the deadline). fleet.work_hours is required.
Result<SimScenario> ScenarioFromJob(std::string_view text, const std::string& source,
                                    const std::vector<PolicyKind>& policies);

// `baton sim` with no job: (a) examples/sim-recipe.yaml, the recipe's own assumptions;
// (b) examples/sim-overheads.yaml, the same market with real overheads, plus the recipe's ossfs
// setup (hybrid, notices ignored); (c) examples/sim-traces.yaml, the public traces; (d)
// examples/sim-traces-9zones.yaml, all nine zones of them. All from the copies compiled into the
// binary. `policies` (empty: all) picks the rows.
Result<std::vector<SimScenario>> BuiltinScenarios(const std::vector<PolicyKind>& policies);

// "12 h of work; spot 3.50/h, on-demand 10.00/h; boot 0:03, load 0:02, ..."
std::string DescribeSpec(const FleetSpec& spec);

}  // namespace baton::fleet
