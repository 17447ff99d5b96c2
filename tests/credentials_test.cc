// The credentials chain of the object stores (cloud_credentials.h) beyond what
// s3_store_test.cc covers: the OSS environment names, ECS security hardening mode, keeping good
// keys when a refresh fails, and errors that never show a secret.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <optional>

#include "s3_test_server.h"
#include "store/cloud_credentials.h"
#include "test_util.h"

namespace baton {
namespace {

std::string UtcIn(int seconds) {
  std::time_t t = std::time(nullptr) + seconds;
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

class CredentialsChainTest : public ::testing::Test {
 protected:
  CredentialsChainTest() {
    for (const char* n :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN",
          "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
          "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_ECS_METADATA", "AWS_EC2_METADATA_DISABLED",
          "AWS_SHARED_CREDENTIALS_FILE"}) {
      env_.Unset(n);
    }
    env_.Set("HOME", tmp_.Sub("home"));  // no ~/.aws/credentials
  }
  testing::ScopedEnv env_;
  testing::ScopedTempDir tmp_;
};

TEST_F(CredentialsChainTest, OssNamesComeFirstForOss) {
  env_.Set("AWS_ACCESS_KEY_ID", "AKIDAWS");
  env_.Set("AWS_SECRET_ACCESS_KEY", "aws-secret");
  env_.Set("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIALI");
  env_.Set("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ali-secret");
  env_.Set("ALIBABA_CLOUD_SECURITY_TOKEN", "ali-token");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    auto c = p.Get();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->access_key_id, "LTAIALI");
    EXPECT_EQ(c->session_token, "ali-token");
  }
  env_.Set("OSS_ACCESS_KEY_ID", "LTAIOSS");
  env_.Set("OSS_ACCESS_KEY_SECRET", "oss-secret");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    EXPECT_EQ(p.Get()->access_key_id, "LTAIOSS");
    EXPECT_NE(p.source().find("OSS_ACCESS_KEY_ID"), std::string::npos) << p.source();
  }
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    EXPECT_EQ(p.Get()->access_key_id, "AKIDAWS");  // s3:// does not read the OSS names
  }
  // Half a pair is an error naming the variables, not their values.
  env_.Unset("OSS_ACCESS_KEY_ID");
  CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
  auto half = p.Get();
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("OSS_ACCESS_KEY_SECRET"), std::string::npos);
  EXPECT_EQ(half.status().message().find("oss-secret"), std::string::npos);
}

TEST_F(CredentialsChainTest, EcsRamRoleInSecurityHardeningMode) {
  std::atomic<int> token_requests{0}, tokenless{0};  // counted on the server's thread
  testing::FakeHttpServer ecs([&](const std::string& method, const std::string& path,
                                  const std::string& headers) -> std::pair<int, std::string> {
    if (method == "PUT" && path == "/latest/api/token") {
      ++token_requests;
      if (headers.find("X-aliyun-ecs-metadata-token-ttl-seconds: ") == std::string::npos) {
        return {400, ""};
      }
      return {200, "ECSTOKEN"};
    }
    // Hardened-only: every metadata read needs the token.
    if (headers.find("X-aliyun-ecs-metadata-token: ECSTOKEN") == std::string::npos) {
      ++tokenless;
      return {403, ""};
    }
    if (path == "/latest/meta-data/ram/security-credentials/trainer") {
      return {200,
              "{\"AccessKeyId\": \"STS.ID\", \"AccessKeySecret\": \"ecs-secret\", "
              "\"SecurityToken\": \"ecs-token\", \"Expiration\": \"" +
                  UtcIn(3600) + "\", \"Code\": \"Success\"}"};
    }
    return {404, ""};
  });
  env_.Set("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", ecs.endpoint());
  env_.Set("ALIBABA_CLOUD_ECS_METADATA", "trainer");  // the role is named: no listing
  CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "STS.ID");
  EXPECT_EQ(c->secret_access_key, "ecs-secret");
  EXPECT_EQ(c->session_token, "ecs-token");
  EXPECT_EQ(token_requests.load(), 1);
  EXPECT_EQ(tokenless.load(), 0);
  EXPECT_NE(p.source().find("trainer"), std::string::npos);
}

