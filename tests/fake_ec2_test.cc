// The fake EC2 (tests/fake_ec2.h) and its SigV4 verifier, and the `aws` provider over them
// without agent processes (instances are API objects only): capacity answers, throttling,
// pagination, client tokens, notices, terminate.
#include "fake_ec2.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/spec_node.h"
#include "cloud/aws_ec2.h"
#include "fleet/aws_provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "sigv4_verifier.h"
#include "store/store.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::FakeEc2;
using testing::SigV4Key;
using testing::SigV4Verifier;

// AWS's SigV4 test suite, case get-vanilla ("Signature Version 4 test suite", aws-sig-v4-test-
// suite/get-vanilla: GET / with Host and X-Amz-Date, the documented example keys).
HttpServerRequest GetVanilla(const std::string& signature) {
  HttpServerRequest r;
  r.method = "GET";
  r.path = r.target = "/";
  r.headers = {{"host", "example.amazonaws.com"},
               {"x-amz-date", "20150830T123600Z"},
               {"authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=" +
                    signature}};
  return r;
}

TEST(SigV4Verifier, KnownAnswerOfTheAwsTestSuite) {
  SigV4Verifier v({{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}}, "us-east-1",
                  "service");
  v.set_now_unix_s(1440938160);  // 2015-08-30T12:36:00Z
  const std::string good = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  EXPECT_EQ(v.Check(GetVanilla(good)), "");
  std::string bad = good;
  bad[0] = '6';
  EXPECT_TRUE(v.Check(GetVanilla(bad)).starts_with("SignatureDoesNotMatch"))
      << v.Check(GetVanilla(bad));
  HttpServerRequest body = GetVanilla(good);
  body.body = "x";  // the signature covers the body's hash
  EXPECT_TRUE(v.Check(body).starts_with("SignatureDoesNotMatch"));
  HttpServerRequest host = GetVanilla(good);
  host.headers[0].second = "example.amazonaws.com.evil";
  EXPECT_TRUE(v.Check(host).starts_with("SignatureDoesNotMatch"));
  v.set_now_unix_s(1440938160 + 16 * 60);
  EXPECT_TRUE(v.Check(GetVanilla(good)).starts_with("RequestExpired"));
  SigV4Verifier other_region({{"AKIDEXAMPLE", "x", ""}}, "eu-west-1", "service");
  other_region.set_now_unix_s(1440938160);
  EXPECT_TRUE(other_region.Check(GetVanilla(good)).find("scope region") != std::string::npos);
  SigV4Verifier unknown({{"AKIDOTHER", "x", ""}}, "us-east-1", "service");
  unknown.set_now_unix_s(1440938160);
  EXPECT_TRUE(unknown.Check(GetVanilla(good)).starts_with("AuthFailure"));
}

constexpr char kKeyId[] = "AKIAFAKEEC2UNITTEST0";
constexpr char kSecret[] = "fake-ec2-unit-secret";

