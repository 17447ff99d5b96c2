// The aliyun CLI's ~/.aliyun/config.json in the Alibaba credentials chain
// (store/cloud_credentials.h): modes AK and StsToken, the current profile, ALIBABA_CLOUD_PROFILE,
// and errors that never show a secret; and the chain's last step, the ECS RAM role, read from
// the project's fake metadata service (the one each fake ECS instance has).
#include <gtest/gtest.h>

#include <ctime>

#include "base/env.h"
#include "cloud/fake_metadata_server.h"
#include "store/cloud_credentials.h"
#include "test_util.h"

namespace baton {
namespace {

constexpr char kConfig[] = R"({
  "current": "sts",
  "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "LTAIdefault",
     "access_key_secret": "default-secret", "sts_token": "", "region_id": "cn-hangzhou"},
    {"name": "sts", "mode": "StsToken", "access_key_id": "STS.id", "access_key_secret": "sts-secret",
     "sts_token": "sts-token", "region_id": "cn-beijing"},
    {"name": "role", "mode": "RamRoleArn", "access_key_id": "a", "access_key_secret": "role-secret"},
    {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "r"},
    {"name": "half", "mode": "AK", "access_key_id": "", "access_key_secret": "half-secret"}
  ],
  "meta_path": ""
})";

TEST(AliyunCliConfigTest, ReadsCurrentOrNamedProfileInModeAkOrStsToken) {
  Result<SigV4Credentials> current = ReadAliyunCliConfig("c.json", kConfig, "");
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(current->access_key_id, "STS.id");
  EXPECT_EQ(current->secret_access_key, "sts-secret");
  EXPECT_EQ(current->session_token, "sts-token");
  Result<SigV4Credentials> ak = ReadAliyunCliConfig("c.json", kConfig, "default");
  ASSERT_TRUE(ak.ok());
  EXPECT_EQ(ak->access_key_id, "LTAIdefault");
  EXPECT_EQ(ak->session_token, "");

  EXPECT_EQ(ReadAliyunCliConfig("c.json", kConfig, "nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadAliyunCliConfig("c.json", kConfig, "ecs").status().code(), StatusCode::kNotFound);
  Status role = ReadAliyunCliConfig("c.json", kConfig, "role").status();
  EXPECT_EQ(role.code(), StatusCode::kUnimplemented);
  Status half = ReadAliyunCliConfig("c.json", kConfig, "half").status();
  EXPECT_EQ(half.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(role.message().find("role-secret"), std::string::npos) << role.message();
  EXPECT_EQ(half.message().find("half-secret"), std::string::npos) << half.message();
  EXPECT_FALSE(ReadAliyunCliConfig("c.json", "{not json", "").ok());
  EXPECT_FALSE(ReadAliyunCliConfig("c.json", R"({"current": null})", "").ok());
}

// Every variable the chain reads before the instance role (and the role's name), unset.
void UnsetCredentialVariables(testing::ScopedEnv* env) {
  for (const char* n :
       {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET",
        "OSS_SESSION_TOKEN", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_PROFILE", "ALIBABA_CLOUD_ECS_METADATA"}) {
    env->Unset(n);
  }
}

TEST(AliyunCliConfigTest, TheAlibabaChainReadsItAfterTheEnvironment) {
  testing::ScopedEnv env;
  testing::ScopedTempDir tmp;
  UnsetCredentialVariables(&env);
  std::string home = tmp.Sub("home");
  ASSERT_TRUE(Env::Default()->CreateDirs(home + "/.aliyun").ok());
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(home + "/.aliyun/config.json", kConfig).ok());
  env.Set("HOME", home);
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    Result<SigV4Credentials> c = p.Get();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->session_token, "sts-token");
    EXPECT_NE(p.source().find(".aliyun/config.json"), std::string::npos) << p.source();
  }
  env.Set("ALIBABA_CLOUD_PROFILE", "default");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    EXPECT_EQ(p.Get()->access_key_id, "LTAIdefault");
  }
  env.Set("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv");
  env.Set("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    EXPECT_EQ(p.Get()->access_key_id, "LTAIenv");  // the environment comes first
  }
  env.Set("ALIBABA_CLOUD_ACCESS_KEY_ID", "");
  env.Set("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "");
  env.Set("ALIBABA_CLOUD_PROFILE", "role");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    Result<SigV4Credentials> c = p.Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().message().find("role-secret"), std::string::npos);
  }
}

TEST(AliyunEcsRamRoleTest, TheChainReadsTheRoleFromTheFakeMetadataService) {
  testing::ScopedEnv env;
  testing::ScopedTempDir tmp;
  UnsetCredentialVariables(&env);
  env.Set("HOME", tmp.Sub("home"));  // no ~/.aliyun/config.json, no ~/.aws/credentials
  // Security hardening mode: the reader must fetch a token and send it on every GET.
  auto fake = FakeMetadataServer::Start({.alibaba_require_token = true, .instance_id = "i-1"});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  env.Set("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", (*fake)->url());
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    Result<SigV4Credentials> none = p.Get();
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().message().find("no RAM role attached"), std::string::npos)
        << none.status().ToString();
  }
  (*fake)->SetRamRole("baton-trainer", "STS.trainer", "trainer-secret", "trainer-token",
                      std::time(nullptr) + 3600);
  CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
  Result<SigV4Credentials> c = p.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "STS.trainer");
  EXPECT_EQ(c->secret_access_key, "trainer-secret");
  EXPECT_EQ(c->session_token, "trainer-token");
  EXPECT_NE(p.source().find("baton-trainer"), std::string::npos) << p.source();
  // One token per fetch (the failed one above, this one), sent with the listing and the keys.
  EXPECT_EQ((*fake)->CountOf("PUT", "/latest/api/token"), 2u);
  EXPECT_EQ((*fake)->http().CountOfStatus(401), 0u);
}

}  // namespace
}  // namespace baton
