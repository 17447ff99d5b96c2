#include "fleet/policy.h"

#include <gtest/gtest.h>

namespace baton::fleet {
namespace {

constexpr double kH = 3600;

// Offers after sorting: 0 spot z1 3.5, 1 spot z2 3.5, 2 spot z3 3.9, 3 od z2 9, 4 od z1 10.
FleetSpec Spec(PolicyKind policy) {
  Result<SpecNode> node = SpecNode::Parse(R"({
    "deadline_hours": 20,
    "offers": [{"instance_type": "t", "zones": ["z1"], "spot": 3.5, "on_demand": 10},
               {"instance_type": "t", "zones": ["z2"], "spot": 3.5, "on_demand": 9},
               {"instance_type": "t", "zones": ["z3"], "spot": 3.9}]})",
                                          "p.yaml", "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(*node);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  spec->policy = policy;
  return *spec;
}

PolicyInput In(std::vector<bool> capacity, int current = -1) {
  PolicyInput in;
  in.capacity = std::move(capacity);
  in.current_offer = current;
  return in;
}

const std::vector<bool> kAll = {true, true, true, true, true};
const std::vector<bool> kNoSpot = {false, false, false, true, true};
const std::vector<bool> kOnlyZ3 = {false, false, true, true, true};

TEST(Policy, SpotFirstTakesTheCheapestSpotElseOnDemand) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kSpotFirst), 0);
  EXPECT_EQ(p->Choose(In(kAll)), 0);
  EXPECT_EQ(p->Choose(In(kAll, 1)), 1);  // as cheap as z1: stay, a move would save nothing
  EXPECT_EQ(p->Choose(In(kAll, 2)), 0);  // cheaper spot has capacity again
  EXPECT_EQ(p->Choose(In(kOnlyZ3)), 2);
  EXPECT_EQ(p->Choose(In(kNoSpot)), 3);  // cheapest on-demand
  EXPECT_EQ(p->Choose(In(kAll, 3)), 0);  // back to spot from on-demand
}

TEST(Policy, SpotOnlyWaitsForSpot) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kSpotOnly), 0);
  EXPECT_EQ(p->Choose(In(kAll)), 0);
  EXPECT_EQ(p->Choose(In(kOnlyZ3)), 2);
  EXPECT_EQ(p->Choose(In(kNoSpot)), -1);
}

TEST(Policy, OnDemandTakesTheCheapestOnDemand) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kOnDemand), 0);
  EXPECT_EQ(p->Choose(In(kAll)), 3);
  EXPECT_EQ(p->Choose(In(kAll, 4)), 3);
}

// Deadline: 10 h of work in 20 h, switch delay 0.5 h. The line is done = t / 2.
PolicyInput Progress(std::vector<bool> capacity, int current, double now_h, double done_h) {
  PolicyInput in = In(std::move(capacity), current);
  in.now = now_h * kH;
  in.done = done_h * kH;
  in.total = 10 * kH;
  in.rate = 1;
  return in;
}

TEST(Policy, DeadlineFollowsUniformProgress) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kDeadline), 0.5 * kH);
  // Spot whenever it has capacity (not on on-demand, no safety net).
  EXPECT_EQ(p->Choose(Progress(kAll, -1, 4, 1)), 0);  // even behind the line
  // No spot: wait while ahead of the line, on-demand once behind it.
  EXPECT_EQ(p->Choose(Progress(kNoSpot, -1, 4, 2.1)), -1);
  EXPECT_EQ(p->Choose(Progress(kNoSpot, -1, 4, 1.9)), 3);
  // Unknown rate or total: spot-first.
  PolicyInput unknown = Progress(kNoSpot, -1, 4, 0);
  unknown.rate = 0;
  EXPECT_EQ(p->Choose(unknown), 3);
  unknown.capacity = kAll;
  EXPECT_EQ(p->Choose(unknown), 0);
}

