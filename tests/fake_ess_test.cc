// The fake ESS (tests/fake_ess.cc) through the real client (cloud/aliyun_api.h): scaling groups
// and configurations in the shapes of shared/notes/cloud-apis.md 2.1 and 2.2, their validation
// and error codes, ClientToken, paging, and how a group keeps its capacity with instances of the
// fake ECS (spot first along the vSwitches and instance types, on-demand compensation, back to
// spot, a replacement on a reclaim, releasing down to the desired capacity). No process runs on
// the instances here (the real agent is in AliyunEssTest, label e2e); waits poll with generous
// timeouts.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "cli_process.h"
#include "cloud/aliyun_api.h"
#include "cloud/aliyun_signer.h"
#include "fake_aliyun.h"
#include "fake_aliyun_client.h"
#include "fleet/aliyun_ess.h"
#include "fleet/spec.h"
#include "job/job_spec.h"

namespace baton {
namespace {

using testing::FakeAliyunOptions;
using testing::FakeInstanceSnapshot;
using testing::WaitUntil;

constexpr char kRegion[] = "cn-hangzhou";
constexpr char kGpu[] = "ecs.gn7i-c8g1.2xlarge";
constexpr char kSmall[] = "ecs.g7.large";
constexpr char kImage[] = "m-baton";
constexpr char kSecurityGroup[] = "sg-baton";

// Zone g offers the GPU type only; zone h both types, through two vSwitches.
FakeAliyunOptions EssOptions() {
  FakeAliyunOptions o;
  o.credentials = {{"LTAI-ess-test", "ess-test-secret", ""}};
  o.regions = {
      {kRegion,
       "China (Hangzhou)",
       {{"cn-hangzhou-g", "Zone G", {kGpu}, {"vsw-g"}},
        {"cn-hangzhou-h", "Zone H", {kGpu, kSmall}, {"vsw-h", "vsw-h2"}}}},
      {"cn-shanghai", "China (Shanghai)", {{"cn-shanghai-l", "Zone L", {kGpu}, {"vsw-l"}}}}};
  o.image_ids = {kImage};
  o.security_group_ids = {kSecurityGroup};
  o.host.notice_seconds = 1;
  return o;
}

// What `baton fleet up` sends for a spot-first group (fleet/aliyun_ess.cc).
RpcParams GroupParams(const std::string& name) {
  RpcParams p;
  p.Set("RegionId", kRegion)
      .Set("ScalingGroupName", name)
      .Set("MinSize", 0)
      .Set("MaxSize", 1)
      .Set("DesiredCapacity", 0)
      .SetList("VSwitchIds", {"vsw-g", "vsw-h"})
      .Set("MultiAZPolicy", "COST_OPTIMIZED")
      .Set("CompensateWithOnDemand", true)
      .Set("SpotInstanceRemedy", true)
      .Set("OnDemandBaseCapacity", 0)
      .Set("OnDemandPercentageAboveBaseCapacity", 0)
      .SetStruct("CapacityOptions", RpcParams()
                                        .Set("CompensateWithOnDemand", true)
                                        .Set("SpotAutoReplaceOnDemand", true)
                                        .Set("OnDemandBaseCapacity", 0)
                                        .Set("OnDemandPercentageAboveBaseCapacity", 0))
      .SetStructList("Tag", {RpcParams().Set("Key", "baton:run").Set("Value", name)});
  return p;
}

RpcParams ConfigurationParams(const std::string& group_id) {
  RpcParams p;
  p.Set("ScalingGroupId", group_id)
      .Set("ScalingConfigurationName", "baton-run")
      .Set("ImageId", kImage)
      .Set("SecurityGroupId", kSecurityGroup)
      .SetList("InstanceTypes", {kGpu})
      .Set("SpotStrategy", "SpotAsPriceGo")
      .Set("SpotInterruptionBehavior", "Terminate")
      .Set("RamRoleName", "BatonInstanceRole")
      .Set("InstanceName", "baton-run")
      .Set("UserData", Base64Encode("#cloud-config\n"))
      .Set("SystemDisk.Size", 100)
      .Set("Tags", R"({"baton:run":"run","team":"ml"})");
  return p;
}

class FakeEssTest : public testing::FakeAliyunClientTest {
 protected:
  void SetUp() override { StartFake(EssOptions()); }

  Result<Json> Ess(const std::string& action, const RpcParams& params) {
    return Call(AliyunService::kEss, action, params);
  }
  // The action must succeed; its answer.
  Json Ok(const std::string& action, const RpcParams& params) {
    Result<Json> r = Ess(action, params);
    EXPECT_TRUE(r.ok()) << action << ": " << r.status().ToString();
    return r.ok() ? *r : Json::object();
  }

