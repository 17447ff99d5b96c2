// AwsClient (cloud/aws_api.h) and its errors (cloud/aws_errors.h) against a loopback HttpServer
// that checks each request's SigV4 signature as it arrived: the form body of both protocols, the
// error documents of both, endpoint and region resolution, retries (throttling twice then success,
// a 503 without a body, transport failures) with growing waits slept through the Env, what is
// never retried (4xx, capacity codes even with HTTP 500), pagination, and no secret in any error.
#include "cloud/aws_api.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "base/strings.h"
#include "cloud/aws_ec2.h"
#include "net/http_server.h"
#include "test_util.h"

namespace baton {
namespace {

constexpr char kKeyId[] = "AKIDTEST";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRET";
constexpr char kToken[] = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN";

// A fixed clock (2026-01-02T03:04:05Z) that records sleeps instead of sleeping.
class FakeClockEnv : public ForwardingEnv {
 public:
  uint64_t NowMicros() override { return 1767323045ull * 1000000; }
  void SleepMicros(uint64_t micros) override {
    std::lock_guard<std::mutex> lock(mu_);
    sleeps_.push_back(micros);
  }
  std::vector<uint64_t> sleeps() {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> sleeps_;
};

struct Seen {
  std::string authorization, token, content_type, date, body;
  bool signature_ok = false;
};

class AwsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("POST", "/", [this](const HttpServerRequest& r) { return Handle(r); });
    ASSERT_TRUE(server_.Start().ok());
  }

  AwsClientOptions Options(bool sts = false) {
    AwsClientOptions o;
    o.region = "eu-west-1";
    o.endpoint = server_.url();
    o.env = &env_;
    o.jitter_seed = 7;
    o.credentials = [sts]() -> Result<SigV4Credentials> {
      return SigV4Credentials{kKeyId, kSecret, sts ? kToken : ""};
    };
    return o;
  }

  // Recomputes the signature from what arrived; answers with the next queued response.
  HttpServerResponse Handle(const HttpServerRequest& r) {
    Seen s;
    s.authorization = r.Header("authorization");
    s.token = r.Header("x-amz-security-token");
    s.content_type = r.Header("content-type");
    s.date = r.Header("x-amz-date");
    s.body = r.body;
    HttpRequestToSign check;
    check.method = r.method;
    check.path = r.path;
    for (const char* h : {"content-type", "host", "x-amz-date", "x-amz-security-token"}) {
      if (r.HasHeader(h)) check.headers.emplace_back(h, r.Header(h));
    }
    check.payload_sha256_hex = Sha256Hex(r.body);
    // The scope names the service; moto routes by it, so it must be right.
    std::string service = s.authorization.find("/autoscaling/") != std::string::npos ? "autoscaling"
                          : s.authorization.find("/iam/") != std::string::npos       ? "iam"
                                                                                     : "ec2";
    std::string region = service == "iam" ? "us-east-1" : "eu-west-1";
    Result<std::string> auth = AuthorizationHeader(
        check, {region, service, s.date}, {kKeyId, kSecret, s.token.empty() ? "" : kToken});
    s.signature_ok = auth.ok() && *auth == s.authorization;
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(s);
    if (responses_.empty()) {
      return HttpServerResponse::Text(200, "<OkResponse><requestId>ok</requestId></OkResponse>",
                                      "text/xml");
    }
    HttpServerResponse out = responses_.front();
    responses_.pop_front();
    return out;
  }

