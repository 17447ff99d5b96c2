// Tests of the fake Alibaba Cloud (tests/fake_aliyun.h) and its signature verifier
// (tests/aliyun_verifier.h). The verifier is held to the documentation's worked example
// (tests/data/aliyun-signature/vectors.json) and the SDK unit-test vectors quoted in
// shared/notes/cloud-apis.md 1.2, as raw bytes on a socket too; every single-field tamper of
// the example must fail with its own code. Requests for the dispatch tests are signed with the
// verifier's own pieces: they test dispatch, not signing, which the vectors pin down.
#include "fake_aliyun.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "aliyun_verifier.h"
#include "base/json.h"

namespace baton::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kDocExampleTime = 1698315752;  // 2023-10-26T10:22:32Z, the example's x-acs-date

Json LoadVectors() {
  std::ifstream f(std::string(BATON_TEST_DATA_DIR) + "/aliyun-signature/vectors.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str());
}

const Json& DocExample() {
  static const Json example = LoadVectors()["acs3_hmac_sha256"][0];
  return example;
}

// The documentation's request as it goes on the wire: method, target, header lines, body.
struct RawRequest {
  std::string method = "POST";
  std::string target;
  Headers headers;
  std::string body;

  std::string Head() const {
    std::string head = method + " " + target + " HTTP/1.1\r\n";
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    return head;
  }
  std::string Bytes() const {
    return Head() + "Content-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }
  AliyunWireRequest Wire() const { return AliyunWireRequest::FromHead(Head(), body); }
  void Set(const std::string& name, const std::string& value) {
    for (auto& [k, v] : headers) {
      if (k == name) {
        v = value;
        return;
      }
    }
    headers.emplace_back(name, value);
  }
  void Remove(const std::string& name) {
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  }
};

RawRequest DocRequest() {
  const Json& ex = DocExample();
  RawRequest r;
  r.method = ex["method"];
  std::string url = ex["url"];
  r.target = url.substr(url.find('/', std::string("https://").size()));
  for (const auto& [k, v] : ex["headers"].items()) r.headers.emplace_back(k, v);
  r.headers.emplace_back("Authorization", ex["authorization"]);
  return r;
}

AliyunCredential DocCredential() {
  return {DocExample()["access_key_id"], DocExample()["secret"], ""};
}

struct HttpReply {
  int status = 0;
  Json body;
};

// Sends `bytes` to 127.0.0.1:`port` and reads the answer (the request asks to close).
HttpReply SendRaw(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HttpReply reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return reply;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, 0);
    if (n <= 0) break;
    sent += n;
  }
  std::string in;
  char buf[4096];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, n);
  }
  close(fd);
  size_t head_end = in.find("\r\n\r\n");
  if (in.size() < 12 || head_end == std::string::npos) return reply;
  reply.status = std::stoi(in.substr(9, 3));
  reply.body = Json::parse(in.substr(head_end + 4), nullptr, /*allow_exceptions=*/false);
  return reply;
}

// ---------------------------------------------------------------------------------------------
// The verifier against the published vectors.

TEST(AliyunVerifierTest, PercentEncodingMatchesTheVectors) {
  for (const auto& [in, out] : LoadVectors()["percent_encoding"].items()) {
    EXPECT_EQ(AcsPercentEncode(in), out.get<std::string>()) << in;
  }
  EXPECT_EQ(AcsPercentEncode("/a b/c", /*keep_slash=*/true), "/a%20b/c");
  EXPECT_EQ(AcsPercentDecode("a%20b+c%2a"), "a b+c*");
}

TEST(AliyunVerifierTest, DocExampleCanonicalRequestAndSignature) {
  const Json& ex = DocExample();
  RawRequest r = DocRequest();
  std::string target = r.target;
  size_t q = target.find('?');
  std::string canonical =
      AcsCanonicalRequest(ex["method"].get<std::string>(), target.substr(0, q),
                          target.substr(q + 1), r.headers, ex["signed_headers"].get<std::string>(),
                          ex["headers"]["x-acs-content-sha256"].get<std::string>());
  EXPECT_EQ(canonical, ex["canonical_request"].get<std::string>());
  std::string to_sign = AcsStringToSign(canonical);
  EXPECT_EQ(to_sign, "ACS3-HMAC-SHA256\n" + ex["hashed_canonical_request"].get<std::string>());
  EXPECT_EQ(AcsSignature(ex["secret"].get<std::string>(), to_sign),
            ex["signature"].get<std::string>());
  EXPECT_EQ(AcsSha256Hex(""), ex["headers"]["x-acs-content-sha256"].get<std::string>());
}

