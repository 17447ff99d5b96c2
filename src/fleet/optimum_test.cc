#include "fleet/optimum.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "base/spec_node.h"

namespace baton::fleet {
namespace {

// Every schedule, one mode per step (-1 idle, 0.. spot offers, spots: on-demand), costed from
// its segments: the definition in optimum.h, written out without dynamic programming.
double ScheduleCost(const OptimumProblem& p, const std::vector<int>& mode) {
  const int spots = static_cast<int>(p.spot_price.size());
  auto price = [&](int m) { return m < spots ? p.spot_price[m] : p.on_demand_price; };
  double cost = 0;
  const int n = static_cast<int>(mode.size());
  for (int s = 0; s < n;) {
    if (mode[s] < 0) {
      ++s;
      continue;
    }
    const int m = mode[s];
    int e = s + 1;  // a segment: same offer, no reclaim of it inside
    while (e < n && mode[e] == m && !(m < spots && p.reclaim[m][e])) ++e;
    if (s < p.boot) return kNoSchedule;
    if (m < spots) {
      for (int c = s - p.boot; c < e; ++c) {
        if (!p.up[m][c]) return kNoSchedule;
      }
    }
    cost += price(m) / 3600 * p.step * (p.boot + (e - s));
    if (e < n) {  // not the segment that finished the job
      cost += price(m) / 3600 * (m < spots ? p.spot_end_seconds : p.on_demand_end_seconds);
    }
    s = e;
  }
  return cost;
}

double BruteForce(const OptimumProblem& p) {
  const int spots = static_cast<int>(p.spot_price.size());
  const int last_mode = p.on_demand_price > 0 ? spots : spots - 1;
  double best = kNoSchedule;
  std::vector<int> mode;
  std::function<void(int)> walk = [&](int done) {
    if (done == p.work) {
      best = std::min(best, ScheduleCost(p, mode));
      return;
    }
    const int c = static_cast<int>(mode.size());
    if (p.steps - c < p.work - done) return;  // the deadline cannot be met from here
    for (int m = -1; m <= last_mode; ++m) {
      mode.push_back(m);
      walk(done + (m >= 0 ? 1 : 0));
      mode.pop_back();
    }
  };
  walk(0);
  return best;
}

OptimumProblem RandomProblem(std::mt19937_64& rng, int steps, int spots) {
  std::uniform_real_distribution<double> u(0, 1);
  OptimumProblem p;
  p.step = 60;
  p.steps = steps;
  p.work = 1 + static_cast<int>(u(rng) * steps);
  p.boot = static_cast<int>(u(rng) * 3);
  p.up.assign(spots, std::vector<bool>(steps));
  p.reclaim.assign(spots, std::vector<bool>(steps));
  for (int z = 0; z < spots; ++z) {
    for (int c = 0; c < steps; ++c) {
      p.up[z][c] = u(rng) < 0.7;
      p.reclaim[z][c] = c > 0 && u(rng) < 0.1;
    }
    p.spot_price.push_back(0.5 + u(rng));
  }
  p.on_demand_price = u(rng) < 0.2 ? 0 : 2 + 2 * u(rng);
  p.spot_end_seconds = u(rng) * 60;
  p.on_demand_end_seconds = u(rng) * 60;
  return p;
}

TEST(OptimumTest, EqualsBruteForceOnRandomSmallMarkets) {
  std::mt19937_64 rng(2024);
  int feasible = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int spots = 1 + trial % 3;
    OptimumProblem p = RandomProblem(rng, spots == 3 ? 8 : 10, spots);
    const double dp = SolveOptimum(p), brute = BruteForce(p);
    if (brute == kNoSchedule) {
      EXPECT_EQ(dp, kNoSchedule) << "trial " << trial;
      continue;
    }
    ++feasible;
    EXPECT_NEAR(dp, brute, 1e-9 * brute) << "trial " << trial;
  }
  EXPECT_GT(feasible, 30);  // the comparison was not vacuous
}

// The grid: the optimum on steps of `step` equals the brute-force optimum on steps twice as fine
// (every duration doubled, each step's capacity on both halves), so no schedule that switches
// between grid points does better.
TEST(OptimumTest, AFinerGridFindsNothingCheaper) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 8; ++trial) {
    OptimumProblem p = RandomProblem(rng, 6, 1 + trial % 2);
    OptimumProblem fine = p;
    fine.step = p.step / 2;
    fine.steps = 2 * p.steps;
    fine.work = 2 * p.work;
    fine.boot = 2 * p.boot;
    for (size_t z = 0; z < p.up.size(); ++z) {
      for (int c = 0; c < fine.steps; ++c) {
        fine.up[z].resize(fine.steps);
        fine.reclaim[z].resize(fine.steps);
      }
      for (int c = 0; c < fine.steps; ++c) {
        fine.up[z][c] = p.up[z][c / 2];
        fine.reclaim[z][c] = c % 2 == 0 && p.reclaim[z][c / 2];
      }
    }
    const double dp = SolveOptimum(p), brute = BruteForce(fine);
    if (brute == kNoSchedule) {
      EXPECT_EQ(dp, kNoSchedule);
    } else {
      EXPECT_NEAR(dp, brute, 1e-9 * brute) << "trial " << trial;
    }
  }
}