  std::string CreateGroup(RpcParams params) {
    return Ok("CreateScalingGroup", params).value("ScalingGroupId", "");
  }
  std::string CreateConfiguration(RpcParams params) {
    return Ok("CreateScalingConfiguration", params).value("ScalingConfigurationId", "");
  }
  // A group made as `fleet up` makes it, enabled with its configuration, at `desired`.
  std::string ActiveGroup(const std::string& name, int desired, RpcParams group = {},
                          RpcParams configuration = {}) {
    RpcParams g = GroupParams(name);
    for (const auto& [k, v] : group.pairs()) g.Set(k, v);
    std::string id = CreateGroup(g);
    RpcParams c = ConfigurationParams(id);
    for (const auto& [k, v] : configuration.pairs()) c.Set(k, v);
    std::string config = CreateConfiguration(c);
    Ok("EnableScalingGroup",
       RpcParams().Set("ScalingGroupId", id).Set("ActiveScalingConfigurationId", config));
    SetDesired(id, desired);
    return id;
  }
  void SetDesired(const std::string& id, int n) {
    Ok("ModifyScalingGroup", RpcParams().Set("ScalingGroupId", id).Set("DesiredCapacity", n));
  }
  Json Group(const std::string& id) {
    Json list = AliyunList(Ok("DescribeScalingGroups",
                              RpcParams().Set("RegionId", kRegion).SetList("ScalingGroupId", {id})),
                           "ScalingGroups", "ScalingGroup");
    return list.size() == 1 ? list[0] : Json();
  }
  Json Members(const std::string& id) {
    return AliyunList(Ok("DescribeScalingInstances",
                         RpcParams().Set("RegionId", kRegion).Set("ScalingGroupId", id)),
                      "ScalingInstances", "ScalingInstance");
  }
  // The group's live instances, as ECS has them.
  std::vector<FakeInstanceSnapshot> Live(const std::string& group_id) {
    std::vector<FakeInstanceSnapshot> out;
    for (auto& s : fake_->InstancesSnapshot()) {
      if (s.scaling_group_id == group_id && (s.status == "Pending" || s.status == "Running")) {
        out.push_back(s);
      }
    }
    return out;
  }
};

TEST_F(FakeEssTest, CreateDescribeModifyEnable) {
  std::string id = CreateGroup(GroupParams("baton-run"));
  EXPECT_TRUE(std::regex_match(id, std::regex("asg-[0-9a-f]{20}"))) << id;
  Json g = Group(id);
  ASSERT_TRUE(g.is_object());
  EXPECT_EQ(g["ScalingGroupName"], "baton-run");
  EXPECT_EQ(g["RegionId"], kRegion);
  EXPECT_EQ(g["LifecycleState"], "Inactive");
  EXPECT_EQ(g["MinSize"], 0);
  EXPECT_EQ(g["MaxSize"], 1);
  EXPECT_EQ(g["DesiredCapacity"], 0);
  EXPECT_EQ(g["TotalCapacity"], 0);
  EXPECT_EQ(g["ActiveScalingConfigurationId"], "");
  EXPECT_EQ(g["VSwitchIds"], (Json{{"VSwitchId", {"vsw-g", "vsw-h"}}}));
  EXPECT_EQ(g["MultiAZPolicy"], "COST_OPTIMIZED");
  EXPECT_EQ(g["CompensateWithOnDemand"], true);
  EXPECT_EQ(g["SpotInstanceRemedy"], true);
  EXPECT_EQ(g["CapacityOptions"]["SpotAutoReplaceOnDemand"], true);
  EXPECT_EQ(g["RemovalPolicies"]["RemovalPolicy"],
            (Json{"OldestScalingConfiguration", "OldestInstance"}));
  EXPECT_TRUE(std::regex_match(g["CreationTime"].get<std::string>(),
                               std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ")))
      << g.dump();

  // Enabling needs a configuration.
  ExpectError(Ess("EnableScalingGroup", RpcParams().Set("ScalingGroupId", id)),
              "MissingActiveScalingConfiguration", 400);
  std::string config = CreateConfiguration(ConfigurationParams(id));
  EXPECT_TRUE(std::regex_match(config, std::regex("asc-[0-9a-f]{20}"))) << config;
  Json configs = AliyunList(Ok("DescribeScalingConfigurations",
                               RpcParams().Set("RegionId", kRegion).Set("ScalingGroupId", id)),
                            "ScalingConfigurations", "ScalingConfiguration");
  ASSERT_EQ(configs.size(), 1u);
  EXPECT_EQ(configs[0]["ScalingConfigurationId"], config);
  EXPECT_EQ(configs[0]["LifecycleState"], "Inactive");
  EXPECT_EQ(configs[0]["InstanceTypes"], (Json{{"InstanceType", {kGpu}}}));
  EXPECT_EQ(configs[0]["SpotStrategy"], "SpotAsPriceGo");
  EXPECT_EQ(configs[0]["RamRoleName"], "BatonInstanceRole");
  EXPECT_EQ(configs[0]["SystemDiskSize"], 100);
  EXPECT_EQ(configs[0]["Tags"]["Tag"].size(), 2u);
  Ok("EnableScalingGroup",
     RpcParams().Set("ScalingGroupId", id).Set("ActiveScalingConfigurationId", config));
  EXPECT_EQ(Group(id)["LifecycleState"], "Active");
  EXPECT_EQ(Group(id)["ActiveScalingConfigurationId"], config);
  ExpectError(Ess("EnableScalingGroup", RpcParams().Set("ScalingGroupId", id)),
              "IncorrectScalingGroupStatus", 400);

  // Modify changes what it is given, nothing else.
  Ok("ModifyScalingGroup", RpcParams()
                               .Set("ScalingGroupId", id)
                               .Set("MaxSize", 3)
                               .Set("SpotInstanceRemedy", false)
                               .SetList("RemovalPolicy", {"NewestInstance"}));
  g = Group(id);
  EXPECT_EQ(g["MaxSize"], 3);
  EXPECT_EQ(g["MinSize"], 0);
  EXPECT_EQ(g["SpotInstanceRemedy"], false);
  EXPECT_EQ(g["CompensateWithOnDemand"], true);
  EXPECT_EQ(g["RemovalPolicies"]["RemovalPolicy"], (Json{"NewestInstance"}));
  Ok("ModifyScalingConfiguration",
     RpcParams()
         .Set("ScalingConfigurationId", config)
         .SetList("InstanceTypes", {kSmall, kGpu})
         .Set("SpotStrategy", "SpotWithPriceLimit")
         .SetStructList("SpotPriceLimit",
                        {RpcParams().Set("InstanceType", kGpu).Set("PriceLimit", "6.000")}));
  configs = AliyunList(
      Ok("DescribeScalingConfigurations",
         RpcParams().Set("RegionId", kRegion).SetList("ScalingConfigurationId", {config})),
      "ScalingConfigurations", "ScalingConfiguration");
  ASSERT_EQ(configs.size(), 1u);
  EXPECT_EQ(configs[0]["LifecycleState"], "Active");
  EXPECT_EQ(configs[0]["InstanceTypes"]["InstanceType"], (Json{kSmall, kGpu}));
  EXPECT_EQ(configs[0]["SpotPriceLimit"]["SpotPriceModel"][0]["PriceLimit"], 6.0);
  EXPECT_EQ(configs[0]["ImageId"], kImage);  // untouched
}

TEST_F(FakeEssTest, PagingAndFilters) {
  std::set<std::string> made;
  for (int i = 0; i < 12; ++i) made.insert(CreateGroup(GroupParams(fmt::format("group-{:02}", i))));
  std::set<std::string> seen;
  int pages = 0;
  RpcParams q;
  q.Set("RegionId", kRegion);
  Status s = PaginatePages(
      client_.get(), AliyunService::kEss, "DescribeScalingGroups", q, 5, [&](const Json& page) {
        ++pages;
        EXPECT_EQ(page["TotalCount"], 12);
        EXPECT_EQ(page["PageSize"], 5);
        for (const Json& g : AliyunList(page, "ScalingGroups", "ScalingGroup")) {
          seen.insert(g["ScalingGroupId"].get<std::string>());
        }
        return Status::Ok();
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, made);
  // The default page is 10; at most 50.
  Json first = Ok("DescribeScalingGroups", q);
  EXPECT_EQ(AliyunList(first, "ScalingGroups", "ScalingGroup").size(), 10u);
  EXPECT_EQ(first["PageNumber"], 1);
  ExpectError(Ess("DescribeScalingGroups", RpcParams(q).Set("PageSize", 51)), "InvalidParameter",
              400, "PageSize");
  // By name (as the client sends it, and as ScalingGroupName.N), by id, by region.
  for (RpcParams by : {RpcParams(q).Set("ScalingGroupName", "group-03"),
                       RpcParams(q).SetList("ScalingGroupName", {"group-03", "group-04"})}) {
    Json list = AliyunList(Ok("DescribeScalingGroups", by), "ScalingGroups", "ScalingGroup");
    ASSERT_GE(list.size(), 1u);
    EXPECT_EQ(list[0]["ScalingGroupName"], "group-03");
  }
  EXPECT_EQ(AliyunList(Ok("DescribeScalingGroups",
                          RpcParams(q).SetList("ScalingGroupId", {*made.begin()})),
                       "ScalingGroups", "ScalingGroup")
                .size(),
            1u);
  EXPECT_EQ(Ok("DescribeScalingGroups", RpcParams().Set("RegionId", "cn-shanghai"))["TotalCount"],
            0);
  // Scaling instances and configurations page the same way.
  std::string id = ActiveGroup("paged", 0, RpcParams().Set("MaxSize", 3));
  SetDesired(id, 3);
  Json page2 = Ok("DescribeScalingInstances", RpcParams()
                                                  .Set("RegionId", kRegion)
                                                  .Set("ScalingGroupId", id)
                                                  .Set("PageSize", 2)
                                                  .Set("PageNumber", 2));
  EXPECT_EQ(page2["TotalCount"], 3);
  EXPECT_EQ(AliyunList(page2, "ScalingInstances", "ScalingInstance").size(), 1u);
}

TEST_F(FakeEssTest, ValidationErrorsNameWhatIsWrong) {
  RpcParams g = GroupParams("valid");
  RpcParams no_min = g;
  no_min.Erase("MinSize");
  ExpectError(Ess("CreateScalingGroup", no_min), "MissingParameter", 400, "MinSize");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("MinSize", 2)),
              "InvalidParameter.Conflict", 400);
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("DesiredCapacity", 2)),
              "InvalidParameter.Conflict", 400);
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("MaxSize", -1)), "InvalidParameter", 400,
              "MaxSize");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("ScalingGroupName", "-bad")),
              "InvalidParameter", 400, "ScalingGroupName");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("LaunchTemplateId", "lt-1")),
              "InvalidParameter", 400, "LaunchTemplateId");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("CapacityOptions.Typo", true)),
              "InvalidParameter", 400, "CapacityOptions.Typo");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("MultiAZPolicy", "CHEAP")),
              "InvalidParameter", 400, "MultiAZPolicy");
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).SetList("VSwitchIds", {"vsw-l"})),
              "InvalidVSwitchId.NotFound", 404);
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("RegionId", "mars-1")),
              "InvalidRegionId.NotFound", 404);
  RpcParams no_vswitch = g;
  no_vswitch.Erase("VSwitchIds.1");
  no_vswitch.Erase("VSwitchIds.2");
  ExpectError(Ess("CreateScalingGroup", no_vswitch), "MissingParameter", 400, "VSwitchIds.N");

  std::string id = CreateGroup(g);
  ExpectError(Ess("CreateScalingGroup", g), "InvalidScalingGroupName.Duplicate", 400);
  ExpectError(Ess("ModifyScalingGroup", RpcParams().Set("ScalingGroupId", id).Set("MinSize", 5)),
              "InvalidParameter.Conflict", 400);
  for (const char* action : {"ModifyScalingGroup", "EnableScalingGroup", "DeleteScalingGroup"}) {
    ExpectError(Ess(action, RpcParams().Set("ScalingGroupId", "asg-nothere")),
                "InvalidScalingGroupId.NotFound", 404);
  }
  ExpectError(Ess("ModifyScalingGroup", RpcParams()), "MissingParameter", 400, "ScalingGroupId");
  ExpectError(
      Ess("ModifyScalingGroup",
          RpcParams().Set("ScalingGroupId", id).Set("ActiveScalingConfigurationId", "asc-x")),
      "InvalidScalingConfigurationId.NotFound", 404);

  RpcParams c = ConfigurationParams(id);
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("ScalingGroupId", "asg-nothere")),
              "InvalidScalingGroupId.NotFound", 404);
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("ImageId", "m-other")),
              "InvalidImageId.NotFound", 404);
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("SecurityGroupId", "sg-other")),
              "InvalidSecurityGroupId.NotFound", 404);
  ExpectError(
      Ess("CreateScalingConfiguration", RpcParams(c).SetList("InstanceTypes", {"ecs.nope"})),
      "InvalidParameter", 400, "InstanceTypes.N");
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("UserData", "not base64!")),
              "InvalidUserData.Base64FormatInvalid", 400);
  ExpectError(Ess("CreateScalingConfiguration",
                  RpcParams(c).Set("UserData", Base64Encode(std::string(16 * 1024 + 1, 'x')))),
              "InvalidUserData.SizeExceeded", 400);
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("Tags", "[\"not an object\"]")),
              "InvalidParameter", 400, "Tags");
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("Tags", R"({"acs:x":"y"})")),
              "InvalidParameter", 400, "Tags");
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("SpotStrategy", "Cheap")),
              "InvalidParameter", 400, "SpotStrategy");
  ExpectError(Ess("CreateScalingConfiguration",
                  RpcParams(c).SetStructList(
                      "SpotPriceLimit",
                      {RpcParams().Set("InstanceType", kSmall).Set("PriceLimit", "1.5")})),
              "InvalidParameter", 400, "SpotPriceLimit.N.InstanceType");
  ExpectError(
      Ess("CreateScalingConfiguration",
          RpcParams(c).SetStructList("SpotPriceLimit", {RpcParams().Set("InstanceType", kGpu)})),
      "MissingParameter", 400, "SpotPriceLimit.1.PriceLimit");
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("SystemDisk.Size", 10)),
              "InvalidParameter", 400, "SystemDisk.Size");
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("KeyPairName", "k")),
              "InvalidParameter", 400, "KeyPairName");
  RpcParams no_image = c;
  no_image.Erase("ImageId");
  ExpectError(Ess("CreateScalingConfiguration", no_image), "MissingParameter", 400, "ImageId");
  CreateConfiguration(c);
  ExpectError(Ess("CreateScalingConfiguration", c), "InvalidScalingConfigurationName.Duplicate",
              400);
  ExpectError(Ess("ModifyScalingConfiguration", RpcParams().Set("ScalingConfigurationId", "asc-x")),
              "InvalidScalingConfigurationId.NotFound", 404);
  ExpectError(Ess("DescribeScalingInstances", RpcParams()), "MissingParameter", 400, "RegionId");
  // Nothing was created by a refused call.
  EXPECT_EQ(Ok("DescribeScalingGroups", RpcParams().Set("RegionId", kRegion))["TotalCount"], 1);
}

