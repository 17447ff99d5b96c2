// `baton fleet plan|up|status|down` against the fake Alibaba Cloud (tests/fake_aliyun.h), through
// the binary a user runs: the fake re-verifies every signature, keeps ECS (and ESS) state, and
// starts each instance it launches as a local `baton agent` process from the instance's
// user-data. Events happen at chosen steps, whatever the machine's speed: the test freezes an
// instance's agent (SIGSTOP) while it changes the market, and lets it go on afterwards.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aliyun_fleet_fixture.h"
#include "base/env.h"
#include "base/process_contract.h"
#include "cli_process.h"
#include "fake_aliyun.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
namespace {

using testing::FakeInstanceSnapshot;
using testing::ProcessResult;
using testing::RunProcess;
using testing::StartProcess;
using testing::WaitChild;
using testing::WaitUntil;

Env* const env = Env::Default();

using AliyunFleetTest = testing::AliyunFleetFixture;

TEST_F(AliyunFleetTest, DirectModeSpotOnDemandBackToSpotWithAReclaim) {
  const std::string run = tmp_.Sub("bucket/run");
  const std::string job = WriteJob("job.yaml", JobYaml(run, "aliyun"));
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());

  // Zone h (the cheapest spot) has no spot: the controller goes to spot in zone i.
  fake_->SetStock(kZoneH, /*spot=*/true, false);
  pid_t up = StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up.log"));
  std::optional<FakeInstanceSnapshot> first = WaitInstance([](const FakeInstanceSnapshot& s) {
    return s.zone_id == kZoneI && IsSpot(s) && s.process_alive;
  });
  ASSERT_TRUE(first) << *env->ReadFile(tmp_.Sub("up.log"));
  ASSERT_TRUE(WaitAgent(store->get(), first->instance_id, AgentState::kTraining, 3))
      << *env->ReadFile(first->agent_log);

  // Spot goes in zone i too, and zone i reclaims the instance with its notice: the agent
  // checkpoints, and the controller's replacement can only be on-demand.
  ASSERT_TRUE(fake_->PauseInstance(first->instance_id).ok());
  fake_->SetStock(kZoneI, /*spot=*/true, false);
  ASSERT_TRUE(fake_->Reclaim(first->instance_id).ok());
  ASSERT_TRUE(fake_->ResumeInstance(first->instance_id).ok());
  std::optional<FakeInstanceSnapshot> od =
      WaitInstance([](const FakeInstanceSnapshot& s) { return !IsSpot(s) && s.process_alive; });
  ASSERT_TRUE(od) << *env->ReadFile(tmp_.Sub("up.log"));
  const int64_t resumed_at = StepOf(store->get(), first->instance_id);
  ASSERT_TRUE(WaitAgent(store->get(), od->instance_id, AgentState::kTraining, resumed_at + 2))
      << *env->ReadFile(od->agent_log);

  // Mid-run status, with the on-demand instance frozen where it is, once the controller has
  // seen it train (a status before that knows no pace, so no on-demand baseline: a loaded
  // machine's controller may poll after the agent's steps).
  ASSERT_TRUE(WaitLedgerRunning(store->get(), od->instance_id));
  ASSERT_TRUE(fake_->PauseInstance(od->instance_id).ok());
  ProcessResult status = Baton({"fleet", "status", job}, "status.log");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  for (const std::string& want :
       {od->instance_id, std::string("on-demand"), std::string("agent training"),
        std::string("cost so far"), std::string("all on-demand would be")}) {
    EXPECT_NE(status.output.find(want), std::string::npos) << want << "\n" << status.output;
  }

  // Spot is back in zone h: a spot instance boots, loads and waits on stand-by; only then is
  // the on-demand one asked to stop (make-before-break).
  fake_->SetStock(kZoneH, /*spot=*/true, true);
  std::optional<FakeInstanceSnapshot> back = WaitInstance([](const FakeInstanceSnapshot& s) {
    return s.zone_id == kZoneH && IsSpot(s) && s.process_alive;
  });
  ASSERT_TRUE(back) << *env->ReadFile(tmp_.Sub("up.log"));
  ASSERT_TRUE(WaitAgent(store->get(), back->instance_id, AgentState::kStandby))
      << *env->ReadFile(back->agent_log);
  EXPECT_NE(back->agent_argv.end(),
            std::find(back->agent_argv.begin(), back->agent_argv.end(), "--handoff"));
  ASSERT_TRUE(fake_->ResumeInstance(od->instance_id).ok());

