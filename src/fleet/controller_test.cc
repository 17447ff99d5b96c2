#include "fleet/controller.h"

#include <gtest/gtest.h>

#include <map>

#include "fleet/sim_provider.h"

namespace baton::fleet {
namespace {

constexpr double kH = 3600;

FleetSpec Spec(const std::string& json) {
  Result<SpecNode> node = SpecNode::Parse(json, "c.yaml", "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(*node);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

// 4 h of work; spot in z1 gone from 1 h to 2 h; boot 3 min, load 2, checkpoint 0.5, notice 2.
const char kSwitch[] = R"({"provider": "sim", "policy": "spot-first", "work_hours": 4,
  "offers": [{"instance_type": "t", "zone": "z1", "spot": 3.5, "on_demand": 10}],
  "overheads": {"boot_minutes": 3, "load_minutes": 2, "checkpoint_minutes": 0.5,
                "notice_minutes": 2},
  "market": {"kind": "scripted", "events": [
    {"at_minutes": 60, "zone": "z1", "event": "outage", "minutes": 60}]}})";

// Passes everything to a SimProvider and writes down what the controller asked, with every
// instance's state at that moment; can turn down launches on an offer.
class Recorder : public Provider {
 public:
  explicit Recorder(const FleetSpec& spec) : spec_(spec) {
    Result<std::unique_ptr<Market>> m = MakeMarket(spec, "");
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    Result<std::unique_ptr<SimProvider>> p = SimProvider::Create(spec, std::move(*m));
    EXPECT_TRUE(p.ok());
    sim = std::move(*p);
  }
  std::string name() const override { return "recorder"; }
  double Now() override { return sim->Now(); }
  bool HasCapacity(int offer) override { return sim->HasCapacity(offer); }
  Result<std::string> Launch(int offer, bool handoff) override {
    if (refuse_offer == offer && refusals > 0) {
      --refusals;
      log.push_back(fmt::format("refuse {}", offer));
      return Unavailable("no capacity (test)");
    }
    Result<std::string> id = sim->Launch(offer, handoff);
    if (id.ok()) {
      log.push_back(
          fmt::format("launch {}{} {}", id->substr(0, 7), handoff ? " handoff" : "", States()));
    }
    return id;
  }
  Status Stop(const std::string& id) override {
    log.push_back(fmt::format("stop {} {}", id.substr(0, 7), States()));
    return sim->Stop(id);
  }
  std::vector<Instance> Instances() override { return sim->Instances(); }
  RunProgress Progress() override { return sim->Progress(); }
  Status SetDesiredCapacity(int n) override {
    log.push_back(fmt::format("desired {}", n));
    return sim->SetDesiredCapacity(n);
  }
  double Advance(double until) override { return sim->Advance(until); }

  std::string States() {
    std::string s = "[";
    for (const Instance& i : sim->Instances()) {
      s += fmt::format("{}{}={}", s.size() > 1 ? " " : "", i.id.substr(0, 7),
                       i.state == InstanceState::kEnded ? EndReasonName(i.end_reason)
                                                        : InstanceStateName(i.state));
    }
    return s + "]";
  }
  int Count(const std::string& prefix) const {
    int n = 0;
    for (const std::string& l : log) n += l.rfind(prefix, 0) == 0;
    return n;
  }