// darabonba-openapi-util's SDK tests (notes 1.2, vectors 2 and 3): an empty query value, a
// header sent twice under two spellings, and (Go) an empty method.
TEST(AliyunVerifierTest, SdkUnitTestVectors) {
  Headers headers = {{"x-acs-test", "http"}, {"x-acs-TEST", "https"}};
  const std::string payload = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";
  std::string python =
      AcsCanonicalRequest("GET", "/", "test=ok&empty=", headers, "x-acs-test", payload);
  EXPECT_EQ(AcsSignature("secret", AcsStringToSign(python)),
            "d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1");
  std::string go = AcsCanonicalRequest("", "/", "test=ok&empty", headers, "x-acs-test", payload);
  EXPECT_EQ(AcsSignature("secret", AcsStringToSign(go)),
            "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
}

TEST(AliyunVerifierTest, DocExampleRequestVerifiesOnceThenIsAReplay) {
  AliyunVerifier verifier([] { return kDocExampleTime + 60; });
  verifier.AddCredential(DocCredential());
  AliyunVerdict v = verifier.Verify(DocRequest().Wire());
  EXPECT_TRUE(v.ok()) << v.code << ": " << v.message;
  EXPECT_EQ(v.access_key_id, "YourAccessKeyId");
  AliyunVerdict again = verifier.Verify(DocRequest().Wire());
  EXPECT_EQ(again.failure, AliyunAuthFailure::kNonceUsed);
  EXPECT_EQ(again.code, "SignatureNonceUsed");
  EXPECT_EQ(again.http_status, 400);
}

struct Tamper {
  std::string what;
  std::function<void(RawRequest*)> apply;
  AliyunAuthFailure failure;
  std::string code;
  int http_status;
};

std::string ReplaceIn(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

TEST(AliyunVerifierTest, EverySingleFieldTamperFailsWithItsCode) {
  using F = AliyunAuthFailure;
  const std::string auth = DocExample()["authorization"];
  auto set = [](std::string name, std::string value) {
    return [=](RawRequest* r) { r->Set(name, value); };
  };
  std::vector<Tamper> tampers = {
      {"method", [](RawRequest* r) { r->method = "GET"; }, F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"path", [](RawRequest* r) { r->target = "/v2" + r->target; }, F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"query value",
       [](RawRequest* r) { r->target = ReplaceIn(r->target, "cn-shanghai", "cn-beijing"); },
       F::kSignatureMismatch, "SignatureDoesNotMatch", 403},
      {"query parameter added", [](RawRequest* r) { r->target += "&Amount=2"; },
       F::kSignatureMismatch, "SignatureDoesNotMatch", 403},
      {"host", set("host", "ecs.cn-beijing.aliyuncs.com"), F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"action", set("x-acs-action", "DeleteInstance"), F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"version", set("x-acs-version", "2014-08-28"), F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"date by a second", set("x-acs-date", "2023-10-26T10:22:33Z"), F::kSignatureMismatch,
       "SignatureDoesNotMatch", 403},
      {"nonce", set("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703e"),
       F::kSignatureMismatch, "SignatureDoesNotMatch", 403},
      {"signature",
       set("Authorization", auth.substr(0, auth.size() - 1) + (auth.back() == '0' ? "1" : "0")),
       F::kSignatureMismatch, "SignatureDoesNotMatch", 403},
      {"signed header list",
       set("Authorization", ReplaceIn(auth, "host;x-acs-action", "x-acs-action;host")),
       F::kSignatureMismatch, "SignatureDoesNotMatch", 403},
      {"access key id", set("Authorization", ReplaceIn(auth, "YourAccessKeyId", "OtherKeyId")),
       F::kUnknownAccessKey, "InvalidAccessKeyId.NotFound", 400},
      {"no Authorization", [](RawRequest* r) { r->Remove("Authorization"); },
       F::kIncompleteSignature, "IncompleteSignature", 400},
      {"algorithm", set("Authorization", ReplaceIn(auth, "ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")),
       F::kIncompleteSignature, "IncompleteSignature", 400},
      {"no Signature field", set("Authorization", auth.substr(0, auth.find(",Signature="))),
       F::kIncompleteSignature, "IncompleteSignature", 400},
      {"x-acs-version not signed", set("Authorization", ReplaceIn(auth, ";x-acs-version", "")),
       F::kIncompleteSignature, "IncompleteSignature", 400},
      {"unsigned x-acs header added", set("x-acs-accesskey-id", "YourAccessKeyId"),
       F::kIncompleteSignature, "IncompleteSignature", 400},
      {"no date", [](RawRequest* r) { r->Remove("x-acs-date"); }, F::kMissingDate,
       "MissingParameter", 400},
      {"date format", set("x-acs-date", "2023-10-26 10:22:32"), F::kBadDate, "IllegalTimestamp",
       400},
      {"date 16 minutes early", set("x-acs-date", "2023-10-26T10:07:31Z"), F::kExpiredDate,
       "InvalidTimeStamp.Expired", 400},
      {"no nonce", [](RawRequest* r) { r->Remove("x-acs-signature-nonce"); }, F::kMissingNonce,
       "MissingParameter", 400},
      {"body added", [](RawRequest* r) { r->body = "RegionId=cn-beijing"; },
       F::kContentSha256Mismatch, "ContentSha256Mismatch", 400},
      {"payload hash", set("x-acs-content-sha256", std::string(64, '0')), F::kContentSha256Mismatch,
       "ContentSha256Mismatch", 400},
      {"no payload hash", [](RawRequest* r) { r->Remove("x-acs-content-sha256"); },
       F::kMissingContentSha256, "MissingParameter", 400},
  };
  for (const Tamper& t : tampers) {
    AliyunVerifier verifier([] { return kDocExampleTime; });
    verifier.AddCredential(DocCredential());
    RawRequest r = DocRequest();
    t.apply(&r);
    AliyunVerdict v = verifier.Verify(r.Wire());
    EXPECT_EQ(v.failure, t.failure) << t.what << ": " << v.code << ": " << v.message;
    EXPECT_EQ(v.code, t.code) << t.what;
    EXPECT_EQ(v.http_status, t.http_status) << t.what;
    EXPECT_FALSE(v.message.empty()) << t.what;
    // A refused request did not use up the nonce: the real one still verifies.
    EXPECT_TRUE(verifier.Verify(DocRequest().Wire()).ok()) << t.what;
  }
}

TEST(AliyunVerifierTest, WrongSecretAndClockWindow) {
  AliyunVerifier wrong_secret([] { return kDocExampleTime; });
  wrong_secret.AddCredential({"YourAccessKeyId", "NotTheSecret", ""});
  AliyunVerdict v = wrong_secret.Verify(DocRequest().Wire());
  EXPECT_EQ(v.failure, AliyunAuthFailure::kSignatureMismatch);
  EXPECT_NE(v.message.find(DocExample()["hashed_canonical_request"].get<std::string>()),
            std::string::npos)
      << "the message carries the server's string to sign: " << v.message;

  for (int64_t skew : {-15 * 60, 15 * 60}) {
    AliyunVerifier verifier([=] { return kDocExampleTime + skew; });
    verifier.AddCredential(DocCredential());
    EXPECT_TRUE(verifier.Verify(DocRequest().Wire()).ok()) << skew;
  }
  for (int64_t skew : {-15 * 60 - 1, 15 * 60 + 1}) {
    AliyunVerifier verifier([=] { return kDocExampleTime + skew; });
    verifier.AddCredential(DocCredential());
    EXPECT_EQ(verifier.Verify(DocRequest().Wire()).failure, AliyunAuthFailure::kExpiredDate)
        << skew;
  }
}

TEST(AliyunVerifierTest, StsCredentialNeedsItsToken) {
  AliyunVerifier verifier([] { return kDocExampleTime; });
  verifier.AddCredential({"YourAccessKeyId", "YourAccessKeySecret", "token-1"});
  EXPECT_EQ(verifier.Verify(DocRequest().Wire()).failure, AliyunAuthFailure::kMissingSecurityToken);
  // A token the credential does not have (the header is unsigned as well, but the token check
  // comes first and names the real problem).
  RawRequest r = DocRequest();
  r.Set("x-acs-security-token", "token-2");
  std::string auth = DocExample()["authorization"];
  r.Set("Authorization",
        ReplaceIn(auth, ";x-acs-signature-nonce", ";x-acs-security-token;x-acs-signature-nonce"));
  AliyunVerdict v = verifier.Verify(r.Wire());
  EXPECT_EQ(v.failure, AliyunAuthFailure::kSecurityTokenMismatch) << v.code;
  EXPECT_EQ(v.code, "InvalidSecurityToken.MismatchWithAccessKey");
  // A token sent for a credential that has none.
  AliyunVerifier plain([] { return kDocExampleTime; });
  plain.AddCredential(DocCredential());
  EXPECT_EQ(plain.Verify(r.Wire()).failure, AliyunAuthFailure::kSecurityTokenMismatch);
}

// ---------------------------------------------------------------------------------------------
// The fake on a socket.

FakeAliyunOptions TestOptions(std::function<int64_t()> now = {}) {
  FakeAliyunOptions o;
  o.credentials = {DocCredential(), {"TestKeyId", "TestKeySecret", ""}};
  o.regions = {{"cn-hangzhou",
                "China (Hangzhou)",
                {{"cn-hangzhou-g", "Hangzhou Zone G", {"ecs.gn7i-c8g1.2xlarge"}},
                 {"cn-hangzhou-h", "Hangzhou Zone H", {"ecs.gn7i-c8g1.2xlarge", "ecs.g7.large"}}}},
               {"cn-shanghai", "China (Shanghai)", {{"cn-shanghai-l", "Shanghai Zone L", {}}}}};
  o.now_seconds = std::move(now);
  return o;
}

TEST(FakeAliyunTest, DocExampleRequestOverASocketIsAccepted) {
  FakeAliyun fake(TestOptions([] { return kDocExampleTime; }));
  ASSERT_TRUE(fake.Start().ok());
  int port = std::stoi(fake.endpoint().substr(fake.endpoint().rfind(':') + 1));

  // The example's RunInstances lacks InstanceType: a parameter error proves the signature passed.
  HttpReply reply = SendRaw(port, DocRequest().Bytes());
  EXPECT_EQ(reply.status, 400) << reply.body.dump();
  EXPECT_EQ(reply.body.value("Code", ""), "MissingParameter");
  EXPECT_NE(reply.body.value("Message", "").find("\"InstanceType\""), std::string::npos);
  EXPECT_FALSE(reply.body.value("RequestId", "").empty());
  auto calls = fake.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].service, "ecs");
  EXPECT_EQ(calls[0].action, "RunInstances");
  EXPECT_EQ(calls[0].params,
            (Json{{"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
                  {"RegionId", "cn-shanghai"}}));

  // The same bytes again: a replay.
  reply = SendRaw(port, DocRequest().Bytes());
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(reply.body.value("Code", ""), "SignatureNonceUsed");

  // One tampered byte in the query.
  RawRequest tampered = DocRequest();
  tampered.target = ReplaceIn(tampered.target, "cn-shanghai", "cn-shanghaj");
  reply = SendRaw(port, tampered.Bytes());
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(reply.body.value("Code", ""), "SignatureDoesNotMatch");
  EXPECT_EQ(reply.body.value("HostId", ""), "ecs.cn-shanghai.aliyuncs.com");
  EXPECT_FALSE(reply.body.value("Message", "").empty());
  EXPECT_FALSE(reply.body.value("RequestId", "").empty());
}

TEST(FakeAliyunTest, UnsignedCurlRequestGetsIncompleteSignature) {
  FakeAliyun fake(TestOptions());
  ASSERT_TRUE(fake.Start().ok());
  std::string cmd =
      "/usr/bin/curl -s -X POST -H 'x-acs-action: DescribeRegions' "
      "-H 'x-acs-version: 2014-05-26' -w '\\n%{http_code}' '" +
      fake.endpoint() + "/?RegionId=cn-hangzhou'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  size_t nl = out.rfind('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  EXPECT_EQ(out.substr(nl + 1), "400");
  Json body = Json::parse(out.substr(0, nl), nullptr, false);
  EXPECT_EQ(body.value("Code", ""), "IncompleteSignature") << out;
  EXPECT_NE(body.value("Message", "").find("Authorization"), std::string::npos) << out;
  EXPECT_FALSE(body.value("RequestId", "").empty()) << out;
  ASSERT_EQ(fake.Calls().size(), 1u);
  EXPECT_EQ(fake.Calls()[0].code, "IncompleteSignature");
}

// A request signed with the verifier's own pieces (see the file comment), as raw bytes.
std::string Signed(const std::string& action, const std::string& version,
                   const std::string& raw_query, const std::string& form_body = "") {
  static int nonce = 0;
  RawRequest r;
  r.target = "/" + (raw_query.empty() ? "" : "?" + raw_query);
  r.body = form_body;
  r.headers = {{"host", "ecs.cn-hangzhou.aliyuncs.com"},
               {"x-acs-action", action},
               {"x-acs-version", version},
               {"x-acs-date", "2023-10-26T10:22:32Z"},
               {"x-acs-signature-nonce", "nonce-" + std::to_string(++nonce)},
               {"x-acs-content-sha256", AcsSha256Hex(form_body)}};
  std::string signed_headers =
      "host;x-acs-action;x-acs-content-sha256;x-acs-date;"
      "x-acs-signature-nonce;x-acs-version";
  if (!form_body.empty()) {
    r.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    signed_headers = "content-type;" + signed_headers;
  }
  std::string canonical = AcsCanonicalRequest("POST", "/", raw_query, r.headers, signed_headers,
                                              AcsSha256Hex(form_body));
  r.headers.emplace_back(
      "Authorization",
      "ACS3-HMAC-SHA256 Credential=TestKeyId,SignedHeaders=" + signed_headers +
          ",Signature=" + AcsSignature("TestKeySecret", AcsStringToSign(canonical)));
  return r.Bytes();
}

class FakeAliyunRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    port_ = std::stoi(fake_.endpoint().substr(fake_.endpoint().rfind(':') + 1));
  }
  HttpReply Call(const std::string& action, const std::string& query,
                 const std::string& version = "2014-05-26", const std::string& body = "") {
    return SendRaw(port_, Signed(action, version, query, body));
  }

  FakeAliyun fake_{TestOptions([] { return kDocExampleTime; })};
  int port_ = 0;
};