class FakeEc2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::FakeEc2Options o;
    o.subnets = {{"us-east-1a", "subnet-0a"}, {"us-east-1b", "subnet-0b"}};
    o.image_ids = {"ami-0abc"};
    o.security_group_ids = {"sg-01"};
    o.instance_profiles = {"BatonProfile"};
    o.keys = {{kKeyId, kSecret, ""}};
    o.page_cap = 2;
    fake_ = std::make_unique<FakeEc2>(o);
    ASSERT_TRUE(fake_->Start().ok());
    AwsClientOptions c;
    c.region = "us-east-1";
    c.endpoint = fake_->endpoint();
    c.credentials = []() -> Result<SigV4Credentials> {
      return SigV4Credentials{kKeyId, kSecret, ""};
    };
    c.base_backoff_ms = 1;
    c.jitter_seed = 7;
    client_ = std::make_unique<AwsClient>(c);
  }

  std::string FleetYaml() {
    return R"({"provider": "aws", "policy": "spot-first",
      "offers": [{"instance_type": "g5.xlarge", "zones": ["us-east-1a", "us-east-1b"],
                  "spot": 0.4, "on_demand": 1.0}],
      "aws": {"region": "us-east-1", "image_id": "ami-0abc",
              "subnets": {"us-east-1a": "subnet-0a", "us-east-1b": "subnet-0b"},
              "security_group_ids": ["sg-01"], "instance_profile": "BatonProfile",
              "poll_seconds": 0.1, "no_capacity_backoff_seconds": 600}})";
  }

  std::unique_ptr<fleet::AwsProvider> OpenProvider(Store* store) {
    Result<SpecNode> node = SpecNode::Parse(FleetYaml(), "job.yaml", "fleet");
    EXPECT_TRUE(node.ok());
    Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(*node);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    fleet::CloudProviderOptions o;
    o.run = "unit";
    o.job_url = "s3://bkt/unit/fleet/job.yaml";
    Result<std::unique_ptr<fleet::AwsProvider>> p =
        fleet::AwsProvider::Open(*spec, client_.get(), store, o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Launches on the first offer (spot in zone a) and writes its agent's heartbeat in `state`.
  void LaunchWithHeartbeat(fleet::AwsProvider* p, Store* store, AgentState state, std::string* id) {
    Result<std::string> launched = p->Launch(0, false);
    ASSERT_TRUE(launched.ok()) << launched.status().ToString();
    *id = *launched;
    Heartbeat hb;
    hb.run = "unit";
    hb.instance = *id;
    hb.state = state;
    hb.started_unix_ms = hb.updated_unix_ms =
        static_cast<int64_t>(Env::Default()->NowMicros() / 1000);
    ASSERT_TRUE(WriteHeartbeat(store, hb).ok());
  }

  testing::ScopedTempDir tmp_;
  std::unique_ptr<FakeEc2> fake_;
  std::unique_ptr<AwsClient> client_;
};

TEST_F(FakeEc2Test, SignaturesAreCheckedAndErrorsAreEc2s) {
  AwsClientOptions c;
  c.region = "us-east-1";
  c.endpoint = fake_->endpoint();
  c.credentials = []() -> Result<SigV4Credentials> {
    return SigV4Credentials{kKeyId, "wrong", ""};
  };
  AwsClient wrong(c);
  AwsError error;
  Result<XmlElement> r = wrong.Call(AwsService::kEc2, "DescribeAvailabilityZones", {}, &error);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error.code, "SignatureDoesNotMatch");
  EXPECT_EQ(error.http_status, 403);
  EXPECT_EQ(fake_->SignatureFailures().size(), 1u);
  // An unknown parameter is refused, never ignored.
  AwsParams p;
  p.Set("Bogus", "1");
  r = client_->Call(AwsService::kEc2, "DescribeInstances", p, &error);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error.code, "UnknownParameter");
}

TEST_F(FakeEc2Test, RunInstancesSpotCapacityMaxPriceAndClientToken) {
  Ec2RunRequest r;
  r.image_id = "ami-0abc";
  r.instance_type = "g5.xlarge";
  r.subnet_id = "subnet-0a";
  r.security_group_ids = {"sg-01"};
  r.spot = true;
  r.client_token = "token-1";
  r.tags = {{"baton:run", "unit"}};
  fake_->SetSpotCapacity("us-east-1a", false);
  AwsError error;
  Result<std::vector<Ec2Instance>> made = Ec2RunInstances(client_.get(), r, &error);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(error.code, "InsufficientInstanceCapacity");
  EXPECT_TRUE(IsAwsCapacityError(error.code));
  EXPECT_EQ(fake_->CallCount("RunInstances"), 1);  // a capacity answer is not retried
  fake_->SetSpotCapacity("us-east-1a", true);
  r.spot_max_price = "0.10";
  made = Ec2RunInstances(client_.get(), r, &error);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(error.code, "SpotMaxPriceTooLow");
  EXPECT_TRUE(IsAwsCapacityError(error.code));
  r.spot_max_price = "";
  made = Ec2RunInstances(client_.get(), r, &error);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_EQ(made->size(), 1u);
  EXPECT_TRUE((*made)[0].spot);
  EXPECT_EQ((*made)[0].zone, "us-east-1a");
  // The same token again (a retried call): the same instance, nothing new.
  Result<std::vector<Ec2Instance>> again = Ec2RunInstances(client_.get(), r, &error);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].id, (*made)[0].id);
  EXPECT_EQ(fake_->Snapshot().size(), 1u);
}

