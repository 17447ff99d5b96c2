// The fake ECS's instances (tests/fake_aliyun.h, fake_ecs.cc, fake_ecs_host.h) through the real
// client (cloud/aliyun_api.h), as tests/aliyun_interop_test.cc talks to the fake: RunInstances,
// DescribeInstances, DeleteInstance and DescribeAvailableResource in the shapes of
// shared/notes/cloud-apis.md 2.1 and 2.3, stock per zone and billing, spot reclaims with their
// notice, and the instances' processes (a shell script plays the agent here; the real `baton
// agent` is in FakeEcsAgentTest, label e2e). Waits poll with generous timeouts: nothing depends
// on how fast this machine is.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <thread>

#include "cloud/agent_service.h"
#include "base/process_contract.h"
#include "cloud/aliyun_api.h"
#include "cloud/metadata_time.h"
#include "fake_aliyun.h"
#include "fake_aliyun_client.h"
#include "net/http_client.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::FakeAliyun;
using testing::FakeAliyunOptions;
using testing::FakeInstanceSnapshot;

constexpr char kRegion[] = "cn-hangzhou";
constexpr char kGpu[] = "ecs.gn7i-c8g1.2xlarge";
constexpr char kImage[] = "ubuntu_22_04_x64_20G_alibase_20240130.vhd";
constexpr char kGroup[] = "sg-bp1baton";

std::string Base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(n);
  return out;
}

// Polls `done` every 20 ms for up to `timeout_s`.
bool WaitFor(const std::function<bool()>& done, double timeout_s = 30) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string ReadText(const std::string& path) {
  Result<std::string> text = Env::Default()->ReadFile(path);
  return text.ok() ? *text : "";
}

FakeAliyunOptions EcsOptions() {
  FakeAliyunOptions o;
  o.credentials = {{"LTAI-ecs-test", "ecs-test-secret", ""}};
  o.regions = {
      {kRegion,
       "China (Hangzhou)",
       {{"cn-hangzhou-g", "Zone G", {kGpu}, {"vsw-g1"}},
        {"cn-hangzhou-h", "Zone H", {kGpu, "ecs.g7.large"}, {"vsw-h1", "vsw-h2"}}}},
      {"cn-shanghai", "China (Shanghai)", {{"cn-shanghai-l", "Zone L", {kGpu}, {"vsw-l1"}}}}};
  o.image_ids = {kImage};
  o.security_group_ids = {kGroup};
  o.host.notice_seconds = 1;
  return o;
}

// What a spot-first provider sends, for a GPU in `vswitch`.
RpcParams RunParams(const std::string& vswitch, bool spot = true) {
  RpcParams p;
  p.Set("RegionId", kRegion)
      .Set("ImageId", kImage)
      .Set("InstanceType", kGpu)
      .Set("SecurityGroupId", kGroup)
      .Set("VSwitchId", vswitch)
      .Set("InstanceChargeType", "PostPaid")
      .Set("SpotStrategy", spot ? "SpotAsPriceGo" : "NoSpot");
  return p;
}

class FakeEcsTest : public testing::FakeAliyunClientTest {
 protected:
  void SetUp() override { StartFake(EcsOptions()); }

  Result<Json> Ecs(const std::string& action, const RpcParams& params) {
    return Call(AliyunService::kEcs, action, params);
  }
  // RunInstances' one new id ("" on an error).
  std::string Run(const RpcParams& params) {
    Result<Json> r = Ecs("RunInstances", params);
    if (!r.ok()) return "";
    Json ids = AliyunList(*r, "InstanceIdSets", "InstanceIdSet");
    return ids.size() == 1 ? ids[0].get<std::string>() : "";
  }
  Json Describe(RpcParams params = {}) {
    params.Set("RegionId", kRegion);
    Result<Json> r = Ecs("DescribeInstances", params);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Json::object();
  }
  Json DescribeOne(const std::string& id) {
    Json list = AliyunList(Describe(RpcParams().Set("InstanceIds", Json{id}.dump())), "Instances",
                           "Instance");
    return list.size() == 1 ? list[0] : Json();
  }
};