TEST_F(FakeAliyunRpcTest, DescribeRegionsAndZones) {
  HttpReply regions = Call("DescribeRegions", "");
  ASSERT_EQ(regions.status, 200) << regions.body.dump();
  EXPECT_FALSE(regions.body.value("RequestId", "").empty());
  const Json& list = regions.body["Regions"]["Region"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["RegionId"], "cn-hangzhou");
  EXPECT_EQ(list[1]["LocalName"], "China (Shanghai)");
  EXPECT_EQ("http://" + list[0]["RegionEndpoint"].get<std::string>(), fake_.endpoint());

  HttpReply zones = Call("DescribeZones", "RegionId=cn-hangzhou");
  ASSERT_EQ(zones.status, 200) << zones.body.dump();
  const Json& zone = zones.body["Zones"]["Zone"];
  ASSERT_EQ(zone.size(), 2u);
  EXPECT_EQ(zone[1]["ZoneId"], "cn-hangzhou-h");
  EXPECT_EQ(zone[1]["AvailableInstanceTypes"]["InstanceTypes"],
            (Json{"ecs.gn7i-c8g1.2xlarge", "ecs.g7.large"}));

  HttpReply unknown = Call("DescribeZones", "RegionId=mars-1");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body.value("Code", ""), "InvalidRegionId.NotFound");
  HttpReply missing = Call("DescribeZones", "");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body.value("Code", ""), "MissingParameter");
}

