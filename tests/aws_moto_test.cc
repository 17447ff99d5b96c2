// The AWS client (cloud/aws_api.h, cloud/aws_ec2.h) end to end against moto (tests/moto_server.h)
// with signature checking on: the first 3 actions (IAM CreateUser, PutUserPolicy,
// CreateAccessKey, through the client) are unauthenticated; every later one is signed with the
// key made there and moto recomputes SigV4 (moto/iam/access_control.py). What moto does and does
// not fake: shared/notes/cloud-apis.md section 4 (moto 5.2.1).
// Where moto is missing the tests fail and say why, unless BATON_SKIP_MOTO=1 (then they skip).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "base/spec_node.h"
#include "cloud/aliyun_signer.h"
#include "cloud/aws_api.h"
#include "cloud/aws_ec2.h"
#include "fleet/aws_provider.h"
#include "fleet/spec.h"
#include "moto_server.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::MotoServer;

constexpr int kNoAuthActions = 3;
constexpr char kRegion[] = "us-east-1";

class AwsMotoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = MotoServer::WhyUnavailable(); !why.empty()) {
      if (MotoServer::SkipWanted()) GTEST_SKIP() << why;
      FAIL() << why;
    }
    moto_ = std::make_unique<MotoServer>(kNoAuthActions);
    ASSERT_TRUE(moto_->ok()) << moto_->error();
    std::printf("moto answered after %.1f s\n", moto_->startup_seconds());

    // The unauthenticated actions: moto still routes by the Authorization header's scope, so
    // they are signed too, with keys it does not know.
    AwsClient boot(Options({"AKIDBOOTSTRAP", "bootstrap-secret", ""}));
    AwsParams user;
    user.Set("UserName", "baton-test");
    ASSERT_TRUE(Ok(boot.Call(AwsService::kIam, "CreateUser", user)));
    AwsParams policy = user;
    policy.Set("PolicyName", "admin")
        .Set("PolicyDocument",
             R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",)"
             R"("Resource":"*"}]})");
    ASSERT_TRUE(Ok(boot.Call(AwsService::kIam, "PutUserPolicy", policy)));
    Result<XmlElement> key = boot.Call(AwsService::kIam, "CreateAccessKey", user);
    ASSERT_TRUE(Ok(key));
    const XmlElement* k = key->Find({"CreateAccessKeyResult", "AccessKey"});
    ASSERT_NE(k, nullptr);
    keys_ = {k->ChildText("AccessKeyId"), k->ChildText("SecretAccessKey"), ""};
    ASSERT_FALSE(keys_.access_key_id.empty());
    ASSERT_FALSE(keys_.secret_access_key.empty());
    client_ = std::make_unique<AwsClient>(Options(keys_));
  }

  AwsClientOptions Options(SigV4Credentials keys) {
    AwsClientOptions o;
    o.region = kRegion;
    o.endpoint = moto_->endpoint();
    o.credentials = [keys]() -> Result<SigV4Credentials> { return keys; };
    o.max_attempts = 2;
    o.base_backoff_ms = 10;
    return o;
  }

  template <typename T>
  static ::testing::AssertionResult Ok(const Result<T>& r) {
    if (r.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.status().ToString();
  }

  // An AMI moto knows and two subnets of its default VPC.
  std::string AnyImage() {
    AwsParams p;
    p.SetList("Owner", {"amazon"});
    Result<XmlElement> r = client_->Call(AwsService::kEc2, "DescribeImages", p);
    EXPECT_TRUE(Ok(r));
    std::vector<const XmlElement*> images =
        r.ok() ? AwsItems(r->Child("imagesSet")) : std::vector<const XmlElement*>{};
    return images.empty() ? "" : images[0]->ChildText("imageId");
  }
  std::vector<std::string> Subnets() {
    Result<XmlElement> r = client_->Call(AwsService::kEc2, "DescribeSubnets", AwsParams());
    EXPECT_TRUE(Ok(r));
    std::vector<std::string> out;
    if (r.ok()) {
      for (const XmlElement* s : AwsItems(r->Child("subnetSet"))) {
        out.push_back(s->ChildText("subnetId"));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<MotoServer> moto_;
  SigV4Credentials keys_;
  std::unique_ptr<AwsClient> client_;
};

TEST_F(AwsMotoTest, SpotInstancesRunAreFoundByTagPageByPageAndTerminated) {
  std::string image = AnyImage();
  ASSERT_FALSE(image.empty());
  Ec2RunRequest spot;
  spot.image_id = image;
  spot.instance_type = "m5.large";
  spot.spot = true;
  spot.spot_max_price = "1.50";
  spot.user_data = "#!/bin/sh\nexec baton agent\n";
  spot.client_token = "baton-run-1";
  spot.tags = {{"baton:run", "moto-run"}};
  AwsError err;
  Result<std::vector<Ec2Instance>> first = Ec2RunInstances(client_.get(), spot, &err);
  ASSERT_TRUE(Ok(first));
  ASSERT_EQ(first->size(), 1u);
  const Ec2Instance& a = (*first)[0];
  EXPECT_EQ(a.id.rfind("i-", 0), 0u);
  EXPECT_TRUE(a.spot);  // moto marks it instanceLifecycle=spot (but gives no spot request id)
  EXPECT_EQ(a.instance_type, "m5.large");
  EXPECT_EQ(a.state, "pending");
  EXPECT_EQ(a.zone.rfind(kRegion, 0), 0u) << a.zone;
  EXPECT_GT(a.launch_unix_ms, 0);

  // The same ClientToken again: real EC2 answers with the first launch's instance; moto 5.2.1
  // ignores the token and launches another (notes section 4), which is all this asserts.
  Result<std::vector<Ec2Instance>> again = Ec2RunInstances(client_.get(), spot);
  ASSERT_TRUE(Ok(again));
  ASSERT_EQ(again->size(), 1u);
  EXPECT_NE((*again)[0].id, a.id);

  // UserData went up base64-encoded and comes back so.
  AwsParams attr;
  attr.Set("InstanceId", a.id).Set("Attribute", "userData");
  Result<XmlElement> user_data = client_->Call(AwsService::kEc2, "DescribeInstanceAttribute", attr);
  ASSERT_TRUE(Ok(user_data));
  EXPECT_EQ(
      user_data->Find({"userData", "value"}) ? user_data->Find({"userData", "value"})->text : "",
      Base64Encode(spot.user_data));

  // Four on-demand launches, each its own reservation, and one without the tag.
  Ec2RunRequest on_demand = spot;
  on_demand.spot = false;
  on_demand.client_token.clear();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Ok(Ec2RunInstances(client_.get(), on_demand)));
  Ec2RunRequest other = on_demand;
  other.tags = {{"baton:run", "someone-else"}};
  ASSERT_TRUE(Ok(Ec2RunInstances(client_.get(), other)));

  // moto pages DescribeInstances by reservation: 6 reservations in pages of 5 are two calls.
  Ec2InstanceQuery query;
  query.tags = {{"baton:run", "moto-run"}};
  query.page_size = 5;
  uint64_t before = client_->attempts();
  Result<std::vector<Ec2Instance>> mine = Ec2DescribeInstances(client_.get(), query);
  ASSERT_TRUE(Ok(mine));
  EXPECT_EQ(client_->attempts() - before, 2u);
  ASSERT_EQ(mine->size(), 6u);
  std::set<std::string> ids;
  int spots = 0;
  for (const Ec2Instance& i : *mine) {
    ids.insert(i.id);
    spots += i.spot ? 1 : 0;
    EXPECT_EQ(i.tags.at("baton:run"), "moto-run") << i.id;
  }
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(spots, 2);

  Result<std::vector<Ec2StateChange>> gone =
      Ec2TerminateInstances(client_.get(), std::vector<std::string>(ids.begin(), ids.end()));
  ASSERT_TRUE(Ok(gone));
  ASSERT_EQ(gone->size(), 6u);
  for (const Ec2StateChange& c : *gone) {
    EXPECT_TRUE(ids.count(c.id)) << c.id;
    EXPECT_TRUE(c.current_state == "shutting-down" || c.current_state == "terminated")
        << c.current_state;
  }
  Ec2InstanceQuery live = query;
  live.filters = {{"instance-state-name", {"pending", "running"}}};
  Result<std::vector<Ec2Instance>> left = Ec2DescribeInstances(client_.get(), live);
  ASSERT_TRUE(Ok(left));
  EXPECT_TRUE(left->empty());

  // An id that does not exist: EC2's error document, parsed, not retried.
  before = client_->attempts();
  Result<std::vector<Ec2StateChange>> missing =
      Ec2TerminateInstances(client_.get(), {"i-0123456789abcdef0"}, &err);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(err.code, "InvalidInstanceID.NotFound");
  EXPECT_EQ(err.http_status, 400);
  EXPECT_FALSE(err.request_id.empty());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("ec2 TerminateInstances: InvalidInstanceID.NotFound"),
            std::string::npos)
      << missing.status().message();
  EXPECT_EQ(client_->attempts() - before, 1u);
}

TEST_F(AwsMotoTest, SpotPriceHistoryParses) {
  Ec2SpotPriceQuery q;
  q.instance_types = {"m5.large"};
  q.product_descriptions = {"Linux/UNIX"};
  Result<std::vector<Ec2SpotPrice>> prices = Ec2DescribeSpotPriceHistory(client_.get(), q);
  ASSERT_TRUE(Ok(prices));
  ASSERT_FALSE(prices->empty());
  std::set<std::string> zones;
  for (const Ec2SpotPrice& p : *prices) {
    EXPECT_EQ(p.instance_type, "m5.large");
    EXPECT_EQ(p.zone.rfind(kRegion, 0), 0u) << p.zone;
    zones.insert(p.zone);
    // moto's prices are fake: 0.00001 for every offering, stamped 2006-01-02T15:04:05Z.
    EXPECT_DOUBLE_EQ(p.price, 0.00001);
    EXPECT_EQ(p.unix_ms, 1136214245000);
  }
  EXPECT_EQ(zones.size(), prices->size());  // one point per zone
}

TEST_F(AwsMotoTest, AutoScalingGroupWithAMixedInstancesPolicyRoundTrips) {
  std::string image = AnyImage();
  std::vector<std::string> subnets = Subnets();
  ASSERT_GE(subnets.size(), 2u);

  AwsParams lt;
  lt.Set("LaunchTemplateName", "baton-lt")
      .Set("LaunchTemplateData.ImageId", image)
      .Set("LaunchTemplateData.InstanceType", "c5.large")
      .Set("LaunchTemplateData.UserData", Base64Encode("#!/bin/sh\n"));
  AwsParams tag;
  tag.Set("Key", "baton:run").Set("Value", "moto-asg");
  AwsParams spec;
  spec.Set("ResourceType", "instance").SetStructList("Tag", {tag});
  lt.SetStructList("LaunchTemplateData.TagSpecification", {spec});
  Result<XmlElement> made = client_->Call(AwsService::kEc2, "CreateLaunchTemplate", lt);
  ASSERT_TRUE(Ok(made));
  std::string lt_id = made->Find({"launchTemplate"})
                          ? made->Find({"launchTemplate"})->ChildText("launchTemplateId")
                          : "";
  ASSERT_EQ(lt_id.rfind("lt-", 0), 0u) << lt_id;

  AwsParams ltspec;
  ltspec.Set("LaunchTemplateId", lt_id).Set("Version", "$Latest");
  AwsParams o1, o2;
  o1.Set("InstanceType", "g5.xlarge");
  o2.Set("InstanceType", "g6.xlarge");
  AwsParams dist;
  dist.Set("OnDemandBaseCapacity", 0)
      .Set("OnDemandPercentageAboveBaseCapacity", 0)
      .Set("SpotAllocationStrategy", "price-capacity-optimized");
  AwsParams group;
  group.Set("AutoScalingGroupName", "baton-asg")
      .SetStruct("MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification", ltspec)
      .SetStructList(AwsMemberList("MixedInstancesPolicy.LaunchTemplate.Overrides"), {o1, o2})
      .SetStruct("MixedInstancesPolicy.InstancesDistribution", dist)
      .Set("MinSize", 0)
      .Set("MaxSize", 2)
      .Set("DesiredCapacity", 0)
      .Set("VPCZoneIdentifier", subnets[0] + "," + subnets[1])
      .Set("CapacityRebalance", true);
  AwsParams group_tag;
  group_tag.Set("Key", "baton:run").Set("Value", "moto-asg").Set("PropagateAtLaunch", true);
  group.SetStructList(AwsMemberList("Tags"), {group_tag});
  ASSERT_TRUE(Ok(client_->Call(AwsService::kAutoScaling, "CreateAutoScalingGroup", group)));

  AwsParams name;
  name.Set("AutoScalingGroupName", "baton-asg");
  AwsParams which;
  which.SetList(AwsMemberList("AutoScalingGroupNames"), {"baton-asg"});
  auto describe = [&]() -> std::vector<XmlElement> {
    std::vector<XmlElement> groups;
    Status s = PaginateAutoScaling(
        client_.get(), "DescribeAutoScalingGroups", which, 0, [&](const XmlElement& page) {
          const XmlElement* r = AwsQueryResult(page, "DescribeAutoScalingGroups");
          if (r == nullptr) return Corruption("no result");
          for (const XmlElement* g : AwsMembers(r->Child("AutoScalingGroups"))) {
            groups.push_back(*g);
          }
          return Status::Ok();
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return groups;
  };
  std::vector<XmlElement> groups = describe();
  ASSERT_EQ(groups.size(), 1u);
  const XmlElement& g = groups[0];
  EXPECT_EQ(g.ChildText("AutoScalingGroupName"), "baton-asg");
  EXPECT_EQ(g.ChildText("MaxSize"), "2");
  EXPECT_EQ(g.ChildText("CapacityRebalance"), "true");
  const XmlElement* policy = g.Child("MixedInstancesPolicy");
  ASSERT_NE(policy, nullptr);
  std::vector<std::string> types;
  for (const XmlElement* o : AwsMembers(policy->Find({"LaunchTemplate", "Overrides"}))) {
    types.push_back(o->ChildText("InstanceType"));
  }
  EXPECT_EQ(types, (std::vector<std::string>{"g5.xlarge", "g6.xlarge"}));
  const XmlElement* d = policy->Child("InstancesDistribution");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->ChildText("SpotAllocationStrategy"), "price-capacity-optimized");
  EXPECT_EQ(d->ChildText("OnDemandPercentageAboveBaseCapacity"), "0");

  // moto launches synchronously: one InService instance, of the template's type (it ignores the
  // overrides) and not spot (it ignores the distribution).
  AwsParams desired = name;
  desired.Set("DesiredCapacity", 1).Set("HonorCooldown", false);
  ASSERT_TRUE(Ok(client_->Call(AwsService::kAutoScaling, "SetDesiredCapacity", desired)));
  groups = describe();
  ASSERT_EQ(groups.size(), 1u);
  std::vector<const XmlElement*> members = AwsMembers(groups[0].Child("Instances"));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0]->ChildText("LifecycleState"), "InService");
  Ec2InstanceQuery q;
  q.instance_ids = {members[0]->ChildText("InstanceId")};
  Result<std::vector<Ec2Instance>> launched = Ec2DescribeInstances(client_.get(), q);
  ASSERT_TRUE(Ok(launched));
  ASSERT_EQ(launched->size(), 1u);
  EXPECT_EQ((*launched)[0].instance_type, "c5.large");
  EXPECT_FALSE((*launched)[0].spot);
  EXPECT_EQ((*launched)[0].tags.at("baton:run"), "moto-asg");

  // The query protocol's error document: a group that does not exist.
  AwsParams unknown;
  unknown.Set("AutoScalingGroupName", "no-such-group").Set("MaxSize", 1);
  AwsError err;
  uint64_t before = client_->attempts();
  Result<XmlElement> bad =
      client_->Call(AwsService::kAutoScaling, "UpdateAutoScalingGroup", unknown, &err);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(err.code, "ValidationError");
  EXPECT_EQ(err.type, "Sender");
  EXPECT_EQ(err.http_status, 400);
  EXPECT_FALSE(err.request_id.empty());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(
                "autoscaling UpdateAutoScalingGroup: ValidationError (HTTP 400): ", 0),
            0u)
      << bad.status().message();
  EXPECT_EQ(client_->attempts() - before, 1u);

  AwsParams del = name;
  del.Set("ForceDelete", true);
  ASSERT_TRUE(Ok(client_->Call(AwsService::kAutoScaling, "DeleteAutoScalingGroup", del)));
  EXPECT_TRUE(describe().empty());
}