TEST_F(FakeEcsTest, RunThenDescribeByTagShowsItRunningWithItsFields) {
  RpcParams p = RunParams("vsw-h2");
  p.Set("ZoneId", "cn-hangzhou-h")
      .Set("InstanceName", "baton-run1-0")
      .Set("HostName", "baton-host")
      .Set("RamRoleName", "baton-trainer")
      .SetStructList("Tag", {RpcParams().Set("Key", "baton-run").Set("Value", "run1"),
                             RpcParams().Set("Key", "team").Set("Value", "ml")});
  Result<Json> run = Ecs("RunInstances", p);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  Json ids = AliyunList(*run, "InstanceIdSets", "InstanceIdSet");
  ASSERT_EQ(ids.size(), 1u) << run->dump();
  std::string id = ids[0];
  EXPECT_TRUE(std::regex_match(id, std::regex("i-[0-9a-f]{20}"))) << id;
  EXPECT_TRUE((*run)["TradePrice"].is_number());
  EXPECT_FALSE(run->value("RequestId", "").empty());

  Json page = Describe(
      RpcParams().SetStructList("Tag", {RpcParams().Set("Key", "baton-run").Set("Value", "run1")}));
  Json list = AliyunList(page, "Instances", "Instance");
  ASSERT_EQ(list.size(), 1u) << page.dump();
  EXPECT_EQ(page["TotalCount"], 1);
  const Json& i = list[0];
  EXPECT_EQ(i["InstanceId"], id);
  EXPECT_EQ(i["Status"], "Running");
  EXPECT_EQ(i["InstanceName"], "baton-run1-0");
  EXPECT_EQ(i["HostName"], "baton-host");
  EXPECT_EQ(i["ZoneId"], "cn-hangzhou-h");
  EXPECT_EQ(i["RegionId"], kRegion);
  EXPECT_EQ(i["InstanceType"], kGpu);
  EXPECT_EQ(i["ImageId"], kImage);
  EXPECT_EQ(i["InstanceChargeType"], "PostPaid");
  EXPECT_EQ(i["SpotStrategy"], "SpotAsPriceGo");
  EXPECT_EQ(i["SpotDuration"], 1);
  EXPECT_EQ(i["VpcAttributes"]["VSwitchId"], "vsw-h2");
  EXPECT_EQ(i["OperationLocks"], (Json{{"LockReason", Json::array()}}));
  EXPECT_EQ(i["Tags"]["Tag"], Json::parse(R"([{"TagKey": "baton-run", "TagValue": "run1"},
                                               {"TagKey": "team", "TagValue": "ml"}])"));
  const std::regex minute("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ");
  EXPECT_TRUE(std::regex_match(i["CreationTime"].get<std::string>(), minute)) << i.dump();
  EXPECT_TRUE(std::regex_match(i["StartTime"].get<std::string>(), minute)) << i.dump();

  // All given tags must match; a key alone matches any value.
  EXPECT_EQ(Describe(RpcParams().SetStructList(
                "Tag", {RpcParams().Set("Key", "baton-run").Set("Value", "run1"),
                        RpcParams().Set("Key", "team").Set("Value", "infra")}))["TotalCount"],
            0);
  EXPECT_EQ(
      Describe(RpcParams().SetStructList("Tag", {RpcParams().Set("Key", "team")}))["TotalCount"],
      1);
  EXPECT_EQ(Describe(RpcParams().Set("ZoneId", "cn-hangzhou-g"))["TotalCount"], 0);
  EXPECT_EQ(Describe(RpcParams().Set("Status", "Running"))["TotalCount"], 1);

  // Its machine: the snapshot, and a metadata service that knows its id and its RAM role.
  std::optional<FakeInstanceSnapshot> s = Snapshot(id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->status, "Running");
  EXPECT_EQ(s->zone_id, "cn-hangzhou-h");
  EXPECT_EQ(s->spot_strategy, "SpotAsPriceGo");
  EXPECT_EQ(s->run_params["InstanceName"], "baton-run1-0");
  EXPECT_FALSE(s->process_alive);  // no baton binary: an API-only fake
  EXPECT_TRUE(s->agent_argv.empty());
  ASSERT_FALSE(s->metadata_url.empty());
  HttpClient http;
  HttpRequest get;
  get.url = s->metadata_url + "/latest/meta-data/instance-id";
  Result<HttpResponse> got = http.Send(get);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, id);
  get.url = s->metadata_url + "/latest/meta-data/ram/security-credentials/baton-trainer";
  got = http.Send(get);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->status, 200);
  EXPECT_EQ(Json::parse(got->body)["AccessKeyId"], EcsOptions().host.ram_role_keys.access_key_id);
}

