#include "fleet/sim_provider.h"

#include <gtest/gtest.h>

namespace baton::fleet {
namespace {

// One spot offer (0) and one on-demand (1) in z1; 10 h of work; a market event or none.
std::unique_ptr<SimProvider> Make(const std::string& overheads, const std::string& events = "") {
  Json fleet = Json::parse(R"({"provider": "sim", "work_hours": 10,
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 1, "on_demand": 3}]})");
  fleet["overheads"] = Json::parse(overheads);
  if (!events.empty()) {
    fleet["market"] = Json::parse(R"({"kind": "scripted", "events": [)" + events + "]}");
  }
  Result<SpecNode> node = SpecNode::Parse(fleet.dump(), "s.yaml", "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(*node);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  Result<std::unique_ptr<Market>> market = MakeMarket(*spec, "");
  EXPECT_TRUE(market.ok()) << market.status().ToString();
  Result<std::unique_ptr<SimProvider>> p = SimProvider::Create(*spec, std::move(*market));
  EXPECT_TRUE(p.ok());
  return std::move(*p);
}

// Advances until `t`, event by event.
void RunTo(SimProvider& p, double t) {
  while (p.Now() < t) p.Advance(t);
}

Instance Get(SimProvider& p, size_t i) { return p.Instances().at(i); }

TEST(SimProvider, BootsLoadsTrainsAndCheckpointsAsynchronously) {
  auto p = Make(R"({"boot_seconds": 100, "load_seconds": 50, "checkpoint_seconds": 20,
                    "checkpoint_interval_seconds": 1000})");
  ASSERT_TRUE(p->Launch(1, false).ok());
  EXPECT_EQ(p->Advance(1e9), 100);  // the first thing that happens: boot done
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kLoading);
  EXPECT_EQ(p->Advance(1e9), 150);
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kRunning);
  EXPECT_EQ(Get(*p, 0).start_work, 0);
  EXPECT_EQ(p->Advance(1e9), 1150);  // work 1000: a checkpoint starts, training goes on
  EXPECT_EQ(p->Progress().checkpoint, 0);
  EXPECT_EQ(p->Advance(1e9), 1170);
  EXPECT_EQ(p->Progress().checkpoint, 1000);
  EXPECT_EQ(p->Progress().done, 1020);
  EXPECT_EQ(Get(*p, 0).last_work, 1020);
  RunTo(*p, 1e9);
  EXPECT_TRUE(p->Progress().complete);
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kCompleted);
  EXPECT_EQ(Get(*p, 0).ended_at, 150 + 36000);  // no pause for the periodic checkpoints
}

TEST(SimProvider, NoticeLongEnoughKeepsTheWork) {
  auto p = Make(R"({"checkpoint_seconds": 60, "notice_seconds": 120,
                    "checkpoint_interval_seconds": 1800})",
                R"({"at_seconds": 1000, "zone": "z1", "event": "reclaim"})");
  ASSERT_TRUE(p->Launch(0, false).ok());
  EXPECT_EQ(p->Advance(1e9), 0);  // zero boot and load: running at once
  EXPECT_EQ(p->Advance(1e9), 1000);
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kStopping);
  EXPECT_EQ(p->Advance(1e9), 1060);
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kPreempted);
  EXPECT_EQ(Get(*p, 0).ended_at, 1060);
  EXPECT_EQ(p->Progress().checkpoint, 1000);  // saved in the window
  ASSERT_TRUE(p->Launch(0, false).ok());
  p->Advance(1e9);
  EXPECT_EQ(Get(*p, 1).start_work, 1000);
}

TEST(SimProvider, NoticeTooShortKillsAndFallsBack) {
  auto p = Make(R"({"checkpoint_seconds": 180, "notice_seconds": 120,
                    "checkpoint_interval_seconds": 600})",
                R"({"at_seconds": 1000, "zone": "z1", "event": "outage", "minutes": 1})");
  ASSERT_TRUE(p->Launch(0, false).ok());
  RunTo(*p, 1000);
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kStopping);
  EXPECT_FALSE(p->HasCapacity(0));
  EXPECT_TRUE(p->HasCapacity(1));
  EXPECT_EQ(p->Launch(0, false).status().code(), StatusCode::kUnavailable);
  RunTo(*p, 1119);
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kStopping);
  RunTo(*p, 1120);
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kKilled);
  // The periodic save of work 600 (600 -> 780) was durable; the notice save never was.
  EXPECT_EQ(p->Progress().checkpoint, 600);
  EXPECT_EQ(p->Progress().done, 1000);
}

TEST(SimProvider, KillWithoutNoticeLosesSavesInFlight) {
  auto p = Make(R"({"checkpoint_seconds": 100, "checkpoint_interval_seconds": 500})",
                R"({"at_seconds": 1050, "zone": "z1", "event": "reclaim", "notice": false})");
  ASSERT_TRUE(p->Launch(0, false).ok());
  RunTo(*p, 1050);
  // Work 500 was saved at 600; the save of 1000 (started at 1000) dies with the instance.
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kKilled);
  EXPECT_EQ(Get(*p, 0).ended_at, 1050);
  RunTo(*p, 2000);
  EXPECT_EQ(p->Progress().checkpoint, 500);
}

TEST(SimProvider, HandoffWaitsOnStandbyForTheHolder) {
  auto p = Make(R"({"boot_seconds": 100, "load_seconds": 100, "checkpoint_seconds": 30})");
  ASSERT_TRUE(p->Launch(1, false).ok());
  RunTo(*p, 500);
  Result<std::string> next = p->Launch(0, true);
  ASSERT_TRUE(next.ok());
  RunTo(*p, 1000);
  EXPECT_EQ(Get(*p, 1).state, InstanceState::kStandby);  // loaded at 700, waiting
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kRunning);
  ASSERT_TRUE(p->Stop(Get(*p, 0).id).ok());
  EXPECT_EQ(Get(*p, 0).state, InstanceState::kStopping);
  p->Advance(1e9);
  EXPECT_EQ(p->Now(), 1030);
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kStopped);
  EXPECT_EQ(Get(*p, 1).state, InstanceState::kRunning);  // took over at once
  EXPECT_EQ(Get(*p, 1).running_at, 1030);
  EXPECT_EQ(Get(*p, 1).start_work, 800);  // everything the old one did
}

TEST(SimProvider, StoppingOneThatDoesNotHoldTheRunEndsItAtOnce) {
  auto p = Make(R"({"boot_seconds": 100})");
  ASSERT_TRUE(p->Launch(1, false).ok());
  RunTo(*p, 50);
  ASSERT_TRUE(p->SetDesiredCapacity(0).ok());
  EXPECT_EQ(Get(*p, 0).end_reason, EndReason::kStopped);
  EXPECT_EQ(Get(*p, 0).ended_at, 50);
  EXPECT_EQ(p->desired_capacity(), 0);
  EXPECT_EQ(p->Launch(5, false).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace baton::fleet