TEST_F(FakeEssTest, ClientTokenMakesCreatesIdempotent) {
  RpcParams g = GroupParams("tokened");
  g.Set("ClientToken", "token-1");
  std::string id = CreateGroup(g);
  EXPECT_EQ(CreateGroup(g), id);
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("MaxSize", 2)),
              "IdempotentParameterMismatch", 400);
  RpcParams c = ConfigurationParams(id);
  c.Set("ClientToken", "token-2");
  std::string config = CreateConfiguration(c);
  EXPECT_EQ(CreateConfiguration(c), config);
  ExpectError(Ess("CreateScalingConfiguration", RpcParams(c).Set("ImageId", "m-other")),
              "IdempotentParameterMismatch", 400);
  EXPECT_EQ(Ok("DescribeScalingGroups", RpcParams().Set("RegionId", kRegion))["TotalCount"], 1);
  EXPECT_EQ(Ok("DescribeScalingConfigurations", RpcParams().Set("RegionId", kRegion))["TotalCount"],
            1);
  ExpectError(Ess("CreateScalingGroup", RpcParams(g).Set("ClientToken", std::string(65, 'x'))),
              "InvalidParameter", 400, "ClientToken");
}

TEST_F(FakeEssTest, TheGroupLaunchesAnInstanceThatEcsDescribes) {
  std::string id = ActiveGroup("launch", 1);
  Json members = Members(id);
  ASSERT_EQ(members.size(), 1u) << members.dump();
  const Json& m = members[0];
  std::string instance = m["InstanceId"];
  EXPECT_EQ(m["ScalingGroupId"], id);
  EXPECT_EQ(m["ScalingConfigurationId"], Group(id)["ActiveScalingConfigurationId"]);
  EXPECT_EQ(m["ZoneId"], "cn-hangzhou-g");  // the first vSwitch
  EXPECT_EQ(m["SpotStrategy"], "SpotAsPriceGo");
  EXPECT_EQ(m["CreationType"], "AutoCreated");
  EXPECT_EQ(m["HealthStatus"], "Healthy");
  EXPECT_TRUE(m["LifecycleState"] == "Pending" || m["LifecycleState"] == "InService") << m.dump();
  EXPECT_TRUE(std::regex_match(m["CreationTime"].get<std::string>(),
                               std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ")));
  EXPECT_TRUE(std::regex_match(m["CreatedTime"].get<std::string>(),
                               std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ")));
  ASSERT_TRUE(WaitUntil([&] { return Members(id)[0]["LifecycleState"] == "InService"; }));
  EXPECT_EQ(Group(id)["TotalCapacity"], 1);
  EXPECT_EQ(Group(id)["ActiveCapacity"], 1);

  // ECS knows it: the configuration's type, image, role and tags.
  Result<Json> ecs =
      client_->Call(AliyunService::kEcs, "DescribeInstances",
                    RpcParams().Set("RegionId", kRegion).Set("InstanceIds", Json{instance}.dump()));
  ASSERT_TRUE(ecs.ok()) << ecs.status().ToString();
  Json list = AliyunList(*ecs, "Instances", "Instance");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["Status"], "Running");
  EXPECT_EQ(list[0]["InstanceType"], kGpu);
  EXPECT_EQ(list[0]["ImageId"], kImage);
  EXPECT_EQ(list[0]["InstanceName"], "baton-run");
  EXPECT_EQ(list[0]["SpotStrategy"], "SpotAsPriceGo");
  EXPECT_EQ(list[0]["VpcAttributes"]["VSwitchId"], "vsw-g");
  EXPECT_EQ(list[0]["Tags"]["Tag"], Json::parse(R"([{"TagKey": "baton:run", "TagValue": "run"},
                                                    {"TagKey": "team", "TagValue": "ml"}])"));
  std::optional<FakeInstanceSnapshot> snap = Snapshot(instance);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->scaling_group_id, id);
  EXPECT_EQ(snap->run_params.value("RamRoleName", ""), "BatonInstanceRole");
  // Still one: the group keeps its capacity, it does not add to it.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Live(id).size(), 1u);
}

TEST_F(FakeEssTest, SpotFirstAlongTheVSwitchesThenTheInstanceTypes) {
  // Zone g has no spot: spot in zone h (the second vSwitch).
  fake_->SetStock("cn-hangzhou-g", /*spot=*/true, false);
  std::string id = ActiveGroup("order", 1, RpcParams().Set("MaxSize", 3),
                               RpcParams().SetList("InstanceTypes", {kSmall, kGpu}));
  std::vector<FakeInstanceSnapshot> live = Live(id);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].zone_id, "cn-hangzhou-h");
  EXPECT_EQ(live[0].instance_type, kSmall);  // the first type zone h offers
  EXPECT_EQ(live[0].spot_strategy, "SpotAsPriceGo");
  // Spot back in zone g, which offers only the second type: the vSwitch's order comes first.
  fake_->SetStock("cn-hangzhou-g", /*spot=*/true, true);
  SetDesired(id, 2);
  live = Live(id);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[1].zone_id, "cn-hangzhou-g");
  EXPECT_EQ(live[1].instance_type, kGpu);
}

