// `baton fleet plan|up|status|down` with provider aws against the fake EC2 (tests/fake_ec2.h),
// through the binary a user runs: the fake re-verifies every SigV4 signature, refuses spot
// capacity per zone, throttles, interrupts with a notice, and starts each instance it launches
// as a local `baton agent` process from the instance's user-data. Events happen at chosen steps
// whatever the machine's speed: the test freezes an instance's agent (SIGSTOP) while it changes
// the market, and lets it go on afterwards.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/process_contract.h"
#include "cli_process.h"
#include "fake_ec2.h"
#include "fleet_e2e_fixture.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
namespace {

using testing::FakeEc2Instance;
using testing::ProcessResult;
using testing::StartProcess;
using testing::WaitChild;
using testing::WaitUntil;

Env* const env = Env::Default();

constexpr char kKeyId[] = "AKIAFAKEEC2FLEETTEST";
constexpr char kSecret[] = "fake-ec2-fleet-secret/0123456789abcdefABCDEF";
constexpr char kType[] = "g5.xlarge";
constexpr char kZoneA[] = "us-east-1a";
constexpr char kZoneB[] = "us-east-1b";
constexpr char kImage[] = "ami-0ba7011ab0000001";
constexpr char kGroup[] = "sg-0ba7011ab0000001";
constexpr char kProfile[] = "BatonInstanceProfile";

class AwsFleetTest : public testing::FleetE2eFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(FleetE2eFixture::SetUp());
    testing::FakeEc2Options o;
    o.subnets = {{kZoneA, "subnet-0aaa0001"}, {kZoneB, "subnet-0bbb0001"}};
    o.image_ids = {kImage};
    o.security_group_ids = {kGroup};
    o.instance_profiles = {kProfile};
    o.keys = {{kKeyId, kSecret, ""}};
    o.host.baton_binary = BATON_BINARY;
    o.host.work_dir = tmp_.Sub("cloud");
    o.host.notice_seconds = 6;
    o.host.boot_seconds = 0.2;
    o.host.extra_env = {{std::string(EnvVarName(EnvVar::kNoticePollMs)), "100"},
                        {std::string(EnvVarName(EnvVar::kThreads)), "1"}};
    o.page_cap = 1;  // every instance on a page of its own: DescribeInstances pages
    fake_ = std::make_unique<testing::FakeEc2>(o);
    ASSERT_TRUE(fake_->Start().ok());
    vars_ = {std::string("AWS_ACCESS_KEY_ID=") + kKeyId,
             std::string("AWS_SECRET_ACCESS_KEY=") + kSecret,
             "AWS_ENDPOINT_URL_EC2=" + fake_->endpoint(),
             std::string(EnvVarName(EnvVar::kThreads)) + "=1"};
  }

  void TearDown() override { fake_->Stop(); }

  // no_capacity_backoff `backoff_seconds`: how soon an offer refused for capacity (or reported
  // by a rebalance recommendation) is tried again.
  std::string JobYaml(const std::string& store, int backoff_seconds = 2) {
    return TrainYaml(store, "aws") +
           fmt::format(
               "fleet:\n  provider: aws\n  policy: spot-first\n  offers:\n"
               "    - {{instance_type: {type}, zone: us-east-1a, spot: 0.40, on_demand: 1.0}}\n"
               "    - {{instance_type: {type}, zone: us-east-1b, spot: 0.45, on_demand: 1.0}}\n"
               "  aws:\n    region: us-east-1\n    image_id: {image}\n"
               "    subnets: {{us-east-1a: subnet-0aaa0001, us-east-1b: subnet-0bbb0001}}\n"
               "    security_group_ids: [{group}]\n    instance_profile: {profile}\n"
               "    tags: {{team: ml}}\n    poll_seconds: 0.3\n    stop_grace_seconds: 60\n"
               "    no_capacity_backoff_seconds: {backoff}\n",
               fmt::arg("type", kType), fmt::arg("image", kImage), fmt::arg("group", kGroup),
               fmt::arg("profile", kProfile), fmt::arg("backoff", backoff_seconds));
  }

  // The first instance that matches, once one does (60 s at most).
  std::optional<FakeEc2Instance> WaitInstance(
      const std::function<bool(const FakeEc2Instance&)>& match) {
    return WaitFor<FakeEc2Instance>([&] { return fake_->Snapshot(); }, match);
  }

  std::vector<FakeEc2Instance> Alive() {
    std::vector<FakeEc2Instance> alive;
    for (const FakeEc2Instance& s : fake_->Snapshot()) {
      if (s.state != "terminated" || s.process_alive) alive.push_back(s);
    }
    return alive;
  }

  std::string Log(const std::string& name) {
    Result<std::string> log = env->ReadFile(tmp_.Sub(name));
    return log.ok() ? *log : "(no " + name + ")";
  }

  std::unique_ptr<testing::FakeEc2> fake_;
};