  int wait_status = WaitChild(up, 240000);
  std::string up_log = *env->ReadFile(tmp_.Sub("up.log"));
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << up_log;
  for (const char* want :
       {"spot capacity lost in cn-hangzhou-i", "spot capacity back in cn-hangzhou-h", "switch from",
        "(make-before-break)", "reclaim notice", "the run completed", "saving"}) {
    EXPECT_NE(up_log.find(want), std::string::npos) << want << "\n" << up_log;
  }
  // Nothing is left running, and every instance went as it should have.
  EXPECT_TRUE(Alive().empty());
  for (const FakeInstanceSnapshot& s : fake_->InstancesSnapshot()) {
    EXPECT_EQ(s.run_params.value("SecurityGroupId", ""), "sg-baton");
    EXPECT_EQ(s.run_params.value("RamRoleName", ""), "BatonInstanceRole");
    EXPECT_EQ(s.run_params["SystemDisk"].value("Size", ""), "40") << s.run_params.dump();
  }
  // The heartbeats are under the cloud's instance ids (the agent asked the metadata service).
  for (const auto& s : {*first, *od, *back}) {
    Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store->get(), s.instance_id);
    ASSERT_TRUE(hb.ok() && *hb) << s.instance_id;
  }
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  ASSERT_EQ((*ledger)->instances.size(), 3u) << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[0].end_reason, "preempted") << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[1].end_reason, "stopped") << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[2].end_reason, "completed") << (*ledger)->Serialize();

  // The agents' copy of the job (it may hold webhook tokens) is for its owner only.
  struct stat job_stat;
  ASSERT_EQ(stat((run + "/" + kFleetJobKey).c_str(), &job_stat), 0);
  EXPECT_EQ(job_stat.st_mode & 0777, 0600u);

  ExpectFinalAdapterUninterrupted(run);

  ProcessResult down = Baton({"fleet", "down", job}, "down.log");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("no instance of 'fleet-e2e' is running"), std::string::npos)
      << down.output;
  ProcessResult after = Baton({"fleet", "status", job}, "status2.log");
  EXPECT_NE(after.output.find("COMPLETE"), std::string::npos) << after.output;
}

TEST_F(AliyunFleetTest, ARestartedControllerAdoptsTheRunsInstanceAndLaunchesNothingTwice) {
  const std::string run = tmp_.Sub("bucket/adopt");
  const std::string job = WriteJob("job.yaml", JobYaml(run, "aliyun"));
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());
  pid_t up = StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up.log"));
  std::optional<FakeInstanceSnapshot> first =
      WaitInstance([](const FakeInstanceSnapshot& s) { return s.process_alive; });
  ASSERT_TRUE(first) << *env->ReadFile(tmp_.Sub("up.log"));
  ASSERT_TRUE(WaitAgent(store->get(), first->instance_id, AgentState::kTraining, 2));
  // The controller dies (the machine it ran on went away) while the instance trains on; and
  // its ledger is lost too, as if it died between RunInstances and writing the ledger.
  ASSERT_TRUE(fake_->PauseInstance(first->instance_id).ok());
  kill(up, SIGKILL);
  WaitChild(up);
  ASSERT_TRUE((*store)->Delete(kFleetLedgerKey).ok());

  pid_t again =
      StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up2.log"));
  ASSERT_TRUE(WaitUntil(
      [&] {
        Result<std::string> log = env->ReadFile(tmp_.Sub("up2.log"));
        return log.ok() && log->find("adopting it") != std::string::npos;
      },
      60000))
      << *env->ReadFile(tmp_.Sub("up2.log"));
  ASSERT_TRUE(fake_->ResumeInstance(first->instance_id).ok());
  int wait_status = WaitChild(again, 240000);
  std::string log = *env->ReadFile(tmp_.Sub("up2.log"));
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << log;
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 1u) << log;  // nothing launched twice
  EXPECT_TRUE(Alive().empty());
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  ASSERT_EQ((*ledger)->instances.size(), 1u);
  EXPECT_EQ((*ledger)->instances[0].id, first->instance_id);
  EXPECT_EQ((*ledger)->instances[0].end_reason, "completed");
}

TEST_F(AliyunFleetTest, SpotBilledFromThePriceHistoryWhenAsked) {
  const std::string run = tmp_.Sub("bucket/prices");
  const std::string job =
      WriteJob("job.yaml", JobYaml(run, "aliyun", "", "    spot_bill: price_history\n"));
  const int64_t now_ms = static_cast<int64_t>(env->NowMicros() / 1000);
  // Three points in the hour before the launch (two pages of the fake's answer): the last one,
  // 2.00/h, is in force for the whole run; the offer says 3.50.
  for (auto [ago_min, price] : {std::pair{50, 0.5}, {30, 1.0}, {0, 2.0}}) {
    fake_->SetSpotPrice(kZoneH, kType, now_ms - ago_min * 60 * 1000 - 1000, price);
  }
  ProcessResult up = Baton({"fleet", "up", "--yes", job}, "up.log");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  ASSERT_EQ((*ledger)->instances.size(), 1u);
  const LedgerInstance& i = (*ledger)->instances[0];
  EXPECT_EQ(i.offer, std::string(kType) + "@cn-hangzhou-h/spot");
  const double hours = static_cast<double>(i.ended_unix_ms - i.launched_unix_ms) / 3.6e6;
  EXPECT_GT(hours, 0);
  EXPECT_NEAR(i.billed_cost, 2.0 * hours, 1e-9) << (*ledger)->Serialize();
  std::vector<Json> asked = fake_->SuccessfulParams("DescribeSpotPriceHistory");
  // The second page was asked for.
  EXPECT_TRUE(std::any_of(asked.begin(), asked.end(),
                          [](const Json& p) { return p.value("Offset", "") == "2"; }));
  EXPECT_EQ(asked.front()["InstanceType"], kType);
  EXPECT_EQ(asked.front()["ZoneId"], kZoneH);
}