TEST_F(FakeEssTest, OnDemandCompensatesWhenNoSpotIsLeft) {
  for (const char* zone : {"cn-hangzhou-g", "cn-hangzhou-h"}) fake_->SetStock(zone, true, false);
  std::string id = ActiveGroup("compensated", 1, RpcParams().Set("SpotInstanceRemedy", false));
  std::vector<FakeInstanceSnapshot> live = Live(id);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].spot_strategy, "NoSpot");
  EXPECT_EQ(live[0].zone_id, "cn-hangzhou-g");
  EXPECT_EQ(Members(id)[0]["SpotStrategy"], "NoSpot");
  EXPECT_EQ(Ok("DescribeScalingInstances",
               RpcParams().Set("RegionId", kRegion).Set("ScalingGroupId", id))["TotalSpotCount"],
            0);

  // Without compensation nothing launches until spot comes back.
  std::string strict = ActiveGroup("strict", 1,
                                   RpcParams()
                                       .Set("CompensateWithOnDemand", false)
                                       .Set("CapacityOptions.CompensateWithOnDemand", false));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(Live(strict).empty());
  EXPECT_EQ(Group(strict)["CompensateWithOnDemand"], false);
  fake_->SetStock("cn-hangzhou-h", true, true);
  ASSERT_TRUE(WaitUntil([&] { return Live(strict).size() == 1; }));
  EXPECT_EQ(Live(strict)[0].spot_strategy, "SpotAsPriceGo");
  EXPECT_EQ(Live(strict)[0].zone_id, "cn-hangzhou-h");
}