TEST_F(CredentialsChainTest, KeepsValidKeysWhenARefreshFails) {
  // Keys valid for 2 more minutes: inside the refresh margin, so each Get asks again.
  std::atomic<bool> up{true};
  std::atomic<int> fetches{0};
  testing::FakeHttpServer imds([&](const std::string& method, const std::string& path,
                                   const std::string&) -> std::pair<int, std::string> {
    if (!up) return {500, ""};
    if (method == "PUT") return {200, "T"};
    if (path == "/latest/meta-data/iam/security-credentials/") return {200, "role\n"};
    ++fetches;
    return {200, "{\"AccessKeyId\": \"ASIA" + std::to_string(fetches.load()) +
                     "\", \"SecretAccessKey\": \"s\", \"Token\": \"t\", \"Expiration\": \"" +
                     UtcIn(120) + "\"}"};
  });
  env_.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint());
  CredentialsProvider p(CredentialsProvider::Cloud::kAws);
  EXPECT_EQ(p.Get()->access_key_id, "ASIA1");
  EXPECT_EQ(p.Get()->access_key_id, "ASIA2");  // refreshed
  up = false;
  auto kept = p.Get();
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->access_key_id, "ASIA2");
}

TEST_F(CredentialsChainTest, ErrorsNeverShowSecrets) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
  const std::string token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
  // A malformed line in the credentials file (the '=' is missing) is named by file:line only.
  std::string path = tmp_.Sub("credentials");
  ASSERT_TRUE(Env::Default()
                  ->WriteFileAtomic(path,
                                    "[default]\naws_access_key_id = AKID\n"
                                    "aws_secret_access_key " +
                                        secret + "\n")
                  .ok());
  env_.Set("AWS_SHARED_CREDENTIALS_FILE", path);
  env_.Set("AWS_EC2_METADATA_DISABLED", "true");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    auto bad = p.Get();
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find(path + ":3"), std::string::npos)
        << bad.status().message();
    EXPECT_EQ(bad.status().message().find(secret), std::string::npos) << bad.status().message();
    EXPECT_EQ(bad.status().message().find("wJalr"), std::string::npos);
  }
  // A metadata answer that is not JSON, or lacks a field, is reported without its text.
  env_.Unset("AWS_SHARED_CREDENTIALS_FILE");
  env_.Unset("AWS_EC2_METADATA_DISABLED");
  std::string answer;
  testing::FakeHttpServer imds([&](const std::string& method, const std::string& path,
                                   const std::string&) -> std::pair<int, std::string> {
    if (method == "PUT") return {200, "T"};
    if (path == "/latest/meta-data/iam/security-credentials/") return {200, "role"};
    return {200, answer};
  });
  env_.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint());
  for (const std::string& body :
       {"{\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \"" + secret + "\", \"Token\": \"" +
            token,
        "{\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \"" + secret + "\", \"Token\": \"" +
            token + "\", \"Expiration\": \"soon\"}",
        "{\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \"" + secret + "\" \"Token\": 1}",
        // A number out of double range used to escape as an exception and abort (issue 15).
        "{\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \"" + secret + "\", \"Token\": \"" +
            token + "\", \"Expiration\": 1e99999}",
        std::string("[1e99999]")}) {
    answer = body;
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    auto bad = p.Get();
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.status().message().find("role"), std::string::npos) << bad.status().message();
    EXPECT_EQ(bad.status().message().find(secret.substr(0, 8)), std::string::npos)
        << bad.status().message();
    EXPECT_EQ(bad.status().message().find(token.substr(0, 8)), std::string::npos)
        << bad.status().message();
  }
  SigV4Credentials keys{"AKID", secret, token};
  EXPECT_EQ(keys.ToString().find(secret), std::string::npos);
  EXPECT_EQ(keys.ToString().find(token), std::string::npos);
}

TEST_F(CredentialsChainTest, NoProviderListsWhatWasTried) {
  // A metadata service that is not there (nothing listens) fails within the short timeout.
  env_.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1");
  env_.Set("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", "http://127.0.0.1:1");
  for (auto cloud : {CredentialsProvider::Cloud::kAws, CredentialsProvider::Cloud::kAlibaba}) {
    auto t0 = std::chrono::steady_clock::now();
    CredentialsProvider p(cloud);
    auto none = p.Get();
    ASSERT_FALSE(none.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
    const std::string& m = none.status().message();
    EXPECT_NE(m.find("environment"), std::string::npos) << m;
    EXPECT_NE(m.find("credentials file"), std::string::npos) << m;
    EXPECT_NE(m.find(cloud == CredentialsProvider::Cloud::kAws ? "instance metadata" : "RAM role"),
              std::string::npos)
        << m;
  }
}

}  // namespace
}  // namespace baton