  void Queue(HttpServerResponse r) {
    std::lock_guard<std::mutex> lock(mu_);
    responses_.push_back(std::move(r));
  }
  static HttpServerResponse Ec2Error(int status, const std::string& code,
                                     const std::string& message = "m") {
    return HttpServerResponse::Text(
        status,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" + code +
            "</Code><Message>" + message + "</Message></Error></Errors><RequestID>rid-" + code +
            "</RequestID></Response>",
        "text/xml");
  }
  static HttpServerResponse Xml(const std::string& body) {
    return HttpServerResponse::Text(200, body, "text/xml");
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  HttpServer server_;
  FakeClockEnv env_;
  std::mutex mu_;
  std::deque<HttpServerResponse> responses_;
  std::vector<Seen> seen_;
};

TEST(AwsQueryTest, BodiesOfBothProtocols) {
  AwsParams ec2;
  ec2.SetList("InstanceId", {"i-1", "i-2"});
  AwsParams filter;
  filter.Set("Name", "tag:baton:run").SetList("Value", {"run 1/a"});
  ec2.SetStructList("Filter", {filter});
  EXPECT_EQ(AwsQueryBody(AwsService::kEc2, "DescribeInstances", ec2),
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Abaton%3Arun&"
            "Filter.1.Value.1=run%201%2Fa&InstanceId.1=i-1&InstanceId.2=i-2");

  AwsParams asg;
  AwsParams spec;
  spec.Set("LaunchTemplateId", "lt-1").Set("Version", "$Latest");
  AwsParams o1, o2;
  o1.Set("InstanceType", "g5.xlarge");
  o2.Set("InstanceType", "g6.xlarge");
  AwsParams lt;
  lt.SetStruct("LaunchTemplateSpecification", spec)
      .SetStructList(AwsMemberList("Overrides"), {o1, o2});
  asg.Set("AutoScalingGroupName", "baton-asg")
      .SetStruct("MixedInstancesPolicy.LaunchTemplate", lt)
      .Set("VPCZoneIdentifier", "subnet-a,subnet-b")
      .SetList(AwsMemberList("AvailabilityZones"), {"us-east-1a"})
      .Set("CapacityRebalance", true);
  std::string body = AwsQueryBody(AwsService::kAutoScaling, "CreateAutoScalingGroup", asg);
  EXPECT_EQ(body.rfind("Action=CreateAutoScalingGroup&Version=2011-01-01&", 0), 0u) << body;
  for (const char* pair :
       {"&MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.Version=%24Latest",
        "&MixedInstancesPolicy.LaunchTemplate.Overrides.member.2.InstanceType=g6.xlarge",
        "&AvailabilityZones.member.1=us-east-1a", "&VPCZoneIdentifier=subnet-a%2Csubnet-b",
        "&CapacityRebalance=true"}) {
    EXPECT_NE(body.find(pair), std::string::npos) << pair << " in " << body;
  }
}

TEST(AwsErrorsTest, BothProtocolsAndMotosMixAndHtml) {
  AwsError ec2 = ParseAwsError(
      400,
      "<?xml version=\"1.0\"?><Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>"
      "<Message>The instance ID 'i-1' does not exist</Message></Error></Errors>"
      "<RequestID>r-ec2</RequestID></Response>");
  EXPECT_EQ(ec2.code, "InvalidInstanceID.NotFound");
  EXPECT_EQ(ec2.message, "The instance ID 'i-1' does not exist");
  EXPECT_EQ(ec2.request_id, "r-ec2");
  EXPECT_EQ(ClassifyAwsError(ec2.code, 400), AwsErrorKind::kNotFound);

  AwsError query = ParseAwsError(
      400,
      "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error>"
      "<Type>Sender</Type><Code>ValidationError</Code><Message>AutoScalingGroup name not found"
      "</Message></Error><RequestId>r-asg</RequestId></ErrorResponse>");
  EXPECT_EQ(query.code, "ValidationError");
  EXPECT_EQ(query.type, "Sender");
  EXPECT_EQ(query.request_id, "r-asg");
  Status s = AwsErrorStatus("autoscaling", "UpdateAutoScalingGroup", query);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "autoscaling UpdateAutoScalingGroup: ValidationError (HTTP 400): AutoScalingGroup "
            "name not found [RequestId r-asg]");

