// `baton fleet up|status|down` with provider aliyun-ess against the fake Alibaba Cloud
// (tests/fake_aliyun.h, fake_ess.cc), through the binary a user runs: `up` creates the scaling
// group and its configuration and returns; the fake's group launches a spot instance whose
// `baton agent` (from the configuration's user-data) trains the tiny model to the end and, with
// its instance's RAM role, sets the group's desired capacity to 0; the group then releases it.
// Also: an API error half way through `up`, which a second `up` finishes.
#include "fleet/aliyun_ess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "aliyun_fleet_fixture.h"
#include "base/env.h"
#include "cloud/aliyun_api.h"
#include "fake_aliyun.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
namespace {

using testing::AgentArgsFromUserData;
using testing::DecodeBase64;
using testing::FakeInstanceSnapshot;
using testing::ProcessResult;
using testing::WaitUntil;

constexpr char kRegion[] = "cn-hangzhou";
constexpr char kRun[] = "fleet-e2e";
constexpr int kSteps = 12;

Env* const env = Env::Default();

class AliyunEssTest : public testing::AliyunFleetFixture {
 protected:
  void SetUp() override {
    max_steps_ = kSteps;
    AliyunFleetFixture::SetUp();
    if (HasFatalFailure()) return;
    AliyunClientOptions c;
    c.region = kRegion;
    c.endpoint = fake_->endpoint();
    c.credentials = []() -> Result<SigV4Credentials> {
      return SigV4Credentials{kKeyId, kSecret, ""};
    };
    client_ = std::make_unique<AliyunClient>(c);
  }

  // The run's scaling group as the fake has it (nullopt: none).
  std::optional<fleet::EssGroup> RunGroup() {
    Result<std::optional<fleet::EssGroup>> g = fleet::FindEssGroup(client_.get(), kRegion, kRun);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }

  size_t CreateCalls() {
    std::vector<testing::FakeAliyunCall> calls = fake_->Calls();
    return std::count_if(calls.begin(), calls.end(),
                         [](const auto& c) { return c.action.starts_with("Create"); });
  }

  std::string Log(const std::string& name) {
    Result<std::string> text = env->ReadFile(tmp_.Sub(name));
    return text.ok() ? *text : "";
  }

