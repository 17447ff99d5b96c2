// The Alibaba OpenAPI client (src/cloud/aliyun_api.h) against the fake Alibaba Cloud
// (tests/fake_aliyun.h), whose verifier re-derives every ACS3-HMAC-SHA256 signature from the
// bytes on the wire with code of its own: what one side signs, the other must accept, with long
// term keys and with STS tokens, in the query and in a form body; and the client's retries meet
// the fake's throttling. A wrong secret is refused and the message never carries it.
#include <gtest/gtest.h>

#include "cloud/aliyun_api.h"
#include "fake_aliyun.h"

namespace baton {
namespace {

using testing::AliyunCredential;
using testing::FakeAliyun;
using testing::FakeAliyunCall;
using testing::FakeAliyunFault;
using testing::FakeAliyunOptions;

// Sleeps cost nothing: the client's backoff goes through the Env.
class NoSleepEnv : public ForwardingEnv {
 public:
  void SleepMicros(uint64_t micros) override { slept_us += micros; }
  uint64_t slept_us = 0;
};

class AliyunInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeAliyunOptions o;
    o.credentials = {{"LTAI-interop", "interop-secret-0123456789", ""},
                     {"STS.interop", "sts-secret-abcdef", "sts-token-xyz"}};
    o.regions = {
        {"cn-hangzhou",
         "Hangzhou",
         {{"cn-hangzhou-g", "Zone G", {"ecs.gn7i-c8g1.2xlarge"}},
          {"cn-hangzhou-h", "Zone H", {"ecs.gn7i-c8g1.2xlarge", "ecs.gn6i-c4g1.xlarge"}}}}};
    fake_ = std::make_unique<FakeAliyun>(o);
    ASSERT_TRUE(fake_->Start().ok());
  }

  AliyunClientOptions Client(SigV4Credentials keys, bool in_body = false) {
    AliyunClientOptions c;
    c.region = "cn-hangzhou";
    c.endpoint = fake_->endpoint();
    c.credentials = [keys]() -> Result<SigV4Credentials> { return keys; };
    c.env = &env_;
    c.params_in_body = in_body;
    c.jitter_seed = 7;
    return c;
  }

  NoSleepEnv env_;
  std::unique_ptr<FakeAliyun> fake_;
};

TEST_F(AliyunInteropTest, SignedCallsAreAcceptedByAnIndependentVerifier) {
  for (bool in_body : {false, true}) {
    AliyunClient client(Client({"LTAI-interop", "interop-secret-0123456789", ""}, in_body));
    Result<Json> regions = client.Call(AliyunService::kEcs, "DescribeRegions", RpcParams());
    ASSERT_TRUE(regions.ok()) << regions.status().ToString();
    EXPECT_EQ((*regions)["Regions"]["Region"][0]["RegionId"], "cn-hangzhou");
    EXPECT_TRUE(regions->contains("RequestId"));

    Result<Json> zones = client.Call(AliyunService::kEcs, "DescribeZones",
                                     RpcParams().Set("RegionId", "cn-hangzhou"));
    ASSERT_TRUE(zones.ok()) << zones.status().ToString();
    EXPECT_EQ((*zones)["Zones"]["Zone"].size(), 2u);
    EXPECT_EQ((*zones)["Zones"]["Zone"][1]["ZoneId"], "cn-hangzhou-h");
  }
  // The fake saw the parameters the client meant, whichever way they travelled.
  std::vector<Json> seen = fake_->SuccessfulParams("DescribeZones");
  ASSERT_EQ(seen.size(), 2u);
  for (const Json& p : seen) EXPECT_EQ(p["RegionId"], "cn-hangzhou");
}

TEST_F(AliyunInteropTest, StsTokensAndFlattenedParametersArriveIntact) {
  AliyunClient client(Client({"STS.interop", "sts-secret-abcdef", "sts-token-xyz"}));
  RpcParams p;
  p.Set("RegionId", "cn-hangzhou")
      .SetList("VSwitchIds", {"vsw-a", "vsw-b"})
      .SetStruct("CapacityOptions", RpcParams().Set("SpotAutoReplaceOnDemand", true))
      .SetStructList("Tag", {RpcParams().Set("Key", "baton-run").Set("Value", "demo 1/2")});
  // DescribeZones ignores what it does not know: the point is that the signature over these
  // names and values (spaces, slashes, dots) verifies and the fake parses them back.
  Result<Json> r = client.Call(AliyunService::kEcs, "DescribeZones", p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Json> seen = fake_->SuccessfulParams("DescribeZones");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["VSwitchIds"], Json({"vsw-a", "vsw-b"}));
  EXPECT_EQ(seen[0]["CapacityOptions"]["SpotAutoReplaceOnDemand"], "true");
  EXPECT_EQ(seen[0]["Tag"][0]["Value"], "demo 1/2");
}

TEST_F(AliyunInteropTest, ThrottlingIsRetriedWithBackoffAndOtherErrorsAreNot) {
  AliyunClient client(Client({"LTAI-interop", "interop-secret-0123456789", ""}));
  fake_->FailNext("DescribeRegions", 2, FakeAliyunFault::kThrottling);
  fake_->FailNext("DescribeZones", 1, FakeAliyunFault::kServiceUnavailable);
  ASSERT_TRUE(client.Call(AliyunService::kEcs, "DescribeRegions", RpcParams()).ok());
  ASSERT_TRUE(
      client.Call(AliyunService::kEcs, "DescribeZones", RpcParams().Set("RegionId", "cn-hangzhou"))
          .ok());
  EXPECT_EQ(client.attempts(), 5u);  // 2 throttled + 1, 1 unavailable + 1
  EXPECT_GT(env_.slept_us, 0u);
  // Each retry is signed anew (fresh nonce and date): the fake refuses any replayed nonce.
  for (const FakeAliyunCall& c : fake_->Calls()) EXPECT_NE(c.code, "SignatureNonceUsed");

  AliyunError error;
  Result<Json> unknown = client.Call(AliyunService::kEcs, "DescribeZones",
                                     RpcParams().Set("RegionId", "mars-1"), &error);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(error.code, "InvalidRegionId.NotFound");
  EXPECT_EQ(error.http_status, 404);
  EXPECT_EQ(client.attempts(), 6u) << "a parameter error is not retried";
  EXPECT_NE(unknown.status().message().find("DescribeZones"), std::string::npos);
}

TEST_F(AliyunInteropTest, AWrongSecretIsRefusedWithoutShowingIt) {
  AliyunClient client(Client({"LTAI-interop", "not-the-secret-777", ""}));
  AliyunError error;
  Result<Json> r = client.Call(AliyunService::kEcs, "DescribeRegions", RpcParams(), &error);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error.code, "SignatureDoesNotMatch");
  EXPECT_EQ(client.attempts(), 1u);
  EXPECT_EQ(r.status().ToString().find("not-the-secret-777"), std::string::npos);
  AliyunClient stranger(Client({"LTAI-nobody", "whatever-secret", ""}));
  Result<Json> s = stranger.Call(AliyunService::kEcs, "DescribeRegions", RpcParams(), &error);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(error.code, "InvalidAccessKeyId.NotFound");
}

}  // namespace
}  // namespace baton