TEST_F(FakeEcsTest, ClientTokenMakesRunInstancesIdempotent) {
  RpcParams p = RunParams("vsw-g1").Set("ClientToken", "baton-run1-attempt-7");
  Result<Json> first = Ecs("RunInstances", p);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<Json> again = Ecs("RunInstances", p);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)["InstanceIdSets"], (*first)["InstanceIdSets"]);
  EXPECT_NE((*again)["RequestId"], (*first)["RequestId"]);
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 1u);
  // Same token, other parameters.
  ExpectError(Ecs("RunInstances", RpcParams(p).Set("InstanceName", "other")),
              "IdempotentParameterMismatch", 400);
  // Another token is another request.
  EXPECT_FALSE(Run(RpcParams(p).Set("ClientToken", "baton-run1-attempt-8")).empty());
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 2u);
  ExpectError(Ecs("RunInstances", RpcParams(p).Set("ClientToken", std::string(65, 'x'))),
              "InvalidParameter", 400, "ClientToken");
}

TEST_F(FakeEcsTest, NoStockPerZoneAndBilling) {
  fake_->SetStock("cn-hangzhou-h", /*spot=*/true, /*available=*/false);
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1")), "OperationDenied.NoStock", 403);
  EXPECT_FALSE(Run(RunParams("vsw-h1", /*spot=*/false)).empty());  // on-demand is there
  EXPECT_FALSE(Run(RunParams("vsw-g1")).empty());                  // and spot in zone G

  // DescribeAvailableResource says the same.
  Result<Json> spot_stock =
      Ecs("DescribeAvailableResource", RpcParams()
                                           .Set("RegionId", kRegion)
                                           .Set("DestinationResource", "InstanceType")
                                           .Set("InstanceChargeType", "PostPaid")
                                           .Set("SpotStrategy", "SpotAsPriceGo")
                                           .Set("InstanceType", kGpu));
  ASSERT_TRUE(spot_stock.ok()) << spot_stock.status().ToString();
  Json zones = AliyunList(*spot_stock, "AvailableZones", "AvailableZone");
  ASSERT_EQ(zones.size(), 2u) << spot_stock->dump();
  EXPECT_EQ(zones[0]["ZoneId"], "cn-hangzhou-g");
  EXPECT_EQ(zones[0]["Status"], "Available");
  EXPECT_EQ(zones[1]["Status"], "SoldOut");
  EXPECT_EQ(zones[1]["StatusCategory"], "WithoutStock");
  const Json& supported = zones[1]["AvailableResources"]["AvailableResource"][0]
                               ["SupportedResources"]["SupportedResource"];
  EXPECT_EQ(supported, Json::parse(R"([{"Value": "ecs.gn7i-c8g1.2xlarge", "Status": "SoldOut",
                                        "StatusCategory": "WithoutStock"}])"));

  fake_->SetStock("cn-hangzhou-g", /*spot=*/false, /*available=*/false);
  ExpectError(Ecs("RunInstances", RunParams("vsw-g1", false)), "OperationDenied.NoStock", 403);
  EXPECT_FALSE(Run(RunParams("vsw-g1", true)).empty());
  fake_->SetStock("cn-hangzhou-h", true, true);
  EXPECT_FALSE(Run(RunParams("vsw-h1")).empty());
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 4u);
}

TEST_F(FakeEcsTest, DryRunValidatesWithoutCreating) {
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("DryRun", true)), "DryRunOperation", 400);
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("DryRun", true).Set("ImageId", "x")),
              "InvalidParameter", 400, "ImageId");
  fake_->SetStock("cn-hangzhou-h", true, false);
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("DryRun", true)),
              "OperationDenied.NoStock", 403);
  EXPECT_TRUE(fake_->InstancesSnapshot().empty());
}

