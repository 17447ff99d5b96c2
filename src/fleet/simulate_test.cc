#include "fleet/simulate.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "base/env.h"

namespace baton::fleet {
namespace {

constexpr double kH = 3600;

std::map<std::string, SimResult> RunBuiltin(size_t index) {
  Result<std::vector<SimScenario>> all = BuiltinScenarios({});
  EXPECT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 4u);
  Result<std::vector<SimResult>> results = RunScenario(all->at(index), {});
  EXPECT_TRUE(results.ok()) << results.status().ToString();
  std::map<std::string, SimResult> by_label;
  for (SimResult& r : *results) by_label[r.label] = std::move(r);
  return by_label;
}

// The recipe's own arithmetic: 12 h of spot is 42; 8 cycles of 1 h spot (3.50) + 0.5 h
// on-demand (5.00) is 68; 12 h on-demand is 120.
TEST(SimScenario, RecipeAssumptionsGiveTheRecipeNumbers) {
  auto r = RunBuiltin(0);
  ASSERT_EQ(r.size(), 3u);
  const SimResult& spot = r["all-spot (spot-only)"];
  const SimResult& hybrid = r["hybrid (spot-first)"];
  const SimResult& od = r["all on-demand (on-demand)"];
  EXPECT_EQ(FormatMoney(spot.cost), "42.00");
  EXPECT_EQ(FormatMoney(hybrid.cost), "68.00");
  EXPECT_EQ(FormatMoney(od.cost), "120.00");
  EXPECT_NEAR(spot.cost, 42, 1e-9);
  EXPECT_NEAR(hybrid.cost, 68, 1e-9);
  EXPECT_NEAR(od.cost, 120, 1e-9);
  EXPECT_EQ(spot.makespan_seconds, 17.5 * kH);  // 12 h on spot + 11 waits of 0.5 h
  EXPECT_EQ(hybrid.makespan_seconds, 12 * kH);
  EXPECT_EQ(spot.interruptions, 11);
  EXPECT_EQ(hybrid.interruptions, 8);
  EXPECT_EQ(hybrid.runs[0].on_demand_cost, 8 * 5.0);
  for (const SimResult* s : {&spot, &hybrid, &od}) {
    EXPECT_EQ(s->work_redone, 0);
    EXPECT_EQ(s->overhead_seconds, 0);
    EXPECT_EQ(s->incomplete, 0);
  }
}

TEST(SimScenario, OverheadsCostMoreButStaySensible) {
  auto r = RunBuiltin(1);
  ASSERT_EQ(r.size(), 4u);
  const SimResult& spot = r["all-spot (spot-only)"];
  const SimResult& hybrid = r["hybrid (spot-first)"];
  const SimResult& ossfs = r["hybrid, notices ignored (ossfs recipe)"];
  const SimResult& od = r["all on-demand (on-demand)"];
  // Strictly between the pure numbers and all on-demand.
  EXPECT_GT(spot.cost, 42);
  EXPECT_LT(spot.cost, 120);
  EXPECT_GT(hybrid.cost, 68);
  EXPECT_LT(hybrid.cost, 120);
  // On-demand pays exactly one boot and load (5 min at 10/h) on top of the 120.
  EXPECT_NEAR(od.cost, 120 + 10.0 * 5 / 60, 1e-9);
  EXPECT_NEAR(od.saving_fraction, 0, 1e-12);
  // With notices handled nothing is redone; ignoring them loses work at every interruption
  // and costs more than handling them.
  EXPECT_EQ(hybrid.work_redone, 0);
  EXPECT_EQ(spot.work_redone, 0);
  EXPECT_GT(ossfs.work_redone, 0);
  EXPECT_GT(ossfs.cost, hybrid.cost);
  EXPECT_GT(ossfs.makespan_seconds, hybrid.makespan_seconds);
  EXPECT_EQ(ossfs.runs[0].interruptions_without_notice, ossfs.runs[0].interruptions);
  for (const SimResult* s : {&spot, &hybrid, &ossfs}) {
    EXPECT_GT(s->overhead_seconds, 0);
    EXPECT_LT(s->cost, od.cost);
    EXPECT_TRUE(s->runs[0].complete);
  }
}

TEST(SimScenario, DeadlineMeetsItsDeadlineOnTracesWhereSpotOnlyMisses) {
  auto r = RunBuiltin(2);
  ASSERT_EQ(r.size(), 5u);  // with adaptive, untuned: (c) has no sim_tune_start_hours
  const SimResult& spot = r["all-spot (spot-only)"];
  const SimResult& deadline = r["Uniform Progress (deadline)"];
  const SimResult& hybrid = r["hybrid (spot-first)"];
  const SimResult& od = r["all on-demand (on-demand)"];
  ASSERT_EQ(deadline.runs.size(), 10u);
  EXPECT_GT(spot.deadline_missed, 0);
  EXPECT_EQ(deadline.deadline_missed, 0);
  EXPECT_EQ(deadline.incomplete, 0);
  for (size_t i = 0; i < deadline.runs.size(); ++i) {
    EXPECT_LE(deadline.runs[i].completed_at, 36 * kH) << deadline.runs[i].scenario;
  }
  // Cheaper than spot-first and on-demand, dearer than waiting for spot.
  EXPECT_LT(deadline.cost, hybrid.cost);
  EXPECT_LT(hybrid.cost, od.cost);
  EXPECT_LT(spot.cost, deadline.cost);
}

TEST(SimScenario, RunsAreDeterministic) {
  Result<std::vector<SimScenario>> all = BuiltinScenarios({PolicyKind::kDeadline});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);  // only (c) and (d) have a deadline
  Result<std::vector<SimResult>> a = RunScenario(all->at(0), {});
  Result<std::vector<SimResult>> b = RunScenario(all->at(0), {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ReportCsv(a->at(0).runs), ReportCsv(b->at(0).runs));
}

TEST(SimScenario, JobFilesNeedOnlyTheFleetSection) {
  Result<std::string> text =
      Env::Default()->ReadFile(std::string(BATON_SOURCE_DIR) + "/examples/sim-recipe.yaml");
  ASSERT_TRUE(text.ok());
  Result<SimScenario> s = ScenarioFromJob(*text, "examples/sim-recipe.yaml", {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->rows.size(), 3u);  // no deadline: deadline is left out
  EXPECT_EQ(s->rows[0].label, "spot-only");
  Result<SimScenario> d =
      ScenarioFromJob(*text, "examples/sim-recipe.yaml", {PolicyKind::kDeadline});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("examples/sim-recipe.yaml: fleet.policy: deadline needs"),
            std::string::npos);
  Result<SimScenario> none = ScenarioFromJob(
      "name: x\nfleet:\n  offers: [{instance_type: t, "
      "zone: z, spot: 1, on_demand: 2}]\n",
      "x.yaml", {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("x.yaml:3:3: fleet.work_hours: `baton sim` needs"),
            std::string::npos)
      << none.status().message();
}

TEST(SimScenario, StepKeyedMarketsAreAnErrorAtTheKey) {
  // The sim's work is seconds of compute: a market keyed to training steps cannot play there.
  Result<SimScenario> s = ScenarioFromJob(
      "name: x\nfleet:\n  work_hours: 2\n  offers: [{instance_type: t, zone: z, spot: 1, "
      "on_demand: 2}]\n  market:\n    kind: scripted\n    events:\n"
      "      - {at_step: 5, zone: z, event: reclaim}\n",
      "x.yaml", {PolicyKind::kSpotFirst});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Result<std::vector<SimResult>> r = RunScenario(*s, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(
                "x.yaml:8:19: fleet.market.events[0].at_step: the sim provider counts work in "
                "seconds"),
            std::string::npos)
      << r.status().message();
}

// The optimum is a lower bound: no run of any policy that met the deadline (or, without one,
// finished no later than the slowest row) costs less than the optimum of its start.
TEST(SimOptimum, NoPolicyRunCostsLessThanTheOptimum) {
  Result<std::vector<SimScenario>> all = BuiltinScenarios({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 4u);
  int compared = 0;
  for (const SimScenario& s : *all) {
    Result<std::vector<SimResult>> results = RunScenario(s, {});
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    Result<SimOptimum> opt = ScenarioOptimum(s, *results);
    ASSERT_TRUE(opt.ok()) << opt.status().ToString();
    ASSERT_EQ(opt->unavailable, "") << s.source;
    for (const SimResult& r : *results) {
      ASSERT_EQ(r.runs.size(), opt->cost.size());
      for (size_t k = 0; k < r.runs.size(); ++k) {
        const FleetReport& run = r.runs[k];
        const double deadline = s.rows.front().spec.deadline_seconds;
        if (!run.complete || (deadline > 0 && run.completed_at > deadline)) continue;
        EXPECT_GE(run.cost, opt->cost[k] - 1e-9) << run.scenario;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 80);
}

// (a) has no overheads and no deadline: the optimum by the slowest row's 17.5 h is 12 h of spot.
TEST(SimOptimum, RecipeOptimumIsAllSpot) {
  Result<std::vector<SimScenario>> all = BuiltinScenarios({});
  ASSERT_TRUE(all.ok());
  Result<std::vector<SimResult>> results = RunScenario(all->at(0), {});
  ASSERT_TRUE(results.ok());
  Result<SimOptimum> opt = ScenarioOptimum(all->at(0), *results);
  ASSERT_TRUE(opt.ok());
  EXPECT_NEAR(opt->mean, 42, 1e-9);
}

// Policy adaptive is tuned on sim_tune_start_hours only: the starts it is reported on do not
// change what it picks.
TEST(SimOptimum, AdaptiveIsTunedOnItsTuningStartsOnly) {
  Result<std::vector<SimScenario>> all = BuiltinScenarios({PolicyKind::kAdaptive});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  SimScenario s = all->at(1);
  ASSERT_EQ(s.source, "examples/sim-traces-9zones.yaml");
  SimRow row = s.rows.at(0);
  row.spec.sim_tune_start_seconds.resize(1);  // keep the test short
  Result<AdaptiveParams> a = TuneAdaptive(row, s);
  row.spec.sim_start_seconds = {0, 3600};
  Result<AdaptiveParams> b = TuneAdaptive(row, s);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->wait_slack, b->wait_slack);
  EXPECT_EQ(a->return_slack, b->return_slack);
  // The split is real: no tuning window overlaps a reported one.
  for (double t : s.rows[0].spec.sim_tune_start_seconds) {
    for (double r : s.rows[0].spec.sim_start_seconds) {
      EXPECT_TRUE(t + 36 * kH <= r || r + 36 * kH <= t) << t / kH << " h and " << r / kH << " h";
    }
  }
}

std::string RunBaton(const std::string& args, int* code) {
  std::string out;
  FILE* f = popen((std::string(BATON_BINARY) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int status = pclose(f);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(SimScenario, CommandPrintsTheRecipeTable) {
  int code = 0;
  std::string out = RunBaton("sim --policy spot-only,spot-first,on-demand", &code);
  ASSERT_EQ(code, 0) << out;
  for (const char* want : {"all-spot (spot-only)        42.00     17:30",
                           "hybrid (spot-first)         68.00     12:00",
                           "all on-demand (on-demand)  120.00     12:00",
                           "hindsight optimum           42.00", "x optimum", "1.619", "2.857"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }
  std::string csv = RunBaton(
      std::string("sim ") + BATON_SOURCE_DIR + "/examples/sim-recipe.yaml --format csv", &code);
  ASSERT_EQ(code, 0) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;  // header + 3 policies
  std::string bad = RunBaton("sim --policy cheapest", &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("--policy: unknown policy 'cheapest'"), std::string::npos) << bad;
}

}  // namespace
}  // namespace baton::fleet