  AwsError mixed = ParseAwsError(
      403,
      "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message>"
      "</Error></Errors></ErrorResponse>");
  EXPECT_EQ(mixed.code, "SignatureDoesNotMatch");
  EXPECT_EQ(ClassifyAwsError(mixed.code, 403), AwsErrorKind::kPermission);

  AwsError html = ParseAwsError(500, "<!DOCTYPE html>\n<html><title>500 KeyError</title>");
  EXPECT_EQ(html.code, "");
  EXPECT_EQ(html.message, "<!DOCTYPE html>?<html><title>500 KeyError</title>");
  EXPECT_EQ(ClassifyAwsError("", 500), AwsErrorKind::kServerError);
}

TEST(AwsErrorsTest, TheTable) {
  for (const char* c : {"Throttling", "ThrottlingException", "RequestLimitExceeded",
                        "EC2ThrottledException", "RequestThrottled"}) {
    EXPECT_EQ(ClassifyAwsError(c, 400), AwsErrorKind::kThrottled) << c;
  }
  for (const char* c : {"InternalError", "ServiceUnavailable", "Unavailable"}) {
    EXPECT_TRUE(IsRetryable(ClassifyAwsError(c, 500))) << c;
  }
  for (const char* c :
       {"InsufficientInstanceCapacity", "SpotMaxPriceTooLow", "MaxSpotInstanceCountExceeded",
        "InsufficientCapacity", "UnfulfillableCapacity"}) {
    EXPECT_TRUE(IsAwsCapacityError(c)) << c;
    // EC2 sends InsufficientInstanceCapacity with HTTP 500: still not retried.
    EXPECT_EQ(ClassifyAwsError(c, 500), AwsErrorKind::kNoCapacity) << c;
  }
  EXPECT_FALSE(IsAwsCapacityError("InvalidParameterValue"));
  EXPECT_EQ(ClassifyAwsError("InvalidParameterValue", 400), AwsErrorKind::kInvalid);
  EXPECT_EQ(ClassifyAwsError("AuthFailure", 401), AwsErrorKind::kPermission);
  EXPECT_EQ(ClassifyAwsError("", 429), AwsErrorKind::kThrottled);
  EXPECT_EQ(ClassifyAwsError("SomethingNew", 400), AwsErrorKind::kUnknown);
}

TEST(AwsEndpointTest, OptionsThenServiceEnvThenGlobalEnvThenDefaults) {
  testing::ScopedEnv env;
  for (const char* v : {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                        "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_AUTO_SCALING",
                        "AWS_ENDPOINT_URL_IAM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"}) {
    env.Unset(v);
  }
  {
    AwsClient c(AwsClientOptions{});
    EXPECT_EQ(c.region(), "");
    Result<XmlElement> r = c.Call(AwsService::kEc2, "DescribeInstances", AwsParams());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(),
              "ec2 DescribeInstances: no AWS region: set the region option, AWS_REGION or "
              "AWS_DEFAULT_REGION");
    EXPECT_EQ(c.attempts(), 0u);
    EXPECT_EQ(c.EndpointOf(AwsService::kIam), "https://iam.amazonaws.com");
    EXPECT_EQ(c.SigningRegion(AwsService::kIam), "us-east-1");
  }
  env.Set("AWS_DEFAULT_REGION", "eu-central-1");
  EXPECT_EQ(AwsClient(AwsClientOptions{}).region(), "eu-central-1");
  env.Set("AWS_REGION", "ap-south-1");
  AwsClient regional(AwsClientOptions{});
  EXPECT_EQ(regional.region(), "ap-south-1");
  EXPECT_EQ(regional.EndpointOf(AwsService::kEc2), "https://ec2.ap-south-1.amazonaws.com");
  EXPECT_EQ(regional.EndpointOf(AwsService::kAutoScaling),
            "https://autoscaling.ap-south-1.amazonaws.com");
  AwsClientOptions o;
  o.region = "us-west-2";
  EXPECT_EQ(AwsClient(o).region(), "us-west-2");