  FleetSpec spec_;
  std::unique_ptr<SimProvider> sim;
  std::vector<std::string> log;
  int refuse_offer = -1, refusals = 0;
};

TEST(FleetController, SwitchesBackToSpotMakeBeforeBreak) {
  FleetSpec spec = Spec(kSwitch);
  Recorder rec(spec);
  ControllerOptions o;
  o.tick_seconds = 10;  // many steps while the new instance boots: none may launch another
  std::vector<std::string> lines;
  o.print = [&](const std::string& l) { lines.push_back(l); };
  Controller c(spec, &rec, o);
  Result<FleetReport> r = c.Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Spot until the outage; on-demand launched as the hand-off while spot checkpoints; back to
  // spot: the new spot instance is on stand-by before on-demand is asked to stop.
  ASSERT_EQ(rec.log.size(), 5u) << fmt::format("{}", fmt::join(rec.log, "\n"));
  EXPECT_EQ(rec.log[0], "launch sim-001 [sim-001=booting]");
  EXPECT_EQ(rec.log[1], "launch sim-002 handoff [sim-001=stopping sim-002=booting]");
  EXPECT_EQ(rec.log[2],
            "launch sim-003 handoff [sim-001=preempted sim-002=running sim-003=booting]");
  EXPECT_EQ(rec.log[3], "stop sim-002 [sim-001=preempted sim-002=running sim-003=standby]");
  EXPECT_EQ(rec.log[4], "desired 0");
  std::vector<Instance> all = rec.Instances();
  ASSERT_EQ(all.size(), 3u);
  // The hand-over is billed twice: on-demand ends after the new spot was launched.
  EXPECT_EQ(all[2].launched_at, 2 * kH);
  EXPECT_EQ(all[1].ended_at, 2 * kH + 300 + 30);
  EXPECT_EQ(all[1].end_reason, EndReason::kStopped);
  EXPECT_EQ(all[2].running_at, all[1].ended_at);
  EXPECT_EQ(all[2].start_work, all[1].last_work);  // nothing lost across the hand-over
  EXPECT_GT(r->spot_seconds + r->on_demand_seconds, r->makespan_seconds + 300);
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->interruptions, 1);
  EXPECT_EQ(r->work_redone, 0);
  EXPECT_EQ(rec.sim->desired_capacity(), 0);
  // One line per decision and event, on simulated time.
  std::string text = fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_NE(text.find("t=1:00 spot-first: spot capacity lost in z1"), std::string::npos) << text;
  EXPECT_NE(text.find("t=2:05 spot-first: sim-003-z1-spot is ready: stop sim-002-z1-od"),
            std::string::npos)
      << text;
}

TEST(FleetController, LosingTheHandoffInstanceFallsBack) {
  // Spot comes back at 2:00 for two minutes only: the new spot instance is taken while it
  // boots; the run stays on on-demand and moves to spot when it is back for good at 3:00.
  FleetSpec spec = Spec(R"({"provider": "sim", "policy": "spot-first", "work_hours": 4,
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 3.5, "on_demand": 10}],
    "overheads": {"boot_minutes": 3, "load_minutes": 2, "checkpoint_minutes": 0.5},
    "market": {"kind": "scripted", "events": [
      {"at_minutes": 60, "zone": "z1", "event": "outage", "minutes": 60},
      {"at_minutes": 122, "zone": "z1", "event": "outage", "minutes": 58}]}})");
  Recorder rec(spec);
  ControllerOptions o;
  o.tick_seconds = 10;
  Result<FleetReport> r = Controller(spec, &rec, o).Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Instance> all = rec.Instances();
  ASSERT_EQ(all.size(), 4u) << fmt::format("{}", fmt::join(rec.log, "\n"));
  EXPECT_EQ(all[2].launched_at, 2 * kH);
  EXPECT_EQ(all[2].end_reason, EndReason::kPreempted);
  EXPECT_EQ(all[2].running_at, -1);  // never held the run
  EXPECT_EQ(all[1].end_reason, EndReason::kStopped);
  EXPECT_EQ(all[1].ended_at, 3 * kH + 300 + 30);  // on-demand until the second switch
  EXPECT_EQ(all[3].launched_at, 3 * kH);
  EXPECT_EQ(all[3].end_reason, EndReason::kCompleted);
  EXPECT_EQ(rec.Count("stop"), 1);
  EXPECT_EQ(r->work_redone, 0);
}