TEST_F(FakeAliyunRpcTest, VersionSelectsTheService) {
  // DescribeRegions exists in ESS too; with ESS's version it reaches ESS, whose fake does not
  // implement it.
  HttpReply ess = Call("DescribeRegions", "", "2014-08-28");
  EXPECT_EQ(ess.status, 404);
  EXPECT_EQ(ess.body.value("Code", ""), "InvalidAction.NotFound");
  HttpReply bad = Call("DescribeRegions", "", "2016-01-01");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.value("Code", ""), "NoSuchVersion");
  auto calls = fake_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].service, "ess");
  EXPECT_EQ(calls[1].service, "");
}

TEST_F(FakeAliyunRpcTest, InjectedThrottlingThenServiceUnavailableThenSuccess) {
  fake_.FailNext("DescribeRegions", 2, FakeAliyunFault::kThrottling);
  for (int i = 0; i < 2; ++i) {
    HttpReply r = Call("DescribeRegions", "");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body.value("Code", ""), "Throttling.User");
    EXPECT_FALSE(r.body.value("RequestId", "").empty());
  }
  // Other actions are not affected.
  EXPECT_EQ(Call("DescribeZones", "RegionId=cn-shanghai").status, 200);
  EXPECT_EQ(Call("DescribeRegions", "").status, 200);

  fake_.FailNext("DescribeRegions", 1, FakeAliyunFault::kServiceUnavailable);
  HttpReply down = Call("DescribeRegions", "");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body.value("Code", ""), "ServiceUnavailable");
  EXPECT_EQ(Call("DescribeRegions", "").status, 200);

  std::vector<std::string> codes;
  for (const auto& c : fake_.Calls()) codes.push_back(c.action + ":" + c.code);
  EXPECT_EQ(codes, (std::vector<std::string>{
                       "DescribeRegions:Throttling.User", "DescribeRegions:Throttling.User",
                       "DescribeZones:", "DescribeRegions:", "DescribeRegions:ServiceUnavailable",
                       "DescribeRegions:"}));
  EXPECT_EQ(fake_.SuccessfulParams("DescribeRegions").size(), 2u);
}