TEST(Policy, DeadlineLeavesOnDemandOnlyTwoSwitchDelaysAhead) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kDeadline), 0.5 * kH);
  // On on-demand (offer 3) with spot back: the line is at 3 h of work at t = 6 h.
  EXPECT_EQ(p->Choose(Progress(kAll, 3, 6, 3.0)), 3);
  EXPECT_EQ(p->Choose(Progress(kAll, 3, 6, 3.9)), 3);  // ahead by 0.9 h < 2 x 0.5 h
  EXPECT_EQ(p->Choose(Progress(kAll, 3, 6, 4.0)), 0);  // ahead by exactly 2 switch delays
  EXPECT_EQ(p->Choose(Progress(kNoSpot, 3, 6, 5.0)), 3);
}

TEST(Policy, DeadlineSafetyNet) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kDeadline), 0.5 * kH);
  // t = 14 h, 4.6 h done: 5.4 h left, slack 0.6 h > 0.5 h: spot still.
  EXPECT_EQ(p->Choose(Progress(kAll, 0, 14, 4.6)), 0);
  // 4.5 h done: slack 0.5 h, no room for one more switch: on-demand, even from running spot.
  EXPECT_EQ(p->Choose(Progress(kAll, 0, 14, 4.5)), 3);
  EXPECT_EQ(p->Choose(Progress(kAll, -1, 14, 4.5)), 3);
  // Past the deadline too.
  EXPECT_EQ(p->Choose(Progress(kAll, 0, 21, 9)), 3);
}

TEST(Policy, DeadlineDoesNotFlapAroundTheLine) {
  std::unique_ptr<Policy> p = MakePolicy(Spec(PolicyKind::kDeadline), 0.5 * kH);
  // On on-demand, progress wobbling up to 1.9 switch delays ahead of the line with spot
  // available: it stays put every time.
  int current = 3;
  for (int i = 0; i < 100; ++i) {
    double t = 4 + 0.05 * i;
    double ahead = (i % 2 ? 0.95 : 0.1);  // hours ahead
    int choice = p->Choose(Progress(kAll, current, t, t / 2 + ahead));
    EXPECT_EQ(choice, 3) << "step " << i;
    current = choice;
  }
}

// adaptive launches on the spot offer whose capacity has lasted longest, stays on a spot offer
// while it has capacity, waits for spot while the slack allows, and takes on-demand when not.
TEST(Policy, AdaptivePicksTheLongestUpZoneAndWaitsWhileTheSlackAllows) {
  FleetSpec spec = Spec(PolicyKind::kAdaptive);
  spec.adaptive.wait_slack = 2 * kH;
  spec.adaptive.return_slack = 4 * kH;
  std::unique_ptr<Policy> p = MakePolicy(spec, 0.1 * kH);
  auto at = [](double t, std::vector<bool> capacity, int current, double done) {
    PolicyInput in = In(std::move(capacity), current);
    in.now = t;
    in.total = 10 * kH;
    in.rate = 1;
    in.done = done;
    return in;
  };
  // t=0: z1 and z3 up, z2 down. t=1 h: z2 comes up. t=2 h: z1 goes; z3 has lasted longest.
  EXPECT_EQ(p->Choose(at(0, {true, false, true, true, true}, -1, 0)), 0);      // tie: cheapest
  EXPECT_EQ(p->Choose(at(1 * kH, {true, true, true, true, true}, 0, kH)), 0);  // stays
  EXPECT_EQ(p->Choose(at(2 * kH, {false, true, true, true, true}, -1, 2 * kH)), 2);
  // No spot: slack = 20 - 3 - 7 = 10 h: wait. At 11 h with 2 h done: slack 1 h: on-demand.
  EXPECT_EQ(p->Choose(at(3 * kH, kNoSpot, -1, 3 * kH)), -1);
  EXPECT_EQ(p->Choose(at(11 * kH, kNoSpot, -1, 3 * kH)), 3);
  // On on-demand: back to spot only with 4 h of slack (here 20 - 12 - 6 = 2 h: stay).
  EXPECT_EQ(p->Choose(at(12 * kH, kAll, 3, 4 * kH)), 3);
  EXPECT_EQ(p->Choose(at(12 * kH, kAll, 3, 8 * kH)), 2);  // 20 - 12 - 2 = 6 h: z3, up longest
}

}  // namespace
}  // namespace baton::fleet