TEST_F(AwsFleetTest, SpotGoneOnDemandBackToSpotInterruptedCompletesDownLeavesNothing) {
  const std::string run = tmp_.Sub("bucket/run");
  const std::string job = WriteJob("job.yaml", JobYaml(run));
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());

  // No spot anywhere, and EC2 throttles the first looks: the controller retries them, is told
  // InsufficientInstanceCapacity for spot in both zones, and falls back to on-demand.
  fake_->SetSpotCapacity(kZoneA, false);
  fake_->SetSpotCapacity(kZoneB, false);
  fake_->FailNext("DescribeInstances", 2, "RequestLimitExceeded", 503);
  pid_t up = StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up.log"));
  std::optional<FakeEc2Instance> od =
      WaitInstance([](const FakeEc2Instance& s) { return !s.spot && s.process_alive; });
  ASSERT_TRUE(od) << Log("up.log");
  ASSERT_TRUE(WaitAgent(store->get(), od->id, AgentState::kTraining, 3)) << od->agent_log;

  // Spot is back in zone a: once the backoff is over, a spot instance boots, loads and waits on
  // stand-by; only then is the on-demand one asked to stop (make-before-break).
  ASSERT_TRUE(fake_->Pause(od->id).ok());
  fake_->SetSpotCapacity(kZoneA, true);
  std::optional<FakeEc2Instance> spot = WaitInstance(
      [](const FakeEc2Instance& s) { return s.spot && s.zone == kZoneA && s.process_alive; });
  ASSERT_TRUE(spot) << Log("up.log");
  ASSERT_TRUE(WaitAgent(store->get(), spot->id, AgentState::kStandby)) << spot->agent_log;
  EXPECT_NE(spot->agent_argv.end(),
            std::find(spot->agent_argv.begin(), spot->agent_argv.end(), "--handoff"));
  ASSERT_TRUE(fake_->Resume(od->id).ok());
  const int64_t od_step = [&] {
    WaitUntil([&] { return !fake_->Snapshot()[0].process_alive; }, 90000);
    return StepOf(store->get(), od->id);
  }();
  ASSERT_TRUE(WaitAgent(store->get(), spot->id, AgentState::kTraining, od_step + 2))
      << spot->agent_log;

  // EC2 interrupts the spot instance (spot leaves zone a, comes to zone b): the notice reaches
  // the agent through its metadata service and the controller through the spot request; the
  // agent checkpoints, and the replacement is spot in zone b.
  ASSERT_TRUE(fake_->Pause(spot->id).ok());
  fake_->SetSpotCapacity(kZoneA, false);
  fake_->SetSpotCapacity(kZoneB, true);
  ASSERT_TRUE(fake_->Interrupt(spot->id).ok());
  ASSERT_TRUE(fake_->Resume(spot->id).ok());
  std::optional<FakeEc2Instance> last = WaitInstance(
      [](const FakeEc2Instance& s) { return s.spot && s.zone == kZoneB && s.process_alive; });
  ASSERT_TRUE(last) << Log("up.log");

  int wait_status = WaitChild(up, 240000);
  std::string up_log = Log("up.log");
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << up_log;
  for (const char* want : {"InsufficientInstanceCapacity", "spot capacity back in us-east-1a",
                           "(make-before-break)", "interruption notice", "the run completed"}) {
    EXPECT_NE(up_log.find(want), std::string::npos) << want << "\n" << up_log;
  }

  // Every instance was launched as asked and is gone.
  EXPECT_TRUE(Alive().empty());
  std::vector<FakeEc2Instance> all = fake_->Snapshot();
  ASSERT_EQ(all.size(), 3u) << up_log;
  for (const FakeEc2Instance& s : all) {
    EXPECT_EQ(s.params.at("SecurityGroupId.1"), kGroup);
    EXPECT_EQ(s.params.at("IamInstanceProfile.Name"), kProfile);
    EXPECT_EQ(s.params.at("ImageId"), kImage);
    EXPECT_TRUE(s.params.at("ClientToken").starts_with("baton-"));
    EXPECT_EQ(s.params.count("InstanceMarketOptions.MarketType"), s.spot ? 1u : 0u);
    for (const auto* tags : {&s.tags, &s.volume_tags}) {
      EXPECT_EQ(tags->at("baton:run"), "fleet-e2e");
      EXPECT_EQ(tags->at("team"), "ml");
      EXPECT_EQ(tags->at("baton:offer"),
                fmt::format("{}@{}/{}", kType, s.zone, s.spot ? "spot" : "on-demand"));
    }
  }
  // The interrupted one ended either way: the controller terminated it after its agent's
  // checkpoint, or EC2 did at the end of the notice.
  EXPECT_TRUE(all[1].spot_status == "instance-terminated-by-user" ||
              all[1].spot_status == "instance-terminated-no-capacity")
      << all[1].spot_status;
  EXPECT_GT(fake_->CallCount("DescribeInstances#NextToken"), 0);
  EXPECT_GE(fake_->CallCount("DescribeSpotInstanceRequests"), 1);
  EXPECT_TRUE(fake_->SignatureFailures().empty()) << fake_->SignatureFailures().front();

  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  EXPECT_EQ((*ledger)->provider, "aws");
  ASSERT_EQ((*ledger)->instances.size(), 3u) << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[0].end_reason, "stopped") << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[1].end_reason, "preempted") << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[2].end_reason, "completed") << (*ledger)->Serialize();
  // The controller's lines are in the bucket for `baton ui` (fleet/events.json).
  Result<std::optional<RunEvents>> events = ReadRunEvents(store->get());
  ASSERT_TRUE(events.ok() && *events) << (events.ok() ? "none" : events.status().ToString());
  bool saw_completed = false;
  for (const RunEvent& e : (*events)->events) {
    saw_completed = saw_completed || e.text.find("ended: completed") != std::string::npos;
  }
  EXPECT_TRUE(saw_completed) << (*events)->Serialize();

  ExpectFinalAdapterUninterrupted(run);

  ProcessResult down = Baton({"fleet", "down", job}, "down.log");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("no instance of 'fleet-e2e' is running"), std::string::npos)
      << down.output;
  EXPECT_TRUE(Alive().empty());
  ProcessResult after = Baton({"fleet", "status", job}, "status.log");
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_NE(after.output.find("COMPLETE"), std::string::npos) << after.output;
}