TEST_F(FakeAliyunRpcTest, ParametersFromQueryAndFormBodyAreUnflattened) {
  HttpReply r =
      Call("DescribeZones", "RegionId=cn-hangzhou&InstanceTypes.1=ecs.g7.large", "2014-05-26",
           "InstanceTypes.2=ecs.g7.xlarge&Tag.1.Key=team&Tag.1.Value=ml+infra"
           "&Tag.2.Key=run&Tag.2.Value=a%26b&CapacityOptions.OnDemandBaseCapacity=0");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  auto params = fake_.SuccessfulParams("DescribeZones");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0], Json::parse(R"({
    "RegionId": "cn-hangzhou",
    "InstanceTypes": ["ecs.g7.large", "ecs.g7.xlarge"],
    "Tag": [{"Key": "team", "Value": "ml infra"}, {"Key": "run", "Value": "a&b"}],
    "CapacityOptions": {"OnDemandBaseCapacity": "0"}})"));

  HttpReply gap = Call("DescribeZones", "RegionId=cn-hangzhou&InstanceTypes.1=a&InstanceTypes.3=c");
  EXPECT_EQ(gap.status, 400);
  EXPECT_EQ(gap.body.value("Code", ""), "InvalidParameter");
}

TEST(FakeAliyunParamsTest, Unflattening) {
  auto parse = [](std::vector<std::pair<std::string, std::string>> pairs) {
    return ParseRpcParameters(pairs);
  };
  auto ok = parse({{"A.2", "y"}, {"A.1", "x"}, {"S.B", "1"}, {"L.1.B.1", "deep"}, {"P", ""}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, Json::parse(R"({"A": ["x", "y"], "S": {"B": "1"}, "L": [{"B": ["deep"]}],
                                 "P": ""})"));
  // Ten or more elements are ordered by number, not by text.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 12; i >= 1; --i) many.emplace_back("V." + std::to_string(i), std::to_string(i));
  auto ordered = parse(many);
  ASSERT_TRUE(ordered.ok());
  EXPECT_EQ((*ordered)["V"][9], "10");
  EXPECT_EQ((*ordered)["V"].size(), 12u);

  EXPECT_FALSE(parse({{"A", "1"}, {"A", "2"}}).ok());      // given twice
  EXPECT_FALSE(parse({{"A", "1"}, {"A.1", "2"}}).ok());    // value and prefix
  EXPECT_FALSE(parse({{"A.1", "2"}, {"A", "1"}}).ok());    // prefix and value
  EXPECT_FALSE(parse({{"A.1", "x"}, {"A.3", "z"}}).ok());  // a gap
  EXPECT_FALSE(parse({{"A.0", "x"}}).ok());                // lists start at 1
  EXPECT_FALSE(parse({{"A.1", "x"}, {"A.B", "y"}}).ok());  // index and name
  EXPECT_FALSE(parse({{"A..B", "x"}}).ok());               // empty segment

  EXPECT_EQ(
      SplitRpcPairs("a=1&b=x%20y+z&c", false),
      (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "x y+z"}, {"c", ""}}));
  EXPECT_EQ(SplitRpcPairs("b=x%20y+z", true),
            (std::vector<std::pair<std::string, std::string>>{{"b", "x y z"}}));
}

}  // namespace
}  // namespace baton::testing