  std::unique_ptr<AliyunClient> client_;
};

TEST_F(AliyunEssTest, UpTrainsToTheEndTheAgentScalesToZeroDownDeletes) {
  const std::string run = tmp_.Sub("bucket/ess");
  const std::string job = WriteJob("job.yaml", JobYaml(run, "aliyun-ess"));
  ProcessResult up = Baton({"fleet", "up", "--yes", job}, "up.log");
  ASSERT_EQ(up.exit_code, 0) << up.output;

  // What `up` asked for: spot first over both zones, on-demand compensation, back to spot, a
  // replacement on a reclaim, at most one instance.
  std::vector<Json> groups = fake_->SuccessfulParams("CreateScalingGroup");
  ASSERT_EQ(groups.size(), 1u);
  const Json& g = groups[0];
  EXPECT_EQ(g["MinSize"], "0");
  EXPECT_EQ(g["MaxSize"], "1");
  EXPECT_EQ(g["MultiAZPolicy"], "COST_OPTIMIZED");
  EXPECT_EQ(g["VSwitchIds"], (Json{"vsw-h", "vsw-i"}));
  EXPECT_EQ(g["CompensateWithOnDemand"], "true");
  EXPECT_EQ(g["CapacityOptions"]["SpotAutoReplaceOnDemand"], "true");
  EXPECT_EQ(g["SpotInstanceRemedy"], "true");
  std::vector<Json> configs = fake_->SuccessfulParams("CreateScalingConfiguration");
  ASSERT_EQ(configs.size(), 1u);
  const Json& c = configs[0];
  EXPECT_EQ(c["InstanceTypes"], (Json{kType}));
  EXPECT_EQ(c["SpotStrategy"], "SpotAsPriceGo");
  EXPECT_EQ(c["RamRoleName"], "BatonInstanceRole");
  Result<std::string> user_data = DecodeBase64(c.value("UserData", ""));
  ASSERT_TRUE(user_data.ok()) << user_data.status().ToString();
  EXPECT_NE(user_data->find("#cloud-config"), std::string::npos) << *user_data;
  Result<std::vector<std::string>> args = AgentArgsFromUserData(*user_data);
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_NE(std::find(args->begin(), args->end(), "--handoff"), args->end()) << *user_data;
  std::optional<fleet::EssGroup> group = RunGroup();
  ASSERT_TRUE(group);
  EXPECT_EQ(group->lifecycle, "Active");
  EXPECT_EQ(group->desired, 1);

  // The group launches a spot instance in the first zone; its agent trains to the end.
  std::optional<FakeInstanceSnapshot> first = WaitInstance([&](const FakeInstanceSnapshot& s) {
    return s.scaling_group_id == group->id && s.process_alive;
  });
  ASSERT_TRUE(first) << up.output;
  EXPECT_EQ(first->zone_id, kZoneH);
  EXPECT_EQ(first->spot_strategy, "SpotAsPriceGo");
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        Result<bool> done = IsComplete(store->get());
        return done.ok() && *done;
      },
      120000))
      << *env->ReadFile(first->agent_log);
  ASSERT_TRUE(WaitAgent(store->get(), first->instance_id, AgentState::kComplete, kSteps))
      << *env->ReadFile(first->agent_log);

  // The agent set the desired capacity to 0 with its RAM role's keys, and the group released
  // the instance.
  auto scaled_to_zero = [&] {
    for (const auto& call : fake_->Calls()) {
      if (call.action == "ModifyScalingGroup" && call.http_status == 200 &&
          call.params.value("DesiredCapacity", "") == "0") {
        return call.access_key_id;
      }
    }
    return std::string();
  };
  ASSERT_TRUE(WaitUntil([&] { return !scaled_to_zero().empty(); }, 30000))
      << *env->ReadFile(first->agent_log);
  EXPECT_EQ(scaled_to_zero(), "STS.FakeEcsRamRole");
  ASSERT_TRUE(WaitUntil([&] { return Alive().empty(); }, 30000));
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 1u);
  EXPECT_TRUE(
      env->ReadFile(fmt::format("{}/{}/{}", run, CheckpointDir(kSteps), kAdapterWeightsFile)).ok());

  ProcessResult status = Baton({"fleet", "status", job}, "status.log");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  for (const std::string& want : {group->id, std::string("desired 0"), std::string("COMPLETE")}) {
    EXPECT_NE(status.output.find(want), std::string::npos) << want << "\n" << status.output;
  }

  // A second up: the run is complete; nothing is created or launched.
  const size_t creates = CreateCalls();
  ProcessResult again = Baton({"fleet", "up", "--yes", job}, "up2.log");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to launch"), std::string::npos) << again.output;
  EXPECT_EQ(CreateCalls(), creates);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 1u);

  ProcessResult down = Baton({"fleet", "down", job}, "down.log");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("deleted scaling group " + group->id), std::string::npos)
      << down.output;
  EXPECT_FALSE(RunGroup());
  EXPECT_TRUE(Alive().empty());
}

TEST_F(AliyunEssTest, AnApiErrorHalfWayLeavesTheGroupTheNextUpFinishesIt) {
  const std::string run = tmp_.Sub("bucket/half");
  const std::string job = WriteJob("job.yaml", JobYaml(run, "aliyun-ess"));
  fake_->FailNextWith("CreateScalingConfiguration", 1, 403, "Forbidden.RAM",
                      "User not authorized to operate on the specified resource.");
  ProcessResult up = Baton({"fleet", "up", "--yes", job}, "up.log");
  EXPECT_NE(up.exit_code, 0) << up.output;
  EXPECT_TRUE(
      std::regex_search(up.output, std::regex("scaling group asg-[0-9a-f]+ 'baton-fleet-e2e' "
                                              "\\(created\\)")))
      << up.output;
  EXPECT_NE(up.output.find("Forbidden.RAM"), std::string::npos) << up.output;
  EXPECT_NE(up.output.find("`baton fleet up` again finishes it"), std::string::npos) << up.output;
  std::optional<fleet::EssGroup> group = RunGroup();
  ASSERT_TRUE(group);
  EXPECT_EQ(group->lifecycle, "Inactive");
  EXPECT_TRUE(fake_->InstancesSnapshot().empty());

  ProcessResult again = Baton({"fleet", "up", "--yes", job}, "up2.log");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(fake_->SuccessfulParams("CreateScalingGroup").size(), 1u);
  EXPECT_EQ(fake_->SuccessfulParams("CreateScalingConfiguration").size(), 1u);
  std::optional<fleet::EssGroup> finished = RunGroup();
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->id, group->id);
  EXPECT_EQ(finished->lifecycle, "Active");
  EXPECT_EQ(finished->desired, 1);
  ASSERT_TRUE(WaitInstance([&](const FakeInstanceSnapshot& s) {
    return s.scaling_group_id == group->id && s.process_alive;
  }));

  ProcessResult down = Baton({"fleet", "down", job}, "down.log");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_FALSE(RunGroup());
  EXPECT_TRUE(Alive().empty());
}

}  // namespace
}  // namespace baton
