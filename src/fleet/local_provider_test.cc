// The local provider with a stand-in agent (a shell script that heartbeats like `baton agent`):
// states follow the heartbeat, a reclaim without notice is a SIGKILL, a notice ends in a clean
// exit, market events keyed to steps follow the heartbeats' progress, and a provider opened again
// on the same work folder (a restarted controller) adopts the instance that is still running,
// bills it from its launch, can stop it, and sees the market as the old one left it.
#include "fleet/local_provider.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fleet/report.h"
#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton::fleet {
namespace {

Env* env = Env::Default();

// A fake agent: heartbeats every 0.1 s with a growing step; SIGTERM -> "stopped", exit 0. It also
// exits 0 ("stopped") when its fake metadata server reports an Alibaba termination time, unless
// the test made it deaf to notices ($STORE/deaf exists).
constexpr char kAgent[] = R"sh(#!/bin/bash
store="$STORE"; id="${!ID_VAR}"; step=0; state=training
mkdir -p "$store/agents"
beat() { printf '{"format":"baton-heartbeat","version":1,"instance":"%s","state":"%s","global_step":%d,"max_steps":1000,"resumed_step":0,"updated_unix_ms":%s}' \
  "$id" "$1" "$step" "$(date +%s%3N)" >"$store/agents/$id.json.tmp" && mv "$store/agents/$id.json.tmp" "$store/agents/$id.json"; }
trap 'beat stopped; exit 0' TERM
beat loading
while true; do
  step=$((step + 1)); beat training
  if [ ! -e "$store/deaf" ] && curl -sf "${!METADATA_VAR}/latest/meta-data/instance/spot/termination-time" >/dev/null; then
    beat stopped; exit 0
  fi
  sleep 0.1
done
)sh";

class LocalProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_ = tmp_.Sub("agent.sh");
    ASSERT_TRUE(env->WriteFileAtomic(agent_, kAgent).ok());
    chmod(agent_.c_str(), 0755);
    setenv("STORE", tmp_.Sub("store").c_str(), 1);
    // The script reads the variables of the process contract by name (bash's ${!NAME}).
    setenv("ID_VAR", EnvVarName(EnvVar::kInstanceId), 1);
    setenv("METADATA_VAR", EnvVarName(EnvVar::kMetadataUrl), 1);
    ASSERT_TRUE(env->CreateDirs(tmp_.Sub("store")).ok());
    spec_.provider = "local";
    spec_.time_scale = 60;
    spec_.overheads.boot = 0;
    spec_.overheads.notice = 120;
    spec_.offers = {{"t1", "z1", Billing::kSpot, 3.5}, {"t1", "z1", Billing::kOnDemand, 10}};
  }

  Result<std::unique_ptr<LocalProvider>> Open(const Json& market) {
    BATON_ASSIGN_OR_RETURN(spec_.market,
                           SpecNode::Parse(market.dump(), "test.yaml", "fleet.market"));
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<Market> m, MakeMarket(spec_, "."));
    LocalProviderOptions o;
    o.baton_binary = agent_;
    o.job_path = "unused.yaml";
    o.store_url = tmp_.Sub("store");
    o.work_dir = tmp_.Sub("work");
    return LocalProvider::Open(spec_, std::move(m), o);
  }

  // Advances until `cond` holds or `limit` simulated seconds pass.
  static bool AdvanceUntil(LocalProvider* p, const std::function<bool()>& cond, double limit) {
    double end = p->Now() + limit;
    while (p->Now() < end) {
      p->Advance(std::min(end, p->Now() + 6));
      if (cond()) return true;
    }
    return cond();
  }

  static Instance Only(LocalProvider* p) {
    auto list = p->Instances();
    EXPECT_EQ(list.size(), 1u);
    return list.empty() ? Instance{} : list[0];
  }

  testing::ScopedTempDir tmp_;
  std::string agent_;
  FleetSpec spec_;
};

