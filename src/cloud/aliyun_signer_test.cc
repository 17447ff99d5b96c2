// The Alibaba signatures (cloud/aliyun_signer.h) against every vector of
// tests/data/aliyun-signature/vectors.json (each intermediate string where the vector gives it),
// the Tea SDK's own unit-test vectors quoted in shared/notes/cloud-apis.md 1.1 and 1.2, and the
// percent-encoding cases.
#include "cloud/aliyun_signer.h"

#include <gtest/gtest.h>

#include "base/json.h"

namespace baton {
namespace {

Json LoadVectors() {
  Result<std::string> text =
      ReadFileToString(std::string(BATON_TEST_DATA_DIR) + "/aliyun-signature/vectors.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  Result<Json> json = ParseJson(text.ok() ? *text : "{}", "vectors.json");
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return json.ok() ? *json : Json::object();
}

// "https://host/?a=1&b=2" -> {{"a","1"},{"b","2"}} (the vectors' queries are plain ASCII).
std::vector<std::pair<std::string, std::string>> QueryOf(const std::string& url) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t q = url.find('?');
  if (q == std::string::npos) return out;
  std::string rest = url.substr(q + 1);
  size_t start = 0;
  while (start < rest.size()) {
    size_t end = rest.find('&', start);
    if (end == std::string::npos) end = rest.size();
    std::string pair = rest.substr(start, end - start);
    size_t eq = pair.find('=');
    out.emplace_back(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

TEST(AliyunSignerTest, EveryAcs3VectorAndEachIntermediateString) {
  Json vectors = LoadVectors();
  ASSERT_TRUE(vectors.contains("acs3_hmac_sha256"));
  ASSERT_FALSE(vectors["acs3_hmac_sha256"].empty());
  for (const Json& v : vectors["acs3_hmac_sha256"]) {
    SCOPED_TRACE(v["source"].get<std::string>());
    Acs3Request r;
    r.method = v["method"];
    r.query = QueryOf(v["url"]);
    for (auto& [name, value] : v["headers"].items()) r.headers.emplace_back(name, value);
    r.payload_sha256_hex = Sha256Hex(v["body"].get<std::string>());
    EXPECT_EQ(r.payload_sha256_hex, v["headers"]["x-acs-content-sha256"]);
    Result<Acs3Signature> s = ComputeAcs3Signature(r, {v["access_key_id"], v["secret"], ""});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->signed_headers, v["signed_headers"]);
    EXPECT_EQ(s->canonical_request, v["canonical_request"]);
    EXPECT_EQ(s->hashed_canonical_request, v["hashed_canonical_request"]);
    EXPECT_EQ(s->string_to_sign,
              "ACS3-HMAC-SHA256\n" + v["hashed_canonical_request"].get<std::string>());
    EXPECT_EQ(s->signature, v["signature"]);
    EXPECT_EQ(s->authorization, v["authorization"]);
  }
}

// aliyun/darabonba-openapi-util python/tests/test_client.py::test_get_authorization (GET) and
// golang/service/service_test.go::Test_GetAuthorization (empty method), via the notes' 1.2.
TEST(AliyunSignerTest, SdkVectorsEmptyValueAndRepeatedHeader) {
  Acs3Request r;
  r.method = "GET";
  r.query = {{"test", "ok"}, {"empty", ""}};
  r.headers = {{"x-acs-test", "http"}, {"x-acs-TEST", "https"}};
  r.payload_sha256_hex = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";
  SigV4Credentials creds{"acesskey", "secret", ""};
  Result<Acs3Signature> s = ComputeAcs3Signature(r, creds);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->canonical_request,
            "GET\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n" + r.payload_sha256_hex);
  EXPECT_EQ(s->authorization,
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
            "Signature=d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1");
  r.method = "";
  s = ComputeAcs3Signature(r, creds);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->signature, "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
}

TEST(AliyunSignerTest, PercentEncodingCases) {
  Json vectors = LoadVectors();
  ASSERT_FALSE(vectors["percent_encoding"].empty());
  for (auto& [input, encoded] : vectors["percent_encoding"].items()) {
    EXPECT_EQ(AliyunPercentEncode(input), encoded.get<std::string>()) << input;
  }
  EXPECT_EQ(AliyunPercentEncode("AZaz09-_.~"), "AZaz09-_.~");
}

TEST(AliyunSignerTest, OnlyHostContentTypeAndAcsHeadersAreSigned) {
  Acs3Request r;
  r.headers = {{"Host", "ecs.example"},
               {"User-Agent", "baton"},
               {"Accept", "application/json"},
               {"Content-Type", "application/x-www-form-urlencoded"},
               {"X-Acs-Action", "RunInstances"}};
  r.payload_sha256_hex = Sha256Hex("");
  Result<Acs3Signature> s = ComputeAcs3Signature(r, {"id", "secret", ""});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->signed_headers, "content-type;host;x-acs-action");
}

TEST(AliyunSignerTest, StsTokenIsSentAndSigned) {
  Acs3Request r;
  r.query = {{"RegionId", "cn-hangzhou"}};
  r.headers = {{"host", "ecs.cn-hangzhou.aliyuncs.com"}, {"x-acs-action", "DescribeRegions"}};
  r.payload_sha256_hex = Sha256Hex("");
  SigV4Credentials sts{"STS.id", "sts-secret", "sts-token-value"};
  Result<Acs3Signature> s = SignAcs3Request(&r, sts, "2026-12-06T10:00:00Z", "n1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->signed_headers,
            "host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;"
            "x-acs-security-token;x-acs-signature-nonce");
  EXPECT_NE(s->canonical_request.find("x-acs-security-token:sts-token-value\n"), std::string::npos);
  EXPECT_EQ(r.headers.back().first, "Authorization");
  EXPECT_EQ(r.headers.back().second, s->authorization);
  // The token changes the signature: it is covered by it.
  Acs3Request other = r;
  other.headers.pop_back();
  for (auto& h : other.headers) {
    if (h.first == "x-acs-security-token") h.second = "another-token";
  }
  EXPECT_NE(ComputeAcs3Signature(other, sts)->signature, s->signature);
}

TEST(AliyunSignerTest, EmptyKeysAreRefusedWithoutEchoingTheSecret) {
  Acs3Request r;
  Result<Acs3Signature> s = ComputeAcs3Signature(r, {"", "top-secret", "tok"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().find("top-secret"), std::string::npos);
}

TEST(AliyunSignerTest, EveryRpcVector) {
  Json vectors = LoadVectors();
  ASSERT_FALSE(vectors["rpc_v1_hmac_sha1"].empty());
  for (const Json& v : vectors["rpc_v1_hmac_sha1"]) {
    SCOPED_TRACE(v["source"].get<std::string>());
    std::vector<std::pair<std::string, std::string>> params;
    for (auto& [k, val] : v["params"].items()) params.emplace_back(k, val);
    if (v.contains("canonicalized_query_string")) {
      EXPECT_EQ(AliyunCanonicalQuery(params), v["canonicalized_query_string"]);
    }
    std::string sts = RpcStringToSign(v["method"].get<std::string>(), params);
    if (v.contains("string_to_sign")) EXPECT_EQ(sts, v["string_to_sign"]);
    EXPECT_EQ(RpcSignature(sts, v["secret"].get<std::string>()), v["signature"]);
  }
}

// The notes' 1.1 vectors 2, 4, 5, 6, 7 (older doc text, POST, and the SDKs' unit tests).
TEST(AliyunSignerTest, RpcSdkVectors) {
  std::vector<std::pair<std::string, std::string>> v1 = {
      {"AccessKeyId", "testid"},
      {"Action", "DescribeRegions"},
      {"Format", "XML"},
      {"SignatureMethod", "HMAC-SHA1"},
      {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
      {"SignatureVersion", "1.0"},
      {"TimeStamp", "2016-02-23T12:46:24Z"},
      {"Version", "2014-05-26"}};
  EXPECT_EQ(RpcSignature(RpcStringToSign("GET", v1), "testsecret"), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
  std::vector<std::pair<std::string, std::string>> v3 = {
      {"AccessKeyId", "testid"},
      {"Action", "DescribeDedicatedHosts"},
      {"Format", "JSON"},
      {"RegionId", "cn-beijing"},
      {"SignatureMethod", "HMAC-SHA1"},
      {"SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"},
      {"SignatureVersion", "1.0"},
      {"Timestamp", "2023-03-13T08:34:30Z"},
      {"Version", "2014-05-26"},
      {"Signature", "ignored"}};
  EXPECT_EQ(RpcSignature(RpcStringToSign("POST", v3), "testsecret"),
            "ZvQ9xGiFnquSJRvj+WE6kdSpTwU=");
  std::vector<std::pair<std::string, std::string>> v5 = {{"AccessKeyId", "testid"},
                                                         {"Action", "DescribeRegions"},
                                                         {"Format", "XML"},
                                                         {"RegionId", "region1"},
                                                         {"SignatureMethod", "HMAC-SHA1"},
                                                         {"SignatureNonce", "NwDAxvLU6tFE0DVb"},
                                                         {"SignatureVersion", "1.0"},
                                                         {"TimeStamp", "2012-12-26T10:33:56Z"},
                                                         {"Version", "2013-01-10"}};
  EXPECT_EQ(RpcSignature(RpcStringToSign("GET", v5), "testsecret"), "axE3FUHgDyfm9/+Iep0HpZXrRwE=");
  EXPECT_EQ(RpcSignature(RpcStringToSign("GET", {{"query", "test"}, {"body", "test"}}), "secret"),
            "XlUyV4sXjOuX5FnjUz9IF9tm5rU=");
  EXPECT_EQ(RpcSignature(RpcStringToSign("", {{"test", "ok"}}), "accessKeySecret"),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU=");
}

}  // namespace
}  // namespace baton