  env.Set("AWS_ENDPOINT_URL", "http://127.0.0.1:1/");
  env.Set("AWS_ENDPOINT_URL_AUTO_SCALING", "http://127.0.0.1:2");
  AwsClient c(o);
  EXPECT_EQ(c.EndpointOf(AwsService::kEc2), "http://127.0.0.1:1");
  EXPECT_EQ(c.EndpointOf(AwsService::kAutoScaling), "http://127.0.0.1:2");
  EXPECT_EQ(c.EndpointOf(AwsService::kIam), "http://127.0.0.1:1");
  env.Set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
  EXPECT_EQ(c.EndpointOf(AwsService::kEc2), "https://ec2.us-west-2.amazonaws.com");
  o.endpoint = "http://127.0.0.1:3";
  EXPECT_EQ(AwsClient(o).EndpointOf(AwsService::kAutoScaling), "http://127.0.0.1:3");
}

TEST_F(AwsClientTest, SignedFormPostsReachTheServerForEachService) {
  AwsClient client(Options(/*sts=*/true));
  Queue(
      Xml("<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
          "<requestId>r1</requestId><reservationSet/></DescribeInstancesResponse>"));
  AwsParams p;
  p.SetList("InstanceId", {"i-1"});
  Result<XmlElement> r = client.Call(AwsService::kEc2, "DescribeInstances", p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ChildText("requestId"), "r1");
  ASSERT_TRUE(client.Call(AwsService::kAutoScaling, "DescribeAutoScalingGroups", {}).ok());
  ASSERT_TRUE(client.Call(AwsService::kIam, "ListUsers", {}).ok());
  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].body, "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1");
  EXPECT_EQ(s[1].body, "Action=DescribeAutoScalingGroups&Version=2011-01-01");
  EXPECT_EQ(s[2].body, "Action=ListUsers&Version=2010-05-08");
  const char* scopes[] = {"/eu-west-1/ec2/aws4_request", "/eu-west-1/autoscaling/aws4_request",
                          "/us-east-1/iam/aws4_request"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(s[i].signature_ok) << s[i].authorization;
    EXPECT_EQ(s[i].authorization.rfind("AWS4-HMAC-SHA256 Credential=AKIDTEST/20260102", 0), 0u);
    EXPECT_NE(s[i].authorization.find(scopes[i]), std::string::npos) << s[i].authorization;
    EXPECT_EQ(s[i].content_type, "application/x-www-form-urlencoded; charset=utf-8");
    EXPECT_EQ(s[i].date, "20260102T030405Z");
    EXPECT_EQ(s[i].token, kToken);
  }
}

TEST_F(AwsClientTest, ThrottledTwiceThenSucceedsWithGrowingWaits) {
  AwsClientOptions o = Options();
  o.base_backoff_ms = 100;
  AwsClient client(o);
  Queue(Ec2Error(503, "RequestLimitExceeded"));
  Queue(HttpServerResponse::Text(
      400,
      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate "
      "exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>",
      "text/xml"));
  Queue(Xml("<RunInstancesResponse><requestId>ok</requestId></RunInstancesResponse>"));
  Result<XmlElement> r = client.Call(AwsService::kEc2, "RunInstances", AwsParams());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(client.attempts(), 3u);
  std::vector<uint64_t> sleeps = env_.sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  for (size_t k = 0; k < sleeps.size(); ++k) {  // attempt k waits within [step/2, step]
    uint64_t step = 100000ull << k;
    EXPECT_GE(sleeps[k], step / 2) << k;
    EXPECT_LE(sleeps[k], step) << k;
  }
  for (const Seen& s : seen()) EXPECT_TRUE(s.signature_ok);
}