TEST_F(FakeEcsTest, ParameterErrorsNameTheParameter) {
  RpcParams no_vswitch = RunParams("vsw-h1");
  no_vswitch.Erase("VSwitchId");
  ExpectError(Ecs("RunInstances", no_vswitch), "MissingParameter", 400, "VSwitchId");
  RpcParams no_image = RunParams("vsw-h1");
  no_image.Erase("ImageId");
  ExpectError(Ecs("RunInstances", no_image), "MissingParameter", 400, "ImageId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("ImageId", "centos_6")),
              "InvalidParameter", 400, "ImageId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("SecurityGroupId", "sg-other")),
              "InvalidParameter", 400, "SecurityGroupId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-nowhere")), "InvalidParameter", 400, "VSwitchId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-l1")), "InvalidParameter", 400, "VSwitchId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("ZoneId", "cn-hangzhou-g")),
              "InvalidParameter", 400, "ZoneId");
  ExpectError(Ecs("RunInstances", RunParams("vsw-g1").Set("InstanceType", "ecs.g7.large")),
              "InvalidParameter", 400, "InstanceType");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("SpotStrategy", "SpotWithPriceLimit")),
              "MissingParameter", 400, "SpotPriceLimit");
  ExpectError(
      Ecs("RunInstances",
          RunParams("vsw-h1").Set("SpotStrategy", "SpotWithPriceLimit").Set("SpotPriceLimit", "0")),
      "InvalidParameter", 400, "SpotPriceLimit");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("SpotStrategy", "Cheap")),
              "InvalidParameter", 400, "SpotStrategy");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("InstanceChargeType", "PrePaid")),
              "InvalidParameter", 400, "InstanceChargeType");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("Amount", 101)), "InvalidParameter", 400,
              "Amount");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("UserData", "not base64!")),
              "InvalidParameter", 400, "UserData");
  ExpectError(
      Ecs("RunInstances", RunParams("vsw-h1").Set("UserData", Base64(std::string(16385, 'x')))),
      "InvalidParameter", 400, "UserData");
  // A name the fake does not know (a typo in a client) is refused, not ignored.
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("VSwitchID", "vsw-h1")),
              "InvalidParameter", 400, "VSwitchID");
  ExpectError(Ecs("RunInstances", RunParams("vsw-h1").Set("RegionId", "mars-1")),
              "InvalidRegionId.NotFound", 404);
  ExpectError(
      Ecs("DescribeInstances", RpcParams().Set("RegionId", kRegion).Set("InstanceIds", "i-a,i-b")),
      "InvalidParameter", 400, "InstanceIds");
  ExpectError(Ecs("DescribeInstances", RpcParams().Set("RegionId", kRegion).Set("PageSize", 101)),
              "InvalidParameter", 400, "PageSize");
  ExpectError(Ecs("DescribeInstances", RpcParams()), "MissingParameter", 400, "RegionId");
  ExpectError(Ecs("DeleteInstance", RpcParams()), "MissingParameter", 400, "InstanceId");
  EXPECT_TRUE(fake_->InstancesSnapshot().empty());
  // At the limits, accepted: 16 KB of user-data, 100 instances in one call.
  EXPECT_FALSE(Run(RunParams("vsw-h1").Set("UserData", Base64(std::string(16384, 'x')))).empty());
  EXPECT_TRUE(Ecs("RunInstances", RunParams("vsw-h1").Set("Amount", 100)).ok());
  EXPECT_EQ(fake_->InstancesSnapshot().size(), 101u);
}