TEST_F(AliyunFleetTest, BudgetStopsTheRunAndASecondUpRefuses) {
  const std::string run = tmp_.Sub("bucket/budget");
  const std::string job = WriteJob("job.yaml", JobYaml(run, "aliyun", "  max_cost: 0.0001\n"));
  ProcessResult up = Baton({"fleet", "up", "--yes", job}, "up.log");
  EXPECT_EQ(up.exit_code, 1) << up.output;
  EXPECT_NE(up.output.find("budget reached"), std::string::npos) << up.output;
  EXPECT_NE(up.output.find("no instance is left running"), std::string::npos) << up.output;
  EXPECT_TRUE(Alive().empty());
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  EXPECT_EQ((*ledger)->stopped_reason, "budget");
  ProcessResult again = Baton({"fleet", "up", "--yes", job}, "up2.log");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("raise max_cost"), std::string::npos) << again.output;
  EXPECT_TRUE(Alive().empty());
}

TEST_F(AliyunFleetTest, BadInputsNameWhatIsWrongAndLaunchNothing) {
  const std::string run = tmp_.Sub("bucket/bad");
  struct Case {
    std::string name;
    std::string yaml;
    std::vector<std::string> vars;
    std::string want;
  };
  std::vector<Case> cases = {
      {"unknown region",
       JobYaml(run, "aliyun", "", "", "{cn-hangzhou-h: vsw-h, cn-hangzhou-i: vsw-i}", "cn-nowhere"),
       {},
       "fleet.aliyun.region: unknown region 'cn-nowhere' (ECS DescribeRegions lists: "
       "cn-hangzhou, cn-beijing)"},
      {"missing vSwitch",
       JobYaml(run, "aliyun", "", "", "{cn-hangzhou-h: vsw-h}"),
       {},
       "fleet.aliyun.vswitches: no vSwitch for zone cn-hangzhou-i"},
      {"rejected key",
       JobYaml(run, "aliyun"),
       {"ALIBABA_CLOUD_ACCESS_KEY_SECRET=not-the-secret-0123456789"},
       "checking the Alibaba Cloud keys and region"},
      {"zone not in the region",
       JobYaml(run, "aliyun", "", "",
               "{cn-beijing-a: vsw-a, cn-hangzhou-h: vsw-h, cn-hangzhou-i: vsw-i}", "cn-beijing"),
       {},
       "zone cn-hangzhou-h is not in region cn-beijing"},
  };
  for (const Case& c : cases) {
    std::string job = WriteJob("bad.yaml", c.yaml);
    for (const char* cmd : {"plan", "up"}) {
      std::vector<std::string> args = {"fleet", cmd, job};
      if (std::string(cmd) == "up") args.push_back("--yes");
      ProcessResult r = Baton(args, "bad.log", c.vars);
      EXPECT_NE(r.exit_code, 0) << c.name;
      EXPECT_NE(r.output.find(c.want), std::string::npos) << c.name << ":\n" << r.output;
      EXPECT_EQ(r.output.find("not-the-secret"), std::string::npos) << r.output;
    }
  }
  EXPECT_TRUE(fake_->InstancesSnapshot().empty());
  // Without --yes and without a terminal, up asks for one rather than launching.
  std::string job = WriteJob("ok.yaml", JobYaml(run, "aliyun"));
  ProcessResult r = Baton({"fleet", "up", job}, "noyes.log");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("pass --yes"), std::string::npos) << r.output;
  EXPECT_TRUE(fake_->InstancesSnapshot().empty());
  // plan reads only.
  ProcessResult plan = Baton({"fleet", "plan", job}, "plan.log");
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
  for (const char* want : {"ecs.gn7i-c8g1.2xlarge@cn-hangzhou-h/spot", "vSwitch vsw-h",
                           "SpotAsPriceGo", "nothing was created"}) {
    EXPECT_NE(plan.output.find(want), std::string::npos) << want << "\n" << plan.output;
  }
  for (const auto& call : fake_->Calls()) {
    EXPECT_TRUE(call.action.starts_with("Describe")) << call.action;
  }
}

}  // namespace
}  // namespace baton