TEST_F(AwsClientTest, ClientErrorsAndCapacityAreNotRetried) {
  AwsClient client(Options());
  Queue(Ec2Error(400, "InvalidParameterValue", "Value (x) for parameter instanceType is invalid"));
  AwsError err;
  Result<XmlElement> r = client.Call(AwsService::kEc2, "RunInstances", AwsParams(), &err);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "ec2 RunInstances: InvalidParameterValue (HTTP 400): Value (x) for parameter "
            "instanceType is invalid [RequestId rid-InvalidParameterValue]");
  EXPECT_EQ(err.code, "InvalidParameterValue");
  EXPECT_EQ(err.http_status, 400);
  EXPECT_EQ(client.attempts(), 1u);

  Queue(Ec2Error(500, "InsufficientInstanceCapacity", "We currently do not have capacity"));
  r = client.Call(AwsService::kEc2, "RunInstances", AwsParams(), &err);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(err.code, "InsufficientInstanceCapacity");
  EXPECT_TRUE(IsAwsCapacityError(err.code));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(client.attempts(), 2u);
  EXPECT_TRUE(env_.sleeps().empty());
}

TEST_F(AwsClientTest, BodilessServerErrorsAndDroppedConnectionsAreRetriedThenGivenUp) {
  AwsClientOptions o = Options();
  o.max_attempts = 3;
  AwsClient client(o);
  HttpServerResponse unavailable = HttpServerResponse::Text(503, "");
  // A fresh connection for the next request: libcurl itself resends a request whose reused
  // connection turns out closed, which would hide the drop from the client.
  unavailable.close_connection = true;
  Queue(unavailable);
  HttpServerResponse dropped;
  dropped.drop_connection = true;
  Queue(dropped);
  Queue(Xml("<SetDesiredCapacityResponse/>"));
  ASSERT_TRUE(client.Call(AwsService::kAutoScaling, "SetDesiredCapacity", {}).ok());
  EXPECT_EQ(client.attempts(), 3u);

  for (int i = 0; i < 3; ++i) Queue(HttpServerResponse::Text(503, ""));
  AwsError err;
  Result<XmlElement> r = client.Call(AwsService::kAutoScaling, "SetDesiredCapacity", {}, &err);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "autoscaling SetDesiredCapacity: no error code (HTTP 503) (gave up after 3 attempts)");
  EXPECT_EQ(err.http_status, 503);
  EXPECT_EQ(client.attempts(), 6u);
}

TEST_F(AwsClientTest, SecretsNeverAppearEvenWhenTheServerEchoesThem) {
  AwsClientOptions o = Options(/*sts=*/true);
  o.max_attempts = 2;
  AwsClient client(o);
  // The server puts everything it got into its message: the signature, the token, the secret.
  server_.SetInterceptor([](const HttpServerRequest& r) -> std::optional<HttpServerResponse> {
    std::string echo = r.head + " " + kSecret + " " + r.body;
    ReplaceAll(&echo, "&", "&amp;");
    ReplaceAll(&echo, "<", "&lt;");
    return HttpServerResponse::Text(
        403,
        "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>" + echo +
            "</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        "text/xml");
  });
  AwsError err;
  Result<XmlElement> r = client.Call(AwsService::kIam, "CreateAccessKey", AwsParams(), &err);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("iam CreateAccessKey: SignatureDoesNotMatch (HTTP 403)"), std::string::npos);
  EXPECT_NE(m.find("AKIDTEST"), std::string::npos);  // the key id is not secret
  EXPECT_NE(m.find("<redacted>"), std::string::npos);
  for (const std::string& text : {m, err.message}) {
    EXPECT_EQ(text.find(kSecret), std::string::npos) << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << text;
    EXPECT_EQ(text.find("Signature=<redacted>"), text.find("Signature=")) << text;
  }
  EXPECT_EQ(client.attempts(), 1u);  // a signature error is not retried
}