TEST_F(FakeEcsTest, InstanceIdsFilterAndPagingBothWays) {
  Result<Json> seven = Ecs("RunInstances", RunParams("vsw-h1").Set("Amount", 7));
  ASSERT_TRUE(seven.ok()) << seven.status().ToString();
  std::vector<std::string> ids =
      AliyunList(*seven, "InstanceIdSets", "InstanceIdSet").get<std::vector<std::string>>();
  ASSERT_EQ(ids.size(), 7u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 7u);
  ids.push_back(Run(RunParams("vsw-g1")));

  Json some = Describe(RpcParams().Set("InstanceIds", Json{ids[1], ids[7], "i-unknown"}.dump()));
  EXPECT_EQ(some["TotalCount"], 2);
  Json listed = AliyunList(some, "Instances", "Instance");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["InstanceId"], ids[1]);
  EXPECT_EQ(listed[1]["InstanceId"], ids[7]);
  EXPECT_EQ(Describe(RpcParams().Set("ZoneId", "cn-hangzhou-g"))["TotalCount"], 1);

  // Both ways, three pages of 3, 3 and 2 ids.
  std::vector<std::string> seen;
  std::vector<Json> pages;
  std::function<void()> after_first_page = [] {};
  auto collect = [&](const Json& page) {
    pages.push_back(page);
    for (const Json& i : AliyunList(page, "Instances", "Instance")) {
      seen.push_back(i["InstanceId"]);
    }
    if (pages.size() == 1) after_first_page();
    return Status::Ok();
  };
  Status s = PaginatePages(client_.get(), AliyunService::kEcs, "DescribeInstances",
                           RpcParams().Set("RegionId", kRegion), 3, collect);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[2]["TotalCount"], 8);
  EXPECT_EQ(pages[2]["PageNumber"], 3);
  EXPECT_EQ(pages[2]["PageSize"], 3);
  EXPECT_EQ(seen, ids);

  // NextToken / MaxResults; an instance deleted between pages makes the later ones skip nothing.
  seen.clear();
  pages.clear();
  after_first_page = [&] {
    EXPECT_TRUE(
        Ecs("DeleteInstance", RpcParams().Set("InstanceId", ids[0]).Set("Force", true)).ok());
  };
  s = PaginateNextToken(client_.get(), AliyunService::kEcs, "DescribeInstances",
                        RpcParams().Set("RegionId", kRegion), 3, collect);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_FALSE(pages[0].contains("PageNumber"));
  EXPECT_EQ(pages[0]["TotalCount"], 8);
  EXPECT_EQ(pages[2]["TotalCount"], 7);
  EXPECT_EQ(pages[2]["NextToken"], "");
  EXPECT_EQ(seen, ids);
  ExpectError(Ecs("DescribeInstances", RpcParams().Set("RegionId", kRegion).Set("NextToken", "zz")),
              "InvalidParameter", 400, "NextToken");
}

TEST_F(FakeEcsTest, DeleteNeedsForceForARunningInstance) {
  std::string id = Run(RunParams("vsw-h1", false));
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(DescribeOne(id)["Status"], "Running");
  ExpectError(Ecs("DeleteInstance", RpcParams().Set("InstanceId", id)), "IncorrectInstanceStatus",
              403);
  ExpectError(Ecs("DeleteInstance", RpcParams().Set("InstanceId", id).Set("Force", false)),
              "IncorrectInstanceStatus", 403);
  Result<Json> deleted =
      Ecs("DeleteInstance", RpcParams().Set("InstanceId", id).Set("Force", true));
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_FALSE(deleted->value("RequestId", "").empty());
  EXPECT_TRUE(DescribeOne(id).is_null());
  EXPECT_EQ(Describe()["TotalCount"], 0);
  ExpectError(Ecs("DeleteInstance", RpcParams().Set("InstanceId", id).Set("Force", true)),
              "InvalidInstanceId.NotFound", 404);
  std::optional<FakeInstanceSnapshot> s = Snapshot(id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->status, "Deleted");
  EXPECT_GE(s->released_unix_ms, s->created_unix_ms);
  EXPECT_GT(s->released_unix_ms, 0);
}

TEST_F(FakeEcsTest, ReclaimGivesTheNoticeThenTheInstanceIsGone) {
  std::string id = Run(RunParams("vsw-h1"));
  std::string od = Run(RunParams("vsw-h1", false));
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(DescribeOne(id)["Status"], "Running");
  EXPECT_EQ(fake_->Reclaim(od).code(), StatusCode::kFailedPrecondition);  // on-demand
  EXPECT_EQ(fake_->Reclaim("i-unknown").code(), StatusCode::kNotFound);

  int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(fake_->Reclaim(id).ok());
  EXPECT_EQ(fake_->Reclaim(id).code(), StatusCode::kFailedPrecondition);  // already
  std::string metadata = Snapshot(id)->metadata_url;
  // DescribeInstances shows the lock until the instance goes (it may already have: the notice is
  // a second, and this machine may be slow).
  Json during = DescribeOne(id);
  if (!during.is_null()) {
    EXPECT_EQ(during["OperationLocks"]["LockReason"][0]["LockReason"], "Recycling");
    EXPECT_EQ(during["Status"], "Running");
    Json locked = Describe(RpcParams().Set("LockReason", "recycling"));
    EXPECT_LE(locked["TotalCount"].get<int>(), 1);
    EXPECT_EQ(AliyunList(DescribeOne(od)["OperationLocks"], "LockReason", "x").size(), 0u);
  }
  // The instance's metadata service gives the release time, whole seconds, about a second ahead.
  HttpClient http;
  HttpRequest get;
  get.url = metadata + "/latest/meta-data/instance/spot/termination-time";
  get.total_timeout_ms = 2000;
  Result<HttpResponse> notice = http.Send(get);
  if (notice.ok() && notice->status == 200) {
    Result<int64_t> at = ParseRfc3339Ms(notice->body);
    ASSERT_TRUE(at.ok()) << notice->body;
    EXPECT_GE(*at, before_ms / 1000 * 1000);
    EXPECT_LE(*at, before_ms + 60000);
  } else {
    // Only possible when the notice already ran out and the machine is gone.
    EXPECT_EQ(Snapshot(id)->status, "Reclaimed");
  }
  ASSERT_TRUE(WaitFor([&] { return DescribeOne(id).is_null(); }));
  EXPECT_EQ(Snapshot(id)->status, "Reclaimed");
  EXPECT_EQ(Snapshot(od)->status, "Running");
  ExpectError(Ecs("DeleteInstance", RpcParams().Set("InstanceId", id).Set("Force", true)),
              "InvalidInstanceId.NotFound", 404);
}