TEST_F(LocalProviderTest, RestartedControllerAdoptsTheRunningInstance) {
  std::string id;
  double launched = 0;
  {
    auto p = Open(Json{{"kind", "always"}});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    auto r = (*p)->Launch(1, false);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    id = *r;
    launched = Only(p->get()).launched_at;
    ASSERT_TRUE(AdvanceUntil(
        p->get(), [&] { return Only(p->get()).state == InstanceState::kRunning; }, 600));
    EXPECT_GT((*p)->Progress().done, 0);
  }  // the controller goes away; the agent keeps running
  auto p = Open(Json{{"kind", "always"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Instance i = Only(p->get());
  EXPECT_EQ(i.id, id);
  EXPECT_EQ(i.state, InstanceState::kRunning);
  EXPECT_EQ(i.launched_at, launched) << "billed from its launch, not from the restart";
  double before = (*p)->Progress().done;
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return (*p)->Progress().done > before + 2; }, 600))
      << "the adopted instance's progress is followed";
  ASSERT_TRUE((*p)->Stop(id).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return Only(p->get()).state == InstanceState::kEnded; }, 600));
  EXPECT_EQ(Only(p->get()).end_reason, EndReason::kStopped);
}

TEST_F(LocalProviderTest, ReclaimWithoutNoticeKillsWithNoticeStopsCleanly) {
  // Reclaims of the spot offer at 1 and 3 simulated minutes: the first without notice.
  Json market = {{"kind", "scripted"},
                 {"events",
                  {{{"at_minutes", 1}, {"zone", "z1"}, {"event", "reclaim"}, {"notice", false}},
                   {{"at_minutes", 3}, {"zone", "z1"}, {"event", "reclaim"}}}}};
  auto p = Open(market);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Launch(0, false).ok());
  auto ended = [&](size_t n) {
    auto list = (*p)->Instances();
    return list.size() >= n && list[n - 1].state == InstanceState::kEnded;
  };
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return ended(1); }, 600));
  EXPECT_EQ((*p)->Instances()[0].end_reason, EndReason::kKilled);
  ASSERT_TRUE((*p)->Launch(0, false).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return ended(2); }, 600));
  EXPECT_EQ((*p)->Instances()[1].end_reason, EndReason::kPreempted) << (*p)->Instances()[1].detail;
  EXPECT_FALSE((*p)->Launch(5, false).ok());

  // The run's bucket holds the same story (fleet/ledger.json, provider local), for `baton ui`.
  FileStore store(env, tmp_.Sub("store"));
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(&store);
  ASSERT_TRUE(ledger.ok() && *ledger) << ledger.status().ToString();
  EXPECT_EQ((*ledger)->provider, "local");
  ASSERT_EQ((*ledger)->instances.size(), 2u);
  const std::vector<Instance> instances = (*p)->Instances();
  for (size_t k = 0; k < 2; ++k) {
    const LedgerInstance& l = (*ledger)->instances[k];
    EXPECT_EQ(l.id, instances[k].id);
    EXPECT_EQ(l.offer, "t1@z1/spot");
    EXPECT_EQ(l.end_reason, EndReasonName(instances[k].end_reason));
    EXPECT_GT(l.ended_unix_ms, l.launched_unix_ms);
  }
  EXPECT_GT((*ledger)->instances[0].delete_unix_ms, 0) << "the kill is in the ledger";
  EXPECT_GT((*ledger)->instances[1].notice_unix_ms, 0) << "the notice is in the ledger";
}

TEST_F(LocalProviderTest, StepKeyedOutageFollowsTheHeartbeatsAndSurvivesARestart) {
  // Spot goes at step 5 (with notice) and comes back once the run made 10 more steps.
  Json market = {
      {"kind", "scripted"},
      {"events", {{{"at_step", 5}, {"zone", "z1"}, {"event", "outage"}, {"steps", 10}}}}};
  auto p = Open(market);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Launch(0, false).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return Only(p->get()).state == InstanceState::kEnded; }, 600));
  Instance spot = Only(p->get());
  EXPECT_EQ(spot.end_reason, EndReason::kPreempted) << spot.detail;
  EXPECT_NE(spot.detail.find("spot capacity lost at step "), std::string::npos) << spot.detail;
  EXPECT_GE(spot.last_work, 5);
  EXPECT_FALSE((*p)->HasCapacity(0));
  p->reset();  // the controller restarts: the outage it saw begin is still on
  p = Open(market);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE((*p)->HasCapacity(0)) << "the market's progress reports were not replayed";
  // The stand-in agent counts from 0 again: spot is back once it is 10 steps past the step the
  // outage began at.
  ASSERT_TRUE((*p)->Launch(1, false).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return (*p)->HasCapacity(0); }, 1200));
  EXPECT_GE((*p)->Progress().done, 15);
  std::string od = (*p)->Instances()[1].id;
  ASSERT_TRUE((*p)->Stop(od).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return (*p)->Instances()[1].state == InstanceState::kEnded; }, 600));
}