TEST_F(AwsClientTest, Ec2PagesFollowNextTokenAndAStuckTokenIsAnError) {
  AwsClient client(Options());
  Queue(Xml("<R><nextToken>t1</nextToken><n>1</n></R>"));
  Queue(Xml("<R><nextToken>t2</nextToken><n>2</n></R>"));
  Queue(Xml("<R><n>3</n></R>"));
  AwsParams p;
  p.Set("NextToken", "stale");
  std::vector<std::string> pages;
  Status s = PaginateEc2(&client, "DescribeInstances", p, 5, [&](const XmlElement& page) {
    pages.push_back(page.ChildText("n"));
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(pages, (std::vector<std::string>{"1", "2", "3"}));
  std::vector<Seen> seen_now = seen();
  ASSERT_EQ(seen_now.size(), 3u);
  EXPECT_EQ(seen_now[0].body, "Action=DescribeInstances&Version=2016-11-15&MaxResults=5");
  EXPECT_EQ(seen_now[2].body,
            "Action=DescribeInstances&Version=2016-11-15&MaxResults=5&NextToken=t2");

  Queue(Xml("<R><nextToken>same</nextToken></R>"));
  Queue(Xml("<R><nextToken>same</nextToken></R>"));
  s = PaginateEc2(&client, "DescribeInstances", {}, 0,
                  [](const XmlElement&) { return Status::Ok(); });
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "ec2 DescribeInstances: NextToken did not advance");
}

TEST_F(AwsClientTest, DescribeInstancesByIdsSendsNoMaxResults) {
  AwsClient client(Options());
  Ec2InstanceQuery q;
  q.page_size = 50;
  q.tags = {{"baton:run", "r"}};
  ASSERT_TRUE(Ec2DescribeInstances(&client, q).ok());
  q.instance_ids = {"i-1"};
  ASSERT_TRUE(Ec2DescribeInstances(&client, q).ok());
  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].body,
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Abaton%3Arun&"
            "Filter.1.Value.1=r&MaxResults=50");
  EXPECT_EQ(s[1].body,
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Abaton%3Arun&"
            "Filter.1.Value.1=r&InstanceId.1=i-1");
}

TEST_F(AwsClientTest, AutoScalingPagesReadTheResultsNextToken) {
  AwsClient client(Options());
  Queue(
      Xml("<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
          "<AutoScalingGroups><member><AutoScalingGroupName>a</AutoScalingGroupName></member>"
          "</AutoScalingGroups><NextToken>a</NextToken></DescribeAutoScalingGroupsResult>"
          "</DescribeAutoScalingGroupsResponse>"));
  Queue(
      Xml("<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
          "<AutoScalingGroups><member><AutoScalingGroupName>b</AutoScalingGroupName></member>"
          "</AutoScalingGroups></DescribeAutoScalingGroupsResult>"
          "</DescribeAutoScalingGroupsResponse>"));
  std::vector<std::string> names;
  Status s =
      PaginateAutoScaling(&client, "DescribeAutoScalingGroups", {}, 1, [&](const XmlElement& page) {
        const XmlElement* result = AwsQueryResult(page, "DescribeAutoScalingGroups");
        for (const XmlElement* g : AwsMembers(result->Child("AutoScalingGroups"))) {
          names.push_back(g->ChildText("AutoScalingGroupName"));
        }
        return Status::Ok();
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen()[1].body,
            "Action=DescribeAutoScalingGroups&Version=2011-01-01&MaxRecords=1&NextToken=a");
}

TEST_F(AwsClientTest, AMalformedSuccessIsCorruptionNamingTheAnswer) {
  AwsClient client(Options());
  Queue(Xml("<RunInstancesResponse><instancesSet>"));
  Result<XmlElement> r = client.Call(AwsService::kEc2, "RunInstances", AwsParams());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message().rfind("ec2 RunInstances answer (HTTP 200):1:", 0), 0u)
      << r.status().message();
  EXPECT_EQ(client.attempts(), 1u);
}

}  // namespace
}  // namespace baton