TEST_F(FakeEcsTest, ReclaimWithoutNoticeAndSlowBoots) {
  FakeAliyunOptions o = EcsOptions();
  o.host.notice_seconds = 0;
  o.host.boot_seconds = 3600;
  StartFake(o);
  std::string id = Run(RunParams("vsw-g1"));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(DescribeOne(id)["Status"], "Pending");
  EXPECT_EQ(DescribeOne(id)["StartTime"], "");
  EXPECT_EQ(Describe(RpcParams().Set("Status", "Running"))["TotalCount"], 0);
  EXPECT_TRUE(Snapshot(id)->metadata_url.empty());  // not booted: no machine yet
  ASSERT_TRUE(fake_->Reclaim(id).ok());
  EXPECT_TRUE(DescribeOne(id).is_null());  // notice 0: gone at once
  EXPECT_EQ(Snapshot(id)->status, "Reclaimed");
}

TEST(FakeEcsHostTest, AgentArgsFromUserData) {
  ServiceOptions svc;
  svc.job = "/jobs/a b's.yaml";
  Result<std::vector<std::string>> args =
      testing::AgentArgsFromUserData(CloudInitUserData(svc, "https://example.com/baton").value());
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(*args, (std::vector<std::string>{"agent", "--job", "/jobs/a b's.yaml"}));

  args = testing::AgentArgsFromUserData(
      "[Service]\n  ExecStart=-/opt/baton agent --job \"s3://b/j.yaml\" --handoff\r\n");
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(*args, (std::vector<std::string>{"agent", "--job", "s3://b/j.yaml", "--handoff"}));
  args = testing::AgentArgsFromUserData("ExecStart=/usr/bin/true\nExecStart=/b agent --job=x\n");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->back(), "--job=x");

  EXPECT_FALSE(testing::AgentArgsFromUserData("#!/bin/sh\nbaton agent --job x\n").ok());
  EXPECT_FALSE(testing::AgentArgsFromUserData("ExecStart=/b agent --handoff\n").ok());
  EXPECT_FALSE(testing::AgentArgsFromUserData("ExecStart=/b agent --job 'x\n").ok());
}

TEST(FakeEcsHostTest, DecodeBase64) {
  for (std::string raw : {"", "M", "Ma", "Man", "#cloud-config\n\xff\x01"}) {
    Result<std::string> back = testing::DecodeBase64(Base64(raw));
    ASSERT_TRUE(back.ok()) << raw;
    EXPECT_EQ(*back, raw);
  }
  EXPECT_EQ(*testing::DecodeBase64("TWFu\nTWE=\r\n"), "ManMa");
  for (const char* bad : {"TWE", "TW=u", "T===", "TWF!", "====", "TWE=TWFu"}) {
    EXPECT_FALSE(testing::DecodeBase64(bad).ok()) << bad;
  }
}