// The controller dies right after it gave an instance a preemption notice, before the agent
// read it (the agent is deaf to notices until the restart): the restarted controller delivers
// the notice again, so the instance checkpoints and is preempted, not killed at the end of the
// window as one without notice.
TEST_F(LocalProviderTest, ANoticeTheDeadControllerSentIsDeliveredAgain) {
  Json market = {{"kind", "scripted"},
                 {"events", {{{"at_step", 5}, {"zone", "z1"}, {"event", "reclaim"}}}}};
  ASSERT_TRUE(env->WriteFileAtomic(tmp_.Sub("store/deaf"), "").ok());
  {
    auto p = Open(market);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE((*p)->Launch(0, false).ok());
    ASSERT_TRUE(AdvanceUntil(
        p->get(), [&] { return Only(p->get()).state == InstanceState::kStopping; }, 600));
    EXPECT_NE(Only(p->get()).detail.find("notice"), std::string::npos) << Only(p->get()).detail;
  }  // the controller dies with its metadata servers; the agent never saw the notice
  auto p = Open(market);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(env->DeleteFile(tmp_.Sub("store/deaf")).ok());
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return Only(p->get()).state == InstanceState::kEnded; }, 600));
  Instance i = Only(p->get());
  EXPECT_EQ(i.end_reason, EndReason::kPreempted) << i.detail;
  EXPECT_EQ(i.detail.find("ran out"), std::string::npos) << i.detail;
}

// The controller asks an instance to stop and dies; the instance checkpoints and exits while no
// controller watches, and the controller comes back a simulated minute and more later: the
// instance is billed to its real end (its final heartbeat), not to the restart.
TEST_F(LocalProviderTest, AnInstanceThatEndedWhileNoControllerWatchedIsBilledToItsEnd) {
  std::string id;
  {
    auto p = Open(Json{{"kind", "always"}});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    auto r = (*p)->Launch(1, false);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    id = *r;
    ASSERT_TRUE(AdvanceUntil(
        p->get(), [&] { return Only(p->get()).state == InstanceState::kRunning; }, 600));
    ASSERT_TRUE((*p)->Stop(id).ok());
  }  // the controller dies right after the stop
  const std::string hb = tmp_.Sub("store/agents/" + id + ".json");
  for (int i = 0; i < 200; ++i) {  // the agent's final heartbeat: it exits
    Result<std::string> text = env->ReadFile(hb);
    if (text.ok() && text->find("\"stopped\"") != std::string::npos) break;
    env->SleepMicros(50000);
  }
  Result<std::optional<Heartbeat>> last = ReadHeartbeat(OpenStore(tmp_.Sub("store"))->get(), id);
  ASSERT_TRUE(last.ok() && *last && (*last)->state == AgentState::kStopped);
  env->SleepMicros(1500000);  // 90 simulated seconds with no controller
  auto p = Open(Json{{"kind", "always"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const double restarted = (*p)->Now();
  ASSERT_TRUE(AdvanceUntil(
      p->get(), [&] { return Only(p->get()).state == InstanceState::kEnded; }, 600));
  Instance i = Only(p->get());
  EXPECT_EQ(i.end_reason, EndReason::kStopped);
  EXPECT_LT(i.ended_at, restarted - 60) << "billed beyond its end, to the restart";
  EXPECT_GE(i.ended_at, i.launched_at);
  FleetReport report = BuildReport(spec_, (*p)->Instances(), (*p)->Progress(), (*p)->Now());
  ASSERT_EQ(report.ledger.size(), 1u);
  EXPECT_NEAR(report.ledger[0].seconds, i.ended_at - i.launched_at, 1e-9);
}

}  // namespace
}  // namespace baton::fleet