FleetSpec Spec(const std::string& yaml) {
  Result<SpecNode> node = SpecNode::Parse(yaml, "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(*node);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

// Hand-checked: spot (1/h) is up for the first hour, gone for the second, back after; on-demand
// 4/h; boot + load 5 min; 3 h of work by 4 h. Spot can train 0:05-1:00 (55 min) and 2:05-4:00
// (115 min, launched at 2:00): 170 min, so 10 min must be on-demand (launched at 0:55, trained
// 1:00-1:10, stopped with a 0.5 min save). Spot: 5 + 55 + 0.5 (the save at the notice) and
// 5 + 115 min; on-demand: 5 + 10 + 0.5 min. = (180.5 + 4 * 15.5) / 60.
TEST(OptimumTest, HandCheckedScriptedMarket) {
  FleetSpec spec = Spec(R"(provider: sim
work_hours: 3
deadline_hours: 4
policy: deadline
offers: [{instance_type: t, zone: z1, spot: 1, on_demand: 4}]
overheads: {boot_minutes: 3, load_minutes: 2, checkpoint_minutes: 0.5, notice_minutes: 2}
market:
  kind: scripted
  events: [{at_minutes: 60, zone: z1, event: outage, minutes: 60}]
)");
  Result<std::unique_ptr<Market>> market = MakeMarket(spec, "");
  ASSERT_TRUE(market.ok()) << market.status().ToString();
  Result<HindsightOptimum> o = ComputeOptimum(spec, **market, 4 * 3600);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_NEAR(o->cost, (180.5 + 4 * 15.5) / 60, 1e-9);
  EXPECT_EQ(o->step, 300);  // gcd of 5 min, 3 h, 4 h, 1 h and 2 h
  Result<HindsightOptimum> late = ComputeOptimum(spec, **market, 3 * 3600);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->cost, kNoSchedule);  // 3 h of work and a 5 min boot do not fit in 3 h
}

TEST(OptimumTest, DurationsOffTheSecondGridAreAnError) {
  FleetSpec spec = Spec(R"(provider: sim
work_hours: 1
offers: [{instance_type: t, zone: z1, spot: 1, on_demand: 4}]
overheads: {boot_seconds: 0.5}
)");
  Result<std::unique_ptr<Market>> market = MakeMarket(spec, "");
  ASSERT_TRUE(market.ok());
  Result<HindsightOptimum> o = ComputeOptimum(spec, **market, 7200);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("boot + load (0.5 s)"), std::string::npos)
      << o.status().ToString();
}

}  // namespace
}  // namespace baton::fleet