// A shell script in the agent's place: it shows its argv, environment and folder, then ticks.
class FakeEcsProcessTest : public FakeEcsTest {
 protected:
  void SetUp() override {
    std::string script = tmp_.Sub("fake-baton");
    std::ofstream(script) << fmt::format(
        "#!/bin/sh\n"
        "echo \"argv: $*\"\n"
        "echo \"metadata=${meta}\"\n"
        "echo \"cloud=${cloud}\"\n"
        "echo \"cache=${cache}\"\n"
        "echo \"instance-id=${id}\"\n"
        "echo \"poll=${poll}\"\n"
        "echo \"cwd=$(pwd)\"\n"
        "while :; do echo tick >> ticks; sleep 0.05; done\n",
        fmt::arg("meta", EnvVarName(EnvVar::kMetadataUrl)),
        fmt::arg("cloud", EnvVarName(EnvVar::kCloud)),
        fmt::arg("cache", EnvVarName(EnvVar::kCacheDir)),
        fmt::arg("id", EnvVarName(EnvVar::kInstanceId)),
        fmt::arg("poll", EnvVarName(EnvVar::kNoticePollMs)));
    chmod(script.c_str(), 0755);
    FakeAliyunOptions o = EcsOptions();
    o.host.baton_binary = script;
    o.host.work_dir = tmp_.Sub("fleet");
    o.host.extra_env = {{EnvVarName(EnvVar::kNoticePollMs), "100"}};
    env_.Set(EnvVar::kInstanceId, "leaked-from-the-test-process");
    StartFake(o);
  }

  // The instances' processes go before the folder they write in.
  void TearDown() override { fake_.reset(); }

  std::string UserData(const std::string& job) {
    ServiceOptions svc;
    svc.job = job;
    return Base64(CloudInitUserData(svc, "https://example.com/baton").value());
  }

  testing::ScopedEnv env_;
  testing::ScopedTempDir tmp_;
};

