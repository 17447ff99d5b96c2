// Speed of the fleet simulator: simulated hours per wall-clock second for each policy on the
// public spot traces (the built-in scenario (c) of `baton sim`: a 24 h job, 4 zones, 10 start
// points), with the controller stepping at least every simulated minute.
//
//   build/sim_bench [--repeat 5]
// Each policy's 10 runs are repeated `repeat` times; the figure is the total simulated time
// (start to completion of every run) over the wall time of all of them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fleet/simulate.h"

using namespace baton;
using namespace baton::fleet;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int repeat = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  Result<std::vector<SimScenario>> scenarios = BuiltinScenarios({});
  if (!scenarios.ok()) {
    std::fprintf(stderr, "sim_bench: %s\n", scenarios.status().ToString().c_str());
    return 1;
  }
  const SimScenario& traces = scenarios->back();
  std::printf("%s\n%s\n", traces.title.c_str(), DescribeSpec(traces.rows[0].spec).c_str());
  std::printf("%-30s %8s %14s %10s %18s\n", "policy", "runs", "simulated h", "wall s",
              "simulated h / s");
  for (const SimRow& row : traces.rows) {
    SimScenario one = traces;
    one.rows = {row};
    double simulated = 0;
    int runs = 0;
    auto t0 = Clock::now();
    for (int k = 0; k < repeat; ++k) {
      Result<std::vector<SimResult>> r = RunScenario(one, {});
      if (!r.ok()) {
        std::fprintf(stderr, "sim_bench: %s\n", r.status().ToString().c_str());
        return 1;
      }
      for (const FleetReport& report : r->at(0).runs) {
        simulated += (report.complete ? report.completed_at : report.makespan_seconds) / 3600;
        ++runs;
      }
    }
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("%-30s %8d %14.0f %10.3f %18.0f\n", row.label.c_str(), runs, simulated, wall,
                simulated / wall);
  }
  return 0;
}
