#include "cloud/fake_metadata_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cloud/metadata_time.h"
#include "net/http_client.h"

namespace baton {
namespace {

using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kDeadline = 1505722920000;  // 2017-09-18T08:22:00Z, a Monday

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class FakeMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith({}); }

  void StartWith(FakeMetadataOptions options) {
    auto server = FakeMetadataServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    fake_ = std::move(server).value();
  }

  HttpResponse Call(const std::string& method, const std::string& path, Headers headers = {}) {
    HttpRequest request;
    request.method = method;
    request.url = fake_->url() + path;
    request.headers = std::move(headers);
    request.connect_timeout_ms = 1000;
    request.total_timeout_ms = 2000;
    auto r = client_.Send(request);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
    return r.ok() ? *r : HttpResponse{};
  }

  std::string AwsToken() {
    HttpResponse r =
        Call("PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("x-aws-ec2-metadata-token-ttl-seconds"), "21600");
    return r.body;
  }

  std::unique_ptr<FakeMetadataServer> fake_;
  HttpClient client_;
};

TEST_F(FakeMetadataTest, NothingScheduledByDefault) {
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time").status, 404);
  Headers aws = {{"X-aws-ec2-metadata-token", AwsToken()}};
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/events/recommendations/rebalance", aws).status, 404);

  HttpResponse gcp =
      Call("GET", "/computeMetadata/v1/instance/preempted", {{"Metadata-Flavor", "Google"}});
  EXPECT_EQ(gcp.status, 200);
  EXPECT_EQ(gcp.body, "FALSE");
  EXPECT_EQ(gcp.Header("metadata-flavor"), "Google");

  HttpResponse azure =
      Call("GET", "/metadata/scheduledevents?api-version=2020-07-01", {{"Metadata", "true"}});
  ASSERT_EQ(azure.status, 200);
  Json doc = Json::parse(azure.body);
  EXPECT_TRUE(doc["DocumentIncarnation"].is_number_integer());
  EXPECT_EQ(doc["Events"], Json::array());
}

TEST_F(FakeMetadataTest, RefusesRequestsAsTheRealServicesDo) {
  // GCP: Metadata-Flavor: Google is required.
  EXPECT_EQ(Call("GET", "/computeMetadata/v1/instance/preempted").status, 403);
  EXPECT_EQ(Call("GET", "/computeMetadata/v1/instance/preempted",
                 {{"Metadata-Flavor", "Google"}, {"X-Forwarded-For", "1.2.3.4"}})
                .status,
            403);
  // Azure: Metadata: true and a known api-version are required.
  HttpResponse azure = Call("GET", "/metadata/scheduledevents?api-version=2020-07-01");
  EXPECT_EQ(azure.status, 400);
  EXPECT_NE(azure.body.find("Required metadata header not specified"), std::string::npos);
  EXPECT_EQ(Call("GET", "/metadata/scheduledevents", {{"Metadata", "true"}}).status, 400);
  EXPECT_EQ(Call("GET", "/metadata/scheduledevents?api-version=2015-01-01", {{"Metadata", "true"}})
                .status,
            400);
  // AWS IMDSv2: a token is required, and it has to be one the service handed out.
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action").status, 401);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action",
                 {{"X-aws-ec2-metadata-token", "forged"}})
                .status,
            401);
  EXPECT_EQ(Call("PUT", "/latest/api/token").status, 400);
  for (const char* ttl : {"0", "21601", "abc", ""}) {
    EXPECT_EQ(
        Call("PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", ttl}}).status,
        400)
        << ttl;
  }
  EXPECT_EQ(Call("PUT", "/latest/api/token",
                 {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Forwarded-For", "1.2.3.4"}})
                .status,
            403);
  EXPECT_EQ(
      Call("GET", "/latest/meta-data/spot/instance-action", {{"X-aws-ec2-metadata-token", ""}})
          .status,
      401);
  // An Alibaba token is no AWS token.
  HttpResponse ali =
      Call("PUT", "/latest/api/token", {{"X-aliyun-ecs-metadata-token-ttl-seconds", "60"}});
  ASSERT_EQ(ali.status, 200);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action",
                 {{"X-aws-ec2-metadata-token", ali.body}})
                .status,
            401);
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time",
                 {{"X-aliyun-ecs-metadata-token", ali.body}})
                .status,
            404);
  EXPECT_EQ(fake_->http().CountOfStatus(401), 4u);
}