TEST_F(AwsFleetTest, DownStopsARunningInstanceAfterItsCheckpoint) {
  max_steps_ = 400;  // long enough that `down` finds it training
  const std::string run = tmp_.Sub("bucket/down");
  const std::string job = WriteJob("job.yaml", JobYaml(run));
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());
  pid_t up = StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up.log"));
  std::optional<FakeEc2Instance> first =
      WaitInstance([](const FakeEc2Instance& s) { return s.process_alive; });
  ASSERT_TRUE(first) << Log("up.log");
  ASSERT_TRUE(WaitAgent(store->get(), first->id, AgentState::kTraining, 2)) << first->agent_log;
  ProcessResult status = Baton({"fleet", "status", job}, "status.log");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  for (const std::string& want : {first->id, std::string("spot"), std::string("agent training")}) {
    EXPECT_NE(status.output.find(want), std::string::npos) << want << "\n" << status.output;
  }
  ProcessResult down = Baton({"fleet", "down", job}, "down.log");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_TRUE(Alive().empty()) << down.output;
  // The agent checkpointed on the stop request before its instance was terminated.
  Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store->get(), first->id);
  ASSERT_TRUE(hb.ok() && *hb);
  EXPECT_EQ((*hb)->state, AgentState::kStopped);
  EXPECT_TRUE(fake_->Snapshot()[0].terminated_by_call);
  // The controller sees the scale-to-zero request of `down` and ends.
  int wait_status = WaitChild(up, 120000);
  EXPECT_TRUE(WIFEXITED(wait_status)) << Log("up.log");
}

