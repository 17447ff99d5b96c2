// AliyunClient (cloud/aliyun_api.h) against a loopback HttpServer: the signed headers arrive and
// the signature matches what arrived, a JSON error then a success, throttling retried with
// growing waits slept through the Env, transport failures retried, pagination, the endpoint
// override, and no secret in any error message.
#include "cloud/aliyun_api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "base/process_contract.h"
#include "cloud/aliyun_signer.h"
#include "net/http_server.h"
#include "test_util.h"

namespace baton {
namespace {

constexpr char kKeyId[] = "LTAI-test-id";
constexpr char kSecret[] = "very-secret-key-XYZ";
constexpr char kToken[] = "sts-token-ABC";

// Records sleeps instead of sleeping.
class FakeSleepEnv : public ForwardingEnv {
 public:
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

// What the test server saw of one request, and whether its signature checked out.
struct Seen {
  std::string action, version, authorization, token;
  std::map<std::string, std::string> query;
  std::string body;
  bool signature_ok = false;
};

class AliyunClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("POST", "/", [this](const HttpServerRequest& r) { return Handle(r); });
    ASSERT_TRUE(server_.Start().ok());
  }

  AliyunClientOptions Options(bool sts = false) {
    AliyunClientOptions o;
    o.region = "cn-hangzhou";
    o.endpoint = server_.url();
    o.env = &env_;
    o.jitter_seed = 7;
    o.credentials = [sts]() -> Result<SigV4Credentials> {
      return SigV4Credentials{kKeyId, kSecret, sts ? kToken : ""};
    };
    return o;
  }

  // Answers with the next queued response (200 {} when none is queued).
  HttpServerResponse Handle(const HttpServerRequest& r) {
    Seen s;
    s.action = r.Header("x-acs-action");
    s.version = r.Header("x-acs-version");
    s.authorization = r.Header("authorization");
    s.token = r.Header("x-acs-security-token");
    s.query = r.query;
    s.body = r.body;
    // Recompute the signature from what arrived: the query decoded, the signed headers.
    Acs3Request check;
    check.method = r.method;
    check.path = r.path;
    for (const auto& [k, v] : r.query) check.query.emplace_back(k, v);
    for (const auto& [k, v] : r.headers) {
      if (IsAcs3SignedHeader(k)) check.headers.emplace_back(k, v);
    }
    check.payload_sha256_hex = Sha256Hex(r.body);
    Result<Acs3Signature> sig = ComputeAcs3Signature(check, {kKeyId, kSecret, ""});
    s.signature_ok = sig.ok() && sig->authorization == s.authorization &&
                     r.Header("x-acs-content-sha256") == check.payload_sha256_hex &&
                     !r.Header("x-acs-date").empty() && !r.Header("x-acs-signature-nonce").empty();
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(s);
    if (responses_.empty()) return HttpServerResponse::Json(200, R"({"RequestId":"ok"})");
    HttpServerResponse out = responses_.front();
    responses_.pop_front();
    return out;
  }