TEST_F(FakeEssTest, SpotAutoReplaceOnDemandGoesBackToSpot) {
  for (const char* zone : {"cn-hangzhou-g", "cn-hangzhou-h"}) fake_->SetStock(zone, true, false);
  std::string id = ActiveGroup("back-to-spot", 1);
  ASSERT_EQ(Live(id).size(), 1u);
  const std::string on_demand = Live(id)[0].instance_id;
  EXPECT_EQ(Live(id)[0].spot_strategy, "NoSpot");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Live(id).size(), 1u);  // no spot to replace it with

  fake_->SetStock("cn-hangzhou-h", true, true);
  // A spot instance launches, and once it runs the on-demand one is released.
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<FakeInstanceSnapshot> live = Live(id);
    return live.size() == 1 && live[0].spot_strategy == "SpotAsPriceGo";
  }));
  EXPECT_EQ(Live(id)[0].zone_id, "cn-hangzhou-h");
  EXPECT_EQ(Snapshot(on_demand)->status, "Deleted");
  Json members = Members(id);
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0]["InstanceId"], Live(id)[0].instance_id);

  // Without SpotAutoReplaceOnDemand an on-demand member stays.
  for (const char* zone : {"cn-hangzhou-g", "cn-hangzhou-h"}) fake_->SetStock(zone, true, false);
  std::string stays =
      ActiveGroup("stays", 1, RpcParams().Set("CapacityOptions.SpotAutoReplaceOnDemand", false));
  fake_->SetStock("cn-hangzhou-g", true, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(Live(stays).size(), 1u);
  EXPECT_EQ(Live(stays)[0].spot_strategy, "NoSpot");
}