TEST_F(FakeMetadataTest, TokenRequirementsAreConfigurable) {
  StartWith({.aws_require_token = false, .alibaba_require_token = true});
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time").status, 401);
  HttpResponse token =
      Call("PUT", "/latest/api/token", {{"X-aliyun-ecs-metadata-token-ttl-seconds", "60"}});
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time",
                 {{"X-aliyun-ecs-metadata-token", token.body}})
                .status,
            404);
  // AWS with HttpTokens=optional serves IMDSv1 GETs, but still refuses a bad token.
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action").status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action",
                 {{"X-aws-ec2-metadata-token", "forged"}})
                .status,
            401);
}

TEST_F(FakeMetadataTest, ServesScheduledNoticesInTheDocumentedShapes) {
  HttpResponse before =
      Call("GET", "/metadata/scheduledevents?api-version=2020-07-01", {{"Metadata", "true"}});
  int64_t incarnation = Json::parse(before.body)["DocumentIncarnation"].get<int64_t>();
  fake_->ScheduleNotice(std::nullopt, NoticeKind::kTermination, kDeadline, "stop");

  HttpResponse ali = Call("GET", "/latest/meta-data/instance/spot/termination-time");
  EXPECT_EQ(ali.status, 200);
  EXPECT_EQ(ali.body, "2017-09-18T08:22:00Z");

  Headers aws = {{"X-aws-ec2-metadata-token", AwsToken()}};
  HttpResponse action = Call("GET", "/latest/meta-data/spot/instance-action", aws);
  ASSERT_EQ(action.status, 200);
  EXPECT_EQ(Json::parse(action.body), (Json{{"action", "stop"}, {"time", "2017-09-18T08:22:00Z"}}));
  EXPECT_EQ(Call("GET", "/latest/meta-data/events/recommendations/rebalance", aws).status, 404);

  EXPECT_EQ(
      Call("GET", "/computeMetadata/v1/instance/preempted", {{"Metadata-Flavor", "Google"}}).body,
      "TRUE");

  HttpResponse azure =
      Call("GET", "/metadata/scheduledevents?api-version=2020-07-01", {{"Metadata", "true"}});
  Json doc = Json::parse(azure.body);
  EXPECT_EQ(doc["DocumentIncarnation"].get<int64_t>(), incarnation + 1);
  ASSERT_EQ(doc["Events"].size(), 1u);
  const Json& event = doc["Events"][0];
  EXPECT_EQ(event["EventType"], "Preempt");
  EXPECT_EQ(event["EventStatus"], "Scheduled");
  EXPECT_EQ(event["ResourceType"], "VirtualMachine");
  EXPECT_EQ(event["Resources"], Json::array({"baton-local-0"}));
  EXPECT_EQ(event["NotBefore"], "Mon, 18 Sep 2017 08:22:00 GMT");
  EXPECT_EQ(event["EventId"].get<std::string>().size(), 36u);
  EXPECT_EQ(Call("GET", "/metadata/instance/compute/name?api-version=2021-02-01&format=text",
                 {{"Metadata", "true"}})
                .body,
            "baton-local-0");

  fake_->ScheduleNotice(Cloud::kAws, NoticeKind::kRebalance, 0);
  HttpResponse rebalance = Call("GET", "/latest/meta-data/events/recommendations/rebalance", aws);
  ASSERT_EQ(rebalance.status, 200);
  EXPECT_TRUE(Json::parse(rebalance.body)["noticeTime"].is_string());

  fake_->Clear();
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time").status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 404);
  doc = Json::parse(
      Call("GET", "/metadata/scheduledevents?api-version=2020-07-01", {{"Metadata", "true"}}).body);
  EXPECT_EQ(doc["Events"], Json::array());
  EXPECT_EQ(doc["DocumentIncarnation"].get<int64_t>(), incarnation + 2);
}