  void Queue(HttpServerResponse r) {
    std::lock_guard<std::mutex> lock(mu_);
    responses_.push_back(std::move(r));
  }
  static HttpServerResponse Error(int status, const std::string& code,
                                  const std::string& message = "m") {
    Json j = {{"RequestId", "RID-" + code},
              {"HostId", "ess.aliyuncs.com"},
              {"Code", code},
              {"Message", message}};
    return HttpServerResponse::Json(status, j.dump());
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  HttpServer server_;
  FakeSleepEnv env_;
  std::mutex mu_;
  std::deque<HttpServerResponse> responses_;
  std::vector<Seen> seen_;
};

TEST_F(AliyunClientTest, SignedHeadersArriveThenJsonErrorThenSuccess) {
  AliyunClient client(Options());
  Queue(Error(400, "InvalidParameter.VSwitchIds", "The specified VSwitchIds is invalid."));
  Queue(HttpServerResponse::Json(200, R"({"RequestId":"R2","ScalingGroupId":"asg-1"})"));
  RpcParams p;
  p.Set("RegionId", "cn-hangzhou").SetList("VSwitchIds", {"vsw a", "vsw*b"});
  AliyunError err;
  Result<Json> first = client.Call(AliyunService::kEss, "CreateScalingGroup", p, &err);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(first.status().message().find("ess CreateScalingGroup"), std::string::npos);
  EXPECT_NE(first.status().message().find("InvalidParameter.VSwitchIds"), std::string::npos);
  EXPECT_NE(first.status().message().find("RID-InvalidParameter.VSwitchIds"), std::string::npos);
  EXPECT_EQ(err.code, "InvalidParameter.VSwitchIds");
  EXPECT_EQ(client.attempts(), 1u);  // a parameter error is never retried
  EXPECT_TRUE(env_.sleeps().empty());

  Result<Json> second = client.Call(AliyunService::kEss, "CreateScalingGroup", p);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ((*second)["ScalingGroupId"], "asg-1");

  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 2u);
  for (const Seen& one : s) {
    EXPECT_EQ(one.action, "CreateScalingGroup");
    EXPECT_EQ(one.version, "2014-08-28");
    EXPECT_EQ(one.authorization.rfind("ACS3-HMAC-SHA256 Credential=LTAI-test-id,SignedHeaders="
                                      "host;x-acs-action;x-acs-content-sha256;x-acs-date;"
                                      "x-acs-signature-nonce;x-acs-version,Signature=",
                                      0),
              0u)
        << one.authorization;
    EXPECT_TRUE(one.signature_ok);
    EXPECT_EQ(one.query.at("VSwitchIds.1"), "vsw a");
    EXPECT_EQ(one.query.at("VSwitchIds.2"), "vsw*b");
    EXPECT_EQ(one.query.count("Action"), 0u);  // Action and Version travel as headers
    EXPECT_TRUE(one.token.empty());
  }
}

TEST_F(AliyunClientTest, ThrottlingAndServerErrorsAreRetriedWithGrowingWaits) {
  AliyunClientOptions o = Options();
  o.base_backoff_ms = 100;
  AliyunClient client(o);
  Queue(Error(400, "Throttling.User"));
  Queue(Error(400, "Throttling"));
  Queue(Error(503, "ServiceUnavailable"));
  Queue(Error(500, "InternalError"));
  Queue(HttpServerResponse::Json(200, R"({"RequestId":"R","Regions":{"Region":[]}})"));
  Result<Json> r = client.Call(AliyunService::kEcs, "DescribeRegions", RpcParams());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(client.attempts(), 5u);
  std::vector<uint64_t> sleeps = env_.sleeps();
  ASSERT_EQ(sleeps.size(), 4u);
  // Attempt k waits within [base*2^(k-1)/2, base*2^(k-1)].
  for (size_t k = 0; k < sleeps.size(); ++k) {
    uint64_t full = 100000ull << k;
    EXPECT_GE(sleeps[k], full / 2) << k;
    EXPECT_LE(sleeps[k], full) << k;
  }
  for (const Seen& s : seen()) EXPECT_TRUE(s.signature_ok);
}

TEST_F(AliyunClientTest, GivesUpAfterMaxAttemptsAndHonoursRetryAfter) {
  AliyunClientOptions o = Options();
  o.max_attempts = 3;
  o.base_backoff_ms = 10;
  AliyunClient client(o);
  for (int i = 0; i < 3; ++i) {
    HttpServerResponse r = Error(400, "Throttling.Api");
    r.headers.emplace_back("x-acs-retry-after", "2");
    Queue(r);
  }
  Result<Json> r = client.Call(AliyunService::kEcs, "DescribeInstances", RpcParams());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("Throttling.Api"), std::string::npos);
  EXPECT_NE(r.status().message().find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(env_.sleeps(), (std::vector<uint64_t>{2000000, 2000000}));
}

TEST_F(AliyunClientTest, TransportFailuresAreRetried) {
  AliyunClient client(Options());
  HttpServerResponse drop;
  drop.drop_connection = true;
  Queue(drop);
  Queue(HttpServerResponse::Json(200, R"({"RequestId":"R"})"));
  Result<Json> r = client.Call(AliyunService::kEcs, "DescribeRegions", RpcParams());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(client.attempts(), 2u);
  EXPECT_EQ(env_.sleeps().size(), 1u);
}

TEST_F(AliyunClientTest, PermissionErrorsAreNotRetriedAndSecretsNeverShow) {
  AliyunClient client(Options(/*sts=*/true));
  // A server that echoes everything it got, secrets included.
  server_.Route("POST", "/", [this](const HttpServerRequest& r) {
    Handle(r);
    std::string echo = std::string("key ") + kSecret + " token " +
                       r.Header("x-acs-security-token") + " auth " + r.Header("authorization");
    return Error(403, "SignatureDoesNotMatch", echo);
  });
  Result<Json> r = client.Call(AliyunService::kEcs, "RunInstances", RpcParams().Set("A", "b"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(client.attempts(), 1u);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("ecs RunInstances: SignatureDoesNotMatch"), std::string::npos) << m;
  EXPECT_EQ(m.find(kSecret), std::string::npos) << m;
  EXPECT_EQ(m.find(kToken), std::string::npos) << m;
  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].token, kToken);  // the STS token was sent (and signed)
  std::string signature = s[0].authorization.substr(s[0].authorization.find("Signature=") + 10);
  EXPECT_EQ(m.find(signature), std::string::npos) << m;