TEST_F(FakeEssTest, SpotInstanceRemedyReplacesAReclaimedInstanceAtOnce) {
  std::string id = ActiveGroup("remedy", 1);
  ASSERT_EQ(Live(id).size(), 1u);
  const std::string first = Live(id)[0].instance_id;
  ASSERT_TRUE(WaitUntil([&] { return Snapshot(first)->status == "Running"; }));
  ASSERT_TRUE(fake_->Reclaim(first).ok());
  // The replacement exists when Reclaim returns; the reclaimed one is Removing until its notice
  // (1 s) runs out.
  std::vector<FakeInstanceSnapshot> live = Live(id);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_TRUE(live[0].recycling);
  Json members = Members(id);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0]["LifecycleState"], "Removing");
  EXPECT_EQ(Group(id)["RemovingCapacity"], 1);
  ASSERT_TRUE(WaitUntil([&] { return Live(id).size() == 1; }));
  EXPECT_NE(Live(id)[0].instance_id, first);
  EXPECT_EQ(Snapshot(first)->status, "Reclaimed");
  EXPECT_EQ(Members(id).size(), 1u);

  // Without the remedy the reclaimed instance counts until it is gone.
  std::string plain = ActiveGroup("no-remedy", 1, RpcParams().Set("SpotInstanceRemedy", false));
  const std::string victim = Live(plain)[0].instance_id;
  ASSERT_TRUE(WaitUntil([&] { return Snapshot(victim)->status == "Running"; }));
  ASSERT_TRUE(fake_->Reclaim(victim).ok());
  EXPECT_EQ(Live(plain).size(), 1u);
  EXPECT_EQ(Members(plain)[0]["LifecycleState"], "InService");
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<FakeInstanceSnapshot> l = Live(plain);
    return l.size() == 1 && l[0].instance_id != victim;
  }));
}