TEST_F(AwsFleetTest, ARebalanceRecommendationMovesTheRunMakeBeforeBreak) {
  max_steps_ = 40;
  const std::string run = tmp_.Sub("bucket/rebalance");
  // Zone a stays marked for the whole run: the run does not come back to it.
  const std::string job = WriteJob("job.yaml", JobYaml(run, /*backoff_seconds=*/600));
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());
  pid_t up = StartProcess({BATON_BINARY, "fleet", "up", "--yes", job}, vars_, tmp_.Sub("up.log"));
  std::optional<FakeEc2Instance> first = WaitInstance(
      [](const FakeEc2Instance& s) { return s.spot && s.zone == kZoneA && s.process_alive; });
  ASSERT_TRUE(first) << Log("up.log");
  ASSERT_TRUE(WaitAgent(store->get(), first->id, AgentState::kTraining, 2)) << first->agent_log;

  // The recommendation reaches the agent through its metadata service; it reports it in the
  // run's bucket and trains on (frozen here once the report is written, so that the move, not
  // the end of the run, comes next).
  ASSERT_TRUE(fake_->Rebalance(first->id).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        Result<std::optional<RebalanceReport>> r = ReadRebalanceReport(store->get(), first->id);
        return r.ok() && r->has_value();
      },
      60000))
      << first->agent_log;
  ASSERT_TRUE(fake_->Pause(first->id).ok());
  // The controller moves the run to spot in zone b: the new instance loads and waits on
  // stand-by before the first is asked to stop.
  std::optional<FakeEc2Instance> second = WaitInstance(
      [](const FakeEc2Instance& s) { return s.spot && s.zone == kZoneB && s.process_alive; });
  ASSERT_TRUE(second) << Log("up.log");
  ASSERT_TRUE(WaitAgent(store->get(), second->id, AgentState::kStandby)) << second->agent_log;
  ASSERT_TRUE(fake_->Resume(first->id).ok());

  int wait_status = WaitChild(up, 240000);
  std::string up_log = Log("up.log");
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << up_log;
  for (const char* want :
       {"rebalance recommendation", "(make-before-break)", "the run completed"}) {
    EXPECT_NE(up_log.find(want), std::string::npos) << want << "\n" << up_log;
  }
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  ASSERT_EQ((*ledger)->instances.size(), 2u) << (*ledger)->Serialize();
  EXPECT_EQ((*ledger)->instances[0].end_reason, "stopped") << (*ledger)->Serialize();
  EXPECT_TRUE((*ledger)->instances[1].handoff);
  EXPECT_EQ((*ledger)->instances[1].end_reason, "completed") << (*ledger)->Serialize();
  EXPECT_TRUE(Alive().empty());
  ExpectFinalAdapterUninterrupted(run);
}

TEST_F(AwsFleetTest, PlanChecksZonesAndUpRefusesBadSignaturesClearly) {
  const std::string run = tmp_.Sub("bucket/plan");
  const std::string job = WriteJob("job.yaml", JobYaml(run));
  ProcessResult plan = Baton({"fleet", "plan", job}, "plan.log");
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
  for (const char* want :
       {"provider aws, region us-east-1", "subnet-0aaa0001", "g5.xlarge@us-east-1a/spot",
        "instance profile BatonInstanceProfile", "nothing was created"}) {
    EXPECT_NE(plan.output.find(want), std::string::npos) << want << "\n" << plan.output;
  }
  EXPECT_EQ(fake_->CallCount("RunInstances"), 0);

  // A wrong secret: EC2 refuses the signature, and the message says which call and why.
  ProcessResult bad =
      Baton({"fleet", "plan", job}, "bad.log", {"AWS_SECRET_ACCESS_KEY=not-the-secret"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("SignatureDoesNotMatch"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("not-the-secret"), std::string::npos) << bad.output;
  EXPECT_FALSE(fake_->SignatureFailures().empty());

  // An offer in a zone the region does not have is named with the job's line.
  const std::string other = WriteJob("other.yaml", JobYaml(run));
  std::string text = *env->ReadFile(other);
  text.replace(text.find("zone: us-east-1b"), 16, "zone: us-east-1f");
  text.replace(text.find("us-east-1b: subnet"), 10, "us-east-1f");
  ASSERT_TRUE(env->WriteFileAtomic(other, text).ok());
  ProcessResult zone = Baton({"fleet", "plan", other}, "zone.log");
  EXPECT_EQ(zone.exit_code, 2) << zone.output;  // a mistake in the job: usage
  EXPECT_NE(zone.output.find("zone us-east-1f is not in region us-east-1"), std::string::npos)
      << zone.output;
  EXPECT_NE(zone.output.find("other.yaml:"), std::string::npos) << zone.output;
}

}  // namespace
}  // namespace baton