TEST(FleetController, RelaunchesAfterAKillFromTheLastCheckpoint) {
  // Spot only, a reclaim without notice at 1:30; checkpoints every 30 min of work.
  FleetSpec spec = Spec(R"({"provider": "sim", "policy": "spot-only", "work_hours": 3,
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 2}],
    "overheads": {"boot_minutes": 3, "load_minutes": 2, "checkpoint_minutes": 1,
                  "checkpoint_interval_minutes": 30},
    "market": {"kind": "scripted", "events": [
      {"at_minutes": 90, "zone": "z1", "event": "reclaim", "notice": false}]}})");
  Recorder rec(spec);
  Controller c(spec, &rec, {});
  Result<FleetReport> r = c.Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Instance> all = rec.Instances();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].end_reason, EndReason::kKilled);
  EXPECT_EQ(all[0].last_work, 85 * 60);  // trained from 0:05 to 1:30
  // Durable: the checkpoint of work 60 min (started at 1:05, saved 1:06); the one of 90 would
  // have started after the kill.
  EXPECT_EQ(all[1].launched_at, 90 * 60);
  EXPECT_EQ(all[1].start_work, 60 * 60);
  EXPECT_EQ(all[1].end_reason, EndReason::kCompleted);
  EXPECT_EQ(r->work_redone, 25 * 60);
  EXPECT_EQ(r->interruptions_without_notice, 1);
  // 1:30 + boot and load + the 2 h left.
  EXPECT_EQ(r->completed_at, 90 * 60 + 300 + 2 * kH);
}

TEST(FleetController, ScalesToZeroWhenComplete) {
  FleetSpec spec = Spec(R"({"provider": "sim", "policy": "on-demand", "work_hours": 2,
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 2, "on_demand": 5}],
    "overheads": {"boot_minutes": 3, "load_minutes": 2}})");
  Recorder rec(spec);
  Controller c(spec, &rec, {});
  Result<FleetReport> r = c.Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->completed_at, 300 + 2 * kH);
  EXPECT_DOUBLE_EQ(r->cost, (300 + 2 * kH) / kH * 5);
  EXPECT_NEAR(r->saving_fraction, 0, 1e-12);  // exactly the baseline
  EXPECT_EQ(rec.Count("desired 0"), 1);
  EXPECT_EQ(rec.sim->desired_capacity(), 0);
  for (const Instance& i : rec.Instances()) EXPECT_EQ(i.state, InstanceState::kEnded);
}

TEST(FleetController, TurnedDownLaunchFallsBackThisStep) {
  FleetSpec spec = Spec(R"({"provider": "sim", "policy": "spot-first", "work_hours": 1,
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 2, "on_demand": 5}]})");
  Recorder rec(spec);
  rec.refuse_offer = 0;  // spot, once
  rec.refusals = 1;
  Controller c(spec, &rec, {});
  ASSERT_TRUE(c.Step().ok());
  ASSERT_EQ(rec.log.size(), 2u);
  EXPECT_EQ(rec.log[0], "refuse 0");
  EXPECT_EQ(rec.log[1], "launch sim-001 [sim-001=booting]");
  EXPECT_EQ(rec.Instances()[0].offer, 1);  // on-demand
  Result<FleetReport> r = c.Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Spot had capacity all along: the controller moved there make-before-break.
  EXPECT_EQ(rec.Instances().size(), 2u);
  EXPECT_EQ(rec.Instances()[1].offer, 0);
}

// Agents that fail `fail_after` seconds after launch, for the retry rules.
class FailingProvider : public Provider {
 public:
  std::string name() const override { return "failing"; }
  double Now() override { return now_; }
  bool HasCapacity(int) override { return true; }
  Result<std::string> Launch(int offer, bool handoff) override {
    Instance i;
    i.id = fmt::format("f-{}", instances_.size() + 1);
    i.offer = offer;
    i.handoff = handoff;
    i.launched_at = now_;
    instances_.push_back(i);
    launches.push_back(now_);
    return i.id;
  }
  Status Stop(const std::string&) override { return Status::Ok(); }
  std::vector<Instance> Instances() override { return instances_; }
  RunProgress Progress() override { return {}; }
  Status SetDesiredCapacity(int) override { return Status::Ok(); }
  double Advance(double until) override {
    double next = until;
    for (const Instance& i : instances_) {
      if (i.state != InstanceState::kEnded) next = std::min(next, i.launched_at + fail_after);
    }
    now_ = std::max(now_, next);
    for (Instance& i : instances_) {
      if (i.state != InstanceState::kEnded && now_ >= i.launched_at + fail_after) {
        i.state = InstanceState::kEnded;
        i.end_reason = EndReason::kFailed;
        i.ended_at = now_;
        i.detail = "agent exit 1: no such model";
      }
    }
    return now_;
  }