TEST_F(FakeEssTest, LowerDesiredCapacityReleasesByRemovalPolicy) {
  std::string id = ActiveGroup("shrink", 0, RpcParams().Set("MaxSize", 3));
  SetDesired(id, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // distinct creation times
  SetDesired(id, 2);
  std::vector<FakeInstanceSnapshot> live = Live(id);
  ASSERT_EQ(live.size(), 2u);
  const std::string oldest = live[0].instance_id, newest = live[1].instance_id;
  // The default policy (OldestScalingConfiguration, then OldestInstance) takes the oldest.
  SetDesired(id, 1);
  ASSERT_EQ(Live(id).size(), 1u);
  EXPECT_EQ(Live(id)[0].instance_id, newest);
  EXPECT_EQ(Snapshot(oldest)->status, "Deleted");
  // NewestInstance takes the newest.
  Ok("ModifyScalingGroup",
     RpcParams().Set("ScalingGroupId", id).SetList("RemovalPolicy", {"NewestInstance"}));
  SetDesired(id, 2);
  const std::string added = Live(id)[1].instance_id;
  SetDesired(id, 1);
  ASSERT_EQ(Live(id).size(), 1u);
  EXPECT_EQ(Live(id)[0].instance_id, newest);
  EXPECT_EQ(Snapshot(added)->status, "Deleted");
  // Desired 0 releases everything.
  SetDesired(id, 0);
  EXPECT_TRUE(Live(id).empty());
  EXPECT_TRUE(Members(id).empty());
  EXPECT_EQ(Group(id)["TotalCapacity"], 0);
}

TEST_F(FakeEssTest, DeleteNeedsForceDeleteWhileInstancesAreIn) {
  std::string id = ActiveGroup("deleted", 1);
  ASSERT_EQ(Live(id).size(), 1u);
  const std::string instance = Live(id)[0].instance_id;
  ExpectError(Ess("DeleteScalingGroup", RpcParams().Set("ScalingGroupId", id)), "InstanceInUse",
              400);
  Ok("DeleteScalingGroup", RpcParams().Set("ScalingGroupId", id).Set("ForceDelete", true));
  EXPECT_TRUE(Group(id).is_null());
  EXPECT_EQ(Snapshot(instance)->status, "Deleted");
  EXPECT_EQ(Ok("DescribeScalingConfigurations", RpcParams().Set("RegionId", kRegion))["TotalCount"],
            0);
  ExpectError(Ess("DeleteScalingGroup", RpcParams().Set("ScalingGroupId", id)),
              "InvalidScalingGroupId.NotFound", 404);
  // An empty group goes without ForceDelete.
  std::string empty = ActiveGroup("empty", 0);
  Ok("DeleteScalingGroup", RpcParams().Set("ScalingGroupId", empty));
  EXPECT_TRUE(Group(empty).is_null());
}

TEST_F(FakeEssTest, FailNextWithAnswersAnyErrorOnce) {
  std::string id = CreateGroup(GroupParams("faulty"));
  fake_->FailNextWith("CreateScalingConfiguration", 1, 403, "Forbidden.RAM",
                      "User not authorized to operate on the specified resource.");
  const uint64_t before = client_->attempts();
  ExpectError(Ess("CreateScalingConfiguration", ConfigurationParams(id)), "Forbidden.RAM", 403);
  EXPECT_EQ(client_->attempts(), before + 1);  // not retried
  CreateConfiguration(ConfigurationParams(id));
}

// `baton fleet up`'s calls (fleet/aliyun_ess.h) against the fake: what they make, that a second
// up creates nothing, scale to zero and delete.
TEST_F(FakeEssTest, TheAliyunEssClientAgainstTheFake) {
  const std::string yaml =
      "name: ess-unit\nmodel: /m\ndatasets: [/d.jsonl]\nstore: /tmp/none\n"
      "fleet:\n  provider: aliyun-ess\n  policy: spot-first\n  offers:\n"
      "    - {instance_type: ecs.gn7i-c8g1.2xlarge, zones: [cn-hangzhou-g, cn-hangzhou-h], "
      "spot: 3.5, on_demand: 10, spot_price_limit: 6}\n"
      "  aliyun:\n    region: cn-hangzhou\n    image_id: m-baton\n    security_group_id: sg-baton\n"
      "    vswitches: {cn-hangzhou-g: vsw-g, cn-hangzhou-h: vsw-h}\n"
      "    ram_role: BatonInstanceRole\n    system_disk_gb: 100\n    tags: {team: ml}\n";
  Result<JobSpec> job = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(job->fleet);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  fleet::EssUpOptions o;
  o.run = "ess-unit";
  o.job_url = "oss://bucket/run/fleet/job.yaml";
  std::vector<std::string> made;
  Result<fleet::EssGroup> group = fleet::EssUp(*spec, client_.get(), o, &made);
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(made.size(), 4u) << fmt::format("{}", fmt::join(made, "\n"));
  Json g = Group(group->id);
  EXPECT_EQ(g["LifecycleState"], "Active");
  EXPECT_EQ(g["DesiredCapacity"], 1);
  std::vector<FakeInstanceSnapshot> live = Live(group->id);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].spot_strategy, "SpotWithPriceLimit");

  made.clear();
  ASSERT_TRUE(fleet::EssUp(*spec, client_.get(), o, &made).ok());
  EXPECT_EQ(fake_->SuccessfulParams("CreateScalingGroup").size(), 1u);
  EXPECT_EQ(fake_->SuccessfulParams("CreateScalingConfiguration").size(), 1u);
  EXPECT_EQ(fake_->SuccessfulParams("ModifyScalingConfiguration").size(), 1u);
  EXPECT_EQ(Live(group->id).size(), 1u);

  Result<std::vector<fleet::EssInstance>> members =
      fleet::ListEssInstances(client_.get(), kRegion, group->id);
  ASSERT_TRUE(members.ok()) << members.status().ToString();
  ASSERT_EQ(members->size(), 1u);
  EXPECT_TRUE((*members)[0].spot);
  EXPECT_EQ((*members)[0].zone, "cn-hangzhou-g");

  ASSERT_TRUE(fleet::EssScaleToZero(client_.get(), kRegion, "ess-unit").ok());
  EXPECT_TRUE(Live(group->id).empty());
  ASSERT_TRUE(fleet::EssDeleteGroup(client_.get(), group->id).ok());
  Result<std::optional<fleet::EssGroup>> gone =
      fleet::FindEssGroup(client_.get(), kRegion, "ess-unit");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(fleet::EssDeleteGroup(client_.get(), group->id).ok());  // gone already: fine
}

}  // namespace
}  // namespace baton