TEST_F(AwsMotoTest, AWrongSecretIsRefusedAndNeverShown) {
  // The right keys work (moto checks signatures now: the bootstrap key would not).
  ASSERT_TRUE(Ok(client_->Call(AwsService::kEc2, "DescribeInstances", AwsParams())));
  AwsClient bootstrap(Options({"AKIDBOOTSTRAP", "bootstrap-secret", ""}));
  AwsError err;
  // A key moto does not know: EC2 says AuthFailure, Auto Scaling InvalidClientTokenId.
  ASSERT_FALSE(bootstrap.Call(AwsService::kEc2, "DescribeInstances", AwsParams(), &err).ok());
  EXPECT_EQ(err.code, "AuthFailure") << err.message;
  ASSERT_FALSE(
      bootstrap.Call(AwsService::kAutoScaling, "DescribeAutoScalingGroups", AwsParams(), &err)
          .ok());
  EXPECT_EQ(err.code, "InvalidClientTokenId") << err.message;

  const std::string wrong = "wrong-secret-" + keys_.secret_access_key.substr(0, 8) + "-XYZ";
  AwsClient forged(Options({keys_.access_key_id, wrong, ""}));
  struct Case {
    AwsService service;
    const char* action;
    const char* code;
    long http_status;
  };
  for (const Case& c : {Case{AwsService::kEc2, "DescribeInstances", "AuthFailure", 401},
                        Case{AwsService::kAutoScaling, "DescribeAutoScalingGroups",
                             "SignatureDoesNotMatch", 403}}) {
    uint64_t before = forged.attempts();
    Result<XmlElement> r = forged.Call(c.service, c.action, AwsParams(), &err);
    ASSERT_FALSE(r.ok()) << c.action;
    const std::string& m = r.status().message();
    EXPECT_EQ(err.code, c.code) << m;
    EXPECT_EQ(err.http_status, c.http_status) << m;
    EXPECT_EQ(m.rfind(std::string(AwsServiceName(c.service)) + " " + c.action + ": " + c.code, 0),
              0u)
        << m;
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << m;
    for (const std::string& secret : {wrong, keys_.secret_access_key}) {
      EXPECT_EQ(m.find(secret), std::string::npos) << m;
      EXPECT_EQ(err.message.find(secret), std::string::npos) << err.message;
    }
    EXPECT_EQ(forged.attempts() - before, 1u);  // not retried
  }
}