// The state letter of /proc/<pid>/stat: 'T' when stopped.
char ProcState(pid_t pid) {
  std::string stat = ReadText(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

TEST_F(FakeEcsProcessTest, TheUserDataStartsItsAgentWhichCanBePausedAndIsKilledOnReclaim) {
  std::string id = Run(RunParams("vsw-h1").Set("UserData", UserData("/jobs/run 1.yaml")));
  ASSERT_FALSE(id.empty());
  std::optional<FakeInstanceSnapshot> s = Snapshot(id);
  ASSERT_TRUE(s.has_value());
  std::string dir = tmp_.Sub("fleet/instances/" + id);
  EXPECT_EQ(s->agent_log, dir + "/agent.log");
  ASSERT_TRUE(WaitFor([&] { return ReadText(s->agent_log).find("cwd=") != std::string::npos; }))
      << ReadText(s->agent_log);
  std::string log = ReadText(s->agent_log);
  EXPECT_NE(log.find("argv: agent --job /jobs/run 1.yaml\n"), std::string::npos) << log;
  EXPECT_EQ(s->agent_argv, (std::vector<std::string>{tmp_.Sub("fake-baton"), "agent", "--job",
                                                     "/jobs/run 1.yaml"}));
  EXPECT_NE(log.find("metadata=" + s->metadata_url + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("cloud=alibaba\n"), std::string::npos) << log;
  EXPECT_NE(log.find("cache=" + dir + "/cache\n"), std::string::npos) << log;
  EXPECT_NE(log.find("instance-id=\n"), std::string::npos) << "learnt from metadata: " << log;
  EXPECT_NE(log.find("poll=100\n"), std::string::npos) << log;
  EXPECT_NE(log.find("cwd=" + dir + "\n"), std::string::npos) << log;
  EXPECT_TRUE(s->process_alive);

  // Paused: the group is stopped and the ticks stand still; resumed, they go on.
  ASSERT_TRUE(fake_->PauseInstance(id).ok());
  ASSERT_TRUE(WaitFor([&] { return ProcState(s->pid) == 'T'; })) << ProcState(s->pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a tick being written lands
  std::string ticks = ReadText(dir + "/ticks");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(ReadText(dir + "/ticks"), ticks);
  EXPECT_EQ(DescribeOne(id)["Status"], "Running");
  ASSERT_TRUE(fake_->ResumeInstance(id).ok());
  EXPECT_TRUE(WaitFor([&] { return ReadText(dir + "/ticks").size() > ticks.size(); }));

  // Reclaimed (1 s notice): the group is SIGKILLed when the time is up, the agent reaped.
  ASSERT_TRUE(fake_->Reclaim(id).ok());
  ASSERT_TRUE(WaitFor([&] { return Snapshot(id)->status == "Reclaimed"; }));
  s = Snapshot(id);
  EXPECT_FALSE(s->process_alive);
  EXPECT_EQ(s->exit_code, 128 + SIGKILL);
  EXPECT_EQ(fake_->PauseInstance(id).code(), StatusCode::kNotFound);
}

TEST_F(FakeEcsProcessTest, UserDataWithoutTheAgentStartsNothing) {
  std::string id = Run(RunParams("vsw-h1", false).Set("UserData", Base64("#!/bin/sh\necho hi\n")));
  ASSERT_FALSE(id.empty());
  std::optional<FakeInstanceSnapshot> s = Snapshot(id);
  EXPECT_EQ(s->status, "Running");
  EXPECT_TRUE(s->agent_argv.empty());
  EXPECT_FALSE(s->process_alive);
  EXPECT_NE(ReadText(s->agent_log).find("no agent started"), std::string::npos);
  EXPECT_EQ(fake_->PauseInstance(id).code(), StatusCode::kFailedPrecondition);
  // Stop() kills and reaps every instance's group.
  std::string other = Run(RunParams("vsw-h1", false).Set("UserData", UserData("/j.yaml")));
  pid_t pid = Snapshot(other)->pid;
  ASSERT_GT(pid, 0);
  fake_->Stop();
  EXPECT_FALSE(Snapshot(other)->process_alive);
  EXPECT_EQ(Snapshot(other)->exit_code, 128 + SIGKILL);
}

// The real `baton agent`, started from the user-data that `baton agent cloud-init` writes, with a
// job whose model does not exist: it fails the way baton fails, the instance stays Running (a VM
// outlives its service), and DeleteInstance cleans up. Label e2e (tests/test_labels.cmake).
class FakeEcsAgentTest : public FakeEcsTest {
 protected:
  void TearDown() override { fake_.reset(); }
  testing::ScopedTempDir tmp_;
};

TEST_F(FakeEcsAgentTest, TheRealAgentStartsFromCloudInitAndItsInstanceOutlivesIt) {
  std::string job = tmp_.Sub("job.yaml");
  std::string model = tmp_.Sub("no-such-model");
  std::ofstream(job) << "name: fake-ecs-agent\nmodel: " << model
                     << "\ndatasets: [self-cognition]\nstore: " << tmp_.Sub("bucket")
                     << "\ntrain: {max_steps: 2}\n";
  FakeAliyunOptions o = EcsOptions();
  o.host.baton_binary = BATON_BINARY;
  o.host.work_dir = tmp_.Sub("fleet");
  o.host.extra_env = {{EnvVarName(EnvVar::kNoticePollMs), "100"}};
  StartFake(o);

  ServiceOptions svc;
  svc.job = job;
  std::string id = Run(
      RunParams("vsw-g1", false)
          .Set("UserData", Base64(CloudInitUserData(svc, "https://example.com/baton").value())));
  ASSERT_FALSE(id.empty()) << error_.message;
  EXPECT_EQ(Snapshot(id)->agent_argv,
            (std::vector<std::string>{BATON_BINARY, "agent", "--job", job}));
  ASSERT_TRUE(WaitFor([&] { return !Snapshot(id)->process_alive; }, 120))
      << ReadText(Snapshot(id)->agent_log);
  FakeInstanceSnapshot s = *Snapshot(id);
  std::string log = ReadText(s.agent_log);
  EXPECT_EQ(s.exit_code, kExitError) << log;
  EXPECT_NE(log.find("exec " + std::string(BATON_BINARY) + " agent --job " + job),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("model folder '" + model + "' does not exist"), std::string::npos) << log;

  // The VM outlives its service, until it is deleted.
  EXPECT_EQ(DescribeOne(id)["Status"], "Running");
  EXPECT_EQ(Snapshot(id)->status, "Running");
  ASSERT_TRUE(Ecs("DeleteInstance", RpcParams().Set("InstanceId", id).Set("Force", true)).ok());
  EXPECT_EQ(Snapshot(id)->status, "Deleted");
  EXPECT_EQ(Snapshot(id)->exit_code, kExitError);  // it had exited by itself before
}

}  // namespace
}  // namespace baton