TEST_F(FakeMetadataTest, AlibabaInstanceIdAndRamRole) {
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 404);  // no id configured
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/").status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/trainer").status, 404);

  StartWith({.alibaba_require_token = true, .instance_id = "i-bp1fake0000000001"});
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 401);
  Headers token = {
      {"X-aliyun-ecs-metadata-token",
       Call("PUT", "/latest/api/token", {{"X-aliyun-ecs-metadata-token-ttl-seconds", "60"}}).body}};
  HttpResponse id = Call("GET", "/latest/meta-data/instance-id", token);
  EXPECT_EQ(id.status, 200);
  EXPECT_EQ(id.body, "i-bp1fake0000000001");

  int64_t before_s = NowMs() / 1000;
  fake_->SetRamRole("trainer", "STS.NUk", "role-secret", "role-token", 1509513601);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/").status, 401);
  HttpResponse roles = Call("GET", "/latest/meta-data/ram/security-credentials/", token);
  EXPECT_EQ(roles.status, 200);
  EXPECT_EQ(roles.body, "trainer");
  // The documentation's examples write "Ram"; both spellings answer.
  for (const char* base : {"/latest/meta-data/ram/security-credentials/",
                           "/latest/meta-data/Ram/security-credentials/"}) {
    HttpResponse keys = Call("GET", std::string(base) + "trainer", token);
    ASSERT_EQ(keys.status, 200) << base;
    Json doc = Json::parse(keys.body);
    EXPECT_EQ(doc["AccessKeyId"], "STS.NUk");
    EXPECT_EQ(doc["AccessKeySecret"], "role-secret");
    EXPECT_EQ(doc["SecurityToken"], "role-token");
    EXPECT_EQ(doc["Expiration"], "2017-11-01T05:20:01Z");
    EXPECT_EQ(doc["Code"], "Success");
    Result<int64_t> updated = ParseRfc3339Ms(doc["LastUpdated"].get<std::string>());
    ASSERT_TRUE(updated.ok()) << doc.dump();
    EXPECT_GE(*updated / 1000, before_s);
  }
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/other", token).status, 404);
  // Another role replaces it: the old name is 404 from now on; detached, both are.
  fake_->SetRamRole("reader", "STS.2", "s2", "t2", 1509513601);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/trainer", token).status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/reader", token).status, 200);
  fake_->SetRamRole("", "", "", "", 0);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/", token).status, 404);
  EXPECT_EQ(Call("GET", "/latest/meta-data/ram/security-credentials/reader", token).status, 404);
}

TEST_F(FakeMetadataTest, ControlEndpointSchedulesClearsAndFails) {
  int64_t now = NowMs();
  HttpResponse r = Call("POST", "/__baton/notice?cloud=aws&in_ms=120000&kind=termination");
  ASSERT_EQ(r.status, 200) << r.body;
  Json scheduled = Json::parse(r.body)["scheduled"];
  ASSERT_EQ(scheduled.size(), 1u);
  EXPECT_EQ(scheduled[0]["cloud"], "aws");
  EXPECT_NEAR(scheduled[0]["deadline_unix_ms"].get<int64_t>(), now + 120000, 2000);
  Headers aws = {{"X-aws-ec2-metadata-token", AwsToken()}};
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 200);
  // Only AWS was told.
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time").status, 404);

  // Every cloud, each with its documented warning.
  r = Call("POST", "/__baton/notice");
  ASSERT_EQ(r.status, 200);
  scheduled = Json::parse(r.body)["scheduled"];
  ASSERT_EQ(scheduled.size(), 4u);
  for (const Json& s : scheduled) {
    Result<Cloud> c = ParseCloud(s["cloud"].get<std::string>());
    ASSERT_TRUE(c.ok());
    EXPECT_NEAR(s["deadline_unix_ms"].get<int64_t>(), now + DocumentedWarningMs(*c), 2000);
  }
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance/spot/termination-time").status, 200);

  EXPECT_EQ(Call("POST", "/__baton/notice?cloud=ibm").status, 400);
  EXPECT_EQ(Call("POST", "/__baton/notice?kind=soon").status, 400);
  EXPECT_EQ(Call("POST", "/__baton/notice?in_ms=-5").status, 400);
  EXPECT_EQ(Call("POST", "/__baton/notice?action=explode").status, 400);

  EXPECT_EQ(Call("POST", "/__baton/notice?cloud=aws&kind=rebalance").status, 200);
  EXPECT_EQ(Call("GET", "/latest/meta-data/events/recommendations/rebalance", aws).status, 200);

  EXPECT_EQ(Call("DELETE", "/__baton/notice").status, 200);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 404);

  EXPECT_EQ(Call("POST", "/__baton/fail?count=2&status=503").status, 200);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 503);
  EXPECT_EQ(Call("GET", "/__baton/stats").status, 200);  // control requests do not fail
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 503);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 404);

  EXPECT_EQ(Call("POST", "/__baton/expire-tokens").status, 200);
  EXPECT_EQ(Call("GET", "/latest/meta-data/spot/instance-action", aws).status, 401);

  Json stats = Json::parse(Call("GET", "/__baton/stats").body);
  EXPECT_EQ(stats["counters"]["status 503"], 2);
  EXPECT_EQ(stats["counters"]["GET /latest/meta-data/spot/instance-action"], 6);
  EXPECT_GT(stats["requests"].get<int64_t>(), 20);
}

}  // namespace
}  // namespace baton