  // Nor in a transport failure's message, nor a credentials failure's.
  AliyunClientOptions o = Options(true);
  o.endpoint = "http://127.0.0.1:" + std::to_string(1);  // nothing listens on port 1
  o.max_attempts = 2;
  AliyunClient refused(o);
  Result<Json> t = refused.Call(AliyunService::kEcs, "RunInstances", RpcParams());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(t.status().message().find(kToken), std::string::npos);
}

TEST_F(AliyunClientTest, ParamsInBodyAreFormEncodedAndSigned) {
  AliyunClientOptions o = Options();
  o.params_in_body = true;
  AliyunClient client(o);
  ASSERT_TRUE(
      client.Call(AliyunService::kEss, "ModifyScalingGroup", RpcParams().Set("Name", "a b*c"))
          .ok());
  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].body, "Name=a%20b%2Ac");
  EXPECT_TRUE(s[0].query.empty());
  EXPECT_TRUE(s[0].signature_ok);
}

TEST_F(AliyunClientTest, EndpointsFromRegionOptionOrEnvironment) {
  testing::ScopedEnv env;
  env.Unset(EnvVar::kAliyunEndpoint);
  AliyunClientOptions o = Options();
  o.endpoint = "";
  EXPECT_EQ(AliyunClient(o).EndpointOf(AliyunService::kEcs),
            "https://ecs.cn-hangzhou.aliyuncs.com");
  EXPECT_EQ(AliyunClient(o).EndpointOf(AliyunService::kEss),
            "https://ess.cn-hangzhou.aliyuncs.com");
  env.Set(EnvVar::kAliyunEndpoint, server_.url() + "/");
  AliyunClient from_env(o);
  EXPECT_EQ(from_env.EndpointOf(AliyunService::kEss), server_.url());
  EXPECT_TRUE(from_env.Call(AliyunService::kEss, "DescribeScalingGroups", RpcParams()).ok());
  o.endpoint = "http://example.invalid:1";
  EXPECT_EQ(AliyunClient(o).EndpointOf(AliyunService::kEcs), "http://example.invalid:1");
}

TEST_F(AliyunClientTest, PaginatesNextTokenAndPageNumbers) {
  AliyunClient client(Options());
  Queue(HttpServerResponse::Json(
      200, R"({"NextToken":"t1","Instances":{"Instance":[{"InstanceId":"i-1"}]}})"));
  Queue(HttpServerResponse::Json(
      200, R"({"NextToken":"t2","Instances":{"Instance":[{"InstanceId":"i-2"}]}})"));
  Queue(HttpServerResponse::Json(
      200, R"({"NextToken":"","Instances":{"Instance":[{"InstanceId":"i-3"}]}})"));
  std::vector<std::string> ids;
  Status st =
      PaginateNextToken(&client, AliyunService::kEcs, "DescribeInstances",
                        RpcParams().Set("RegionId", "cn-hangzhou"), 100, [&](const Json& page) {
                          for (const Json& i : AliyunList(page, "Instances", "Instance")) {
                            ids.push_back(i["InstanceId"]);
                          }
                          return Status::Ok();
                        });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ids, (std::vector<std::string>{"i-1", "i-2", "i-3"}));
  std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].query.count("NextToken"), 0u);
  EXPECT_EQ(s[1].query.at("NextToken"), "t1");
  EXPECT_EQ(s[2].query.at("NextToken"), "t2");
  EXPECT_EQ(s[2].query.at("MaxResults"), "100");

  // 5 groups, 2 per page: pages 1, 2, 3; the newer flat list shape parses too.
  Queue(HttpServerResponse::Json(200,
                                 R"({"TotalCount":5,"ScalingGroups":{"ScalingGroup":[{},{}]}})"));
  Queue(HttpServerResponse::Json(200, R"({"TotalCount":5,"ScalingGroups":[{},{}]})"));
  Queue(HttpServerResponse::Json(200, R"({"TotalCount":5,"ScalingGroups":{"ScalingGroup":[{}]}})"));
  size_t groups = 0;
  st = PaginatePages(&client, AliyunService::kEss, "DescribeScalingGroups", RpcParams(), 2,
                     [&](const Json& page) {
                       groups += AliyunList(page, "ScalingGroups", "ScalingGroup").size();
                       return Status::Ok();
                     });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(groups, 5u);
  s = seen();
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[3].query.at("PageNumber"), "1");
  EXPECT_EQ(s[5].query.at("PageNumber"), "3");
  EXPECT_EQ(s[5].query.at("PageSize"), "2");
}

}  // namespace
}  // namespace baton