TEST_F(FakeEc2Test, ProviderBacksOffCapacityListsPagesSeesNoticesAndTerminates) {
  Result<std::unique_ptr<Store>> store = OpenStore(tmp_.Sub("run"));
  ASSERT_TRUE(store.ok());
  std::unique_ptr<fleet::AwsProvider> p = OpenProvider(store->get());
  ASSERT_TRUE(p);
  // Offers, spot first: a/spot, b/spot, a/on-demand, b/on-demand.
  fake_->SetSpotCapacity("us-east-1a", false);
  Result<std::string> none = p->Launch(0, false);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable) << none.status().ToString();
  EXPECT_NE(none.status().message().find("InsufficientInstanceCapacity"), std::string::npos);
  EXPECT_FALSE(p->HasCapacity(0));  // backing off
  EXPECT_TRUE(p->HasCapacity(1));
  // Throttled calls are retried by the client.
  fake_->FailNext("RunInstances", 2, "RequestLimitExceeded", 503);
  Result<std::string> spot = p->Launch(1, false);
  ASSERT_TRUE(spot.ok()) << spot.status().ToString();
  Result<std::string> od = p->Launch(2, true);
  ASSERT_TRUE(od.ok()) << od.status().ToString();
  Result<std::string> od2 = p->Launch(3, false);
  ASSERT_TRUE(od2.ok()) << od2.status().ToString();
  ASSERT_TRUE(p->Refresh().ok());
  EXPECT_GT(fake_->CallCount("DescribeInstances#NextToken"), 0);  // 3 instances, 2 a page
  std::vector<testing::FakeEc2Instance> all = fake_->Snapshot();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].params.at("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"),
            "terminate");
  EXPECT_EQ(all[1].params.count("InstanceMarketOptions.MarketType"), 0u);
  EXPECT_EQ(all[0].tags.at("baton:offer"), "g5.xlarge@us-east-1b/spot");
  EXPECT_EQ(all[0].volume_tags.at("baton:run"), "unit");
  EXPECT_EQ(all[0].params.at("IamInstanceProfile.Name"), "BatonProfile");

  // The interruption notice, as DescribeSpotInstanceRequests shows it.
  ASSERT_TRUE(fake_->Interrupt(*spot).ok());
  ASSERT_TRUE(p->Refresh().ok());
  std::vector<fleet::Instance> seen = p->Instances();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].state, fleet::InstanceState::kStopping);
  EXPECT_NE(seen[0].detail.find("marked-for-termination"), std::string::npos) << seen[0].detail;

  // A restarted controller (the ledger lost) adopts the run's instances, launches nothing.
  ASSERT_TRUE((*store)->Delete(kFleetLedgerKey).ok());
  std::unique_ptr<fleet::AwsProvider> again = OpenProvider(store->get());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Instances().size(), 3u);

  // DeleteAll terminates them; a second time (already gone) is no error.
  ASSERT_TRUE(again->DeleteAll("test").ok());
  for (const testing::FakeEc2Instance& s : fake_->Snapshot()) EXPECT_EQ(s.state, "terminated");
  ASSERT_TRUE(again->Refresh().ok());
  for (const fleet::Instance& i : again->Instances()) {
    EXPECT_EQ(i.state, fleet::InstanceState::kEnded) << i.id;
  }
}

// An agent that stopped while the fleet never asked it to saw a notice the controller did not
// (the metadata service's): the instance ends as preempted, not as stopped, and is terminated.
TEST_F(FakeEc2Test, AnAgentThatStoppedUnaskedWasPreempted) {
  Result<std::unique_ptr<Store>> store = OpenStore(tmp_.Sub("run"));
  ASSERT_TRUE(store.ok());
  std::unique_ptr<fleet::AwsProvider> p = OpenProvider(store->get());
  ASSERT_TRUE(p);
  std::string id;
  ASSERT_NO_FATAL_FAILURE(LaunchWithHeartbeat(p.get(), store->get(), AgentState::kStopped, &id));
  ASSERT_TRUE(p->Refresh().ok());
  ASSERT_EQ(p->Instances().size(), 1u);
  const fleet::Instance i = p->Instances()[0];
  EXPECT_EQ(i.state, fleet::InstanceState::kEnded);
  EXPECT_EQ(i.end_reason, fleet::EndReason::kPreempted) << i.detail;
  EXPECT_NE(i.detail.find("a notice its agent saw"), std::string::npos) << i.detail;
  EXPECT_EQ(fake_->Snapshot()[0].state, "terminated");
}

// An agent's rebalance report marks its spot offer without capacity (the policy then moves the
// run make-before-break); the instance itself goes on.
TEST_F(FakeEc2Test, ARebalanceReportMarksTheOfferWithoutCapacity) {
  Result<std::unique_ptr<Store>> store = OpenStore(tmp_.Sub("run"));
  ASSERT_TRUE(store.ok());
  std::unique_ptr<fleet::AwsProvider> p = OpenProvider(store->get());
  ASSERT_TRUE(p);
  std::string id;
  ASSERT_NO_FATAL_FAILURE(LaunchWithHeartbeat(p.get(), store->get(), AgentState::kTraining, &id));
  ASSERT_TRUE(p->Refresh().ok());
  EXPECT_TRUE(p->HasCapacity(0));
  ASSERT_TRUE(WriteRebalanceReport(store->get(), {id, "rebalance recommendation", 1}).ok());
  ASSERT_TRUE(p->Refresh().ok());
  EXPECT_FALSE(p->HasCapacity(0));
  EXPECT_TRUE(p->HasCapacity(1));
  EXPECT_EQ(p->Instances()[0].state, fleet::InstanceState::kRunning);
}

}  // namespace
}  // namespace baton