// The `aws` provider's own calls against moto with SigV4 checked: RunInstances with market
// options, tags on instance and volume, the instance profile and a ClientToken; DescribeInstances
// by tag in pages; TerminateInstances; a second provider on the same run adopting what it finds.
TEST_F(AwsMotoTest, TheAwsProviderLaunchesListsAdoptsAndTerminates) {
  const std::string image = AnyImage();
  ASSERT_FALSE(image.empty());
  Result<XmlElement> subnets = client_->Call(AwsService::kEc2, "DescribeSubnets", AwsParams());
  ASSERT_TRUE(Ok(subnets));
  std::vector<std::pair<std::string, std::string>> zones;  // zone -> subnet
  for (const XmlElement* s : AwsItems(subnets->Child("subnetSet"))) {
    zones.emplace_back(s->ChildText("availabilityZone"), s->ChildText("subnetId"));
  }
  std::sort(zones.begin(), zones.end());
  ASSERT_GE(zones.size(), 2u);
  Result<XmlElement> groups =
      client_->Call(AwsService::kEc2, "DescribeSecurityGroups", AwsParams());
  ASSERT_TRUE(Ok(groups));
  std::vector<const XmlElement*> group_items = AwsItems(groups->Child("securityGroupInfo"));
  ASSERT_FALSE(group_items.empty());
  const std::string group = group_items[0]->ChildText("groupId");
  AwsParams profile;
  profile.Set("InstanceProfileName", "BatonInstanceProfile");
  ASSERT_TRUE(Ok(client_->Call(AwsService::kIam, "CreateInstanceProfile", profile)));

  const std::string yaml = fmt::format(
      R"({{"provider": "aws", "policy": "spot-first",
          "offers": [{{"instance_type": "m5.large", "zones": ["{za}", "{zb}"],
                       "spot": 0.04, "on_demand": 0.096, "spot_price_limit": 0.09}}],
          "aws": {{"region": "{region}", "image_id": "{image}",
                   "subnets": {{"{za}": "{sa}", "{zb}": "{sb}"}},
                   "security_group_ids": ["{group}"], "instance_profile": "BatonInstanceProfile",
                   "tags": {{"team": "ml"}}}}}})",
      fmt::arg("za", zones[0].first), fmt::arg("zb", zones[1].first),
      fmt::arg("sa", zones[0].second), fmt::arg("sb", zones[1].second), fmt::arg("region", kRegion),
      fmt::arg("image", image), fmt::arg("group", group));
  Result<SpecNode> node = SpecNode::Parse(yaml, "job.yaml", "fleet");
  ASSERT_TRUE(Ok(node));
  Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(*node);
  ASSERT_TRUE(Ok(spec));
  testing::ScopedTempDir tmp;
  Result<std::unique_ptr<Store>> store = OpenStore(tmp.Sub("run"));
  ASSERT_TRUE(Ok(store));
  fleet::CloudProviderOptions o;
  o.run = "moto-fleet";
  o.job_url = "s3://bkt/moto-fleet/fleet/job.yaml";
  Result<std::unique_ptr<fleet::AwsProvider>> p =
      fleet::AwsProvider::Open(*spec, client_.get(), store->get(), o);
  ASSERT_TRUE(Ok(p));
  // Offers: spot in both zones (cheapest first), then on-demand in both.
  Result<std::string> spot = (*p)->Launch(0, false);
  ASSERT_TRUE(Ok(spot));
  Result<std::string> od = (*p)->Launch(3, true);
  ASSERT_TRUE(Ok(od));

  Ec2InstanceQuery query;
  query.tags = {{"baton:run", "moto-fleet"}};
  Result<std::vector<Ec2Instance>> listed = Ec2DescribeInstances(client_.get(), query);
  ASSERT_TRUE(Ok(listed));
  ASSERT_EQ(listed->size(), 2u);
  for (const Ec2Instance& i : *listed) {
    const bool is_spot = i.id == *spot;
    EXPECT_EQ(i.spot, is_spot) << i.id;
    EXPECT_EQ(i.zone, is_spot ? zones[0].first : zones[1].first);
    EXPECT_EQ(i.tags.at("team"), "ml");
    EXPECT_EQ(i.tags.at("baton:offer"),
              fmt::format("m5.large@{}/{}", i.zone, is_spot ? "spot" : "on-demand"));
  }
  // The volumes carry the run's tag too.
  AwsParams volumes;
  volumes.Set("Filter.1.Name", "tag:baton:run").Set("Filter.1.Value.1", "moto-fleet");
  Result<XmlElement> vols = client_->Call(AwsService::kEc2, "DescribeVolumes", volumes);
  ASSERT_TRUE(Ok(vols));
  EXPECT_EQ(AwsItems(vols->Child("volumeSet")).size(), 2u);

  // A restarted controller whose ledger was lost finds both by tag and launches nothing.
  ASSERT_TRUE((*store)->Delete(kFleetLedgerKey).ok());
  Result<std::unique_ptr<fleet::AwsProvider>> again =
      fleet::AwsProvider::Open(*spec, client_.get(), store->get(), o);
  ASSERT_TRUE(Ok(again));
  ASSERT_EQ((*again)->Instances().size(), 2u);
  Status deleted = (*again)->DeleteAll("test");
  ASSERT_TRUE(deleted.ok()) << deleted.ToString();
  Ec2InstanceQuery live = query;
  live.filters = {{"instance-state-name", {"pending", "running"}}};
  Result<std::vector<Ec2Instance>> left = Ec2DescribeInstances(client_.get(), live);
  ASSERT_TRUE(Ok(left));
  EXPECT_TRUE(left->empty());
  // Terminating what is gone already is no error (InvalidInstanceID.NotFound or a no-op).
  ASSERT_TRUE((*again)->Refresh().ok());
  for (const fleet::Instance& i : (*again)->Instances()) {
    EXPECT_EQ(i.state, fleet::InstanceState::kEnded) << i.id;
  }
}

}  // namespace
}  // namespace baton