  double fail_after = 10;
  std::vector<double> launches;

 private:
  double now_ = 0;
  std::vector<Instance> instances_;
};

TEST(FleetController, BacksOffAfterFailuresAndGivesUp) {
  FleetSpec spec = Spec(R"({"policy": "on-demand",
    "offers": [{"instance_type": "t", "zone": "z1", "on_demand": 5}]})");
  FailingProvider p;
  ControllerOptions o;
  o.tick_seconds = 5;
  o.max_failures = 3;
  o.failure_backoff_seconds = 60;
  Controller c(spec, &p, o);
  Result<FleetReport> r = c.Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("failed 3 times in a row"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("no such model"), std::string::npos);
  // Fails at 10; again 60 s later (70 -> 80); then 120 s later (200 -> 210): given up.
  EXPECT_EQ(p.launches, (std::vector<double>{0, 70, 200}));
}

// A controller restarted mid-run (here: twice, in the middle of the switch back to spot) finds
// the instances through the provider and ends the run exactly as an uninterrupted one does.
TEST(FleetController, RestartedControllerCarriesOn) {
  FleetSpec spec = Spec(kSwitch);
  Recorder whole(spec);
  Result<FleetReport> expected = Controller(spec, &whole, {}).Run();
  ASSERT_TRUE(expected.ok());

  Recorder rec(spec);
  for (double stop_at : {0.5 * kH, 2 * kH + 100}) {
    ControllerOptions o;
    o.should_stop = [&] { return rec.Now() >= stop_at; };
    Result<FleetReport> partial = Controller(spec, &rec, o).Run();
    ASSERT_FALSE(partial.ok());
    EXPECT_EQ(partial.status().message(), "stopped");
  }
  // Stopped while the new spot instance boots: the next controller must not launch another.
  ASSERT_EQ(rec.Count("launch"), 3);
  std::vector<std::string> lines;
  ControllerOptions o;
  o.print = [&](const std::string& l) { lines.push_back(l); };
  Controller third(spec, &rec, o);
  EXPECT_EQ(third.Report().instances, 3);  // the ledger has the old instances
  Result<FleetReport> r = third.Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(rec.Count("launch"), 3);
  EXPECT_EQ(r->instances, 3);
  EXPECT_DOUBLE_EQ(r->cost, expected->cost);
  EXPECT_EQ(r->completed_at, expected->completed_at);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("found sim-002-z1-od running"), std::string::npos) << lines[0];
}

TEST(FleetController, EqualPricesDoNotMoveARunningInstance) {
  // Two spot zones at one price: z1 goes away for an hour while the run sits on z2; when z1
  // comes back nothing moves.
  FleetSpec spec = Spec(R"({"provider": "sim", "policy": "spot-first", "work_hours": 3,
    "offers": [{"instance_type": "t", "zones": ["z1", "z2"], "spot": 2, "on_demand": 5}],
    "market": {"kind": "scripted", "events": [
      {"at_minutes": 30, "zone": "z1", "event": "outage", "minutes": 60}]}})");
  Recorder rec(spec);
  Result<FleetReport> r = Controller(spec, &rec, {}).Run();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(rec.Instances().size(), 2u);
  EXPECT_EQ(spec.offers[rec.Instances()[1].offer].zone, "z2");
  EXPECT_EQ(rec.Instances()[1].end_reason, EndReason::kCompleted);
}

}  // namespace
}  // namespace baton::fleet
