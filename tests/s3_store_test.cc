// The s3:// store against a real S3-compatible server: s3rver (npm) always, and a second server
// given by the environment (scripts/radosgw.sh starts Ceph's RADOS Gateway, which checks
// signatures and multipart rules): EnvVar::kTestS3Endpoint, EnvVar::kTestS3Bucket,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_REGION). Without them that instance skips.
#include <gtest/gtest.h>

#include <random>

#include "ckpt/checkpoint_manager.h"
#include "ckpt/lease.h"
#include "s3_test_server.h"
#include "store/cache.h"
#include "store/cloud_credentials.h"
#include "store/s3_object_store.h"
#include "store/store.h"
#include "test_util.h"

namespace baton {
namespace {

Env* env = Env::Default();

std::string RandomHex() {
  std::random_device r;
  return fmt::format("{:08x}{:08x}", r(), r());
}

// One s3rver per test process, killed when the process exits.
std::unique_ptr<testing::S3rver> g_s3rver;

class S3StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!g_s3rver) g_s3rver = std::make_unique<testing::S3rver>("bkt");
  }

  void SetUp() override {
    external_ = GetParam() == "external";
    if (external_) {
      std::optional<std::string> ep = GetEnvVar(EnvVar::kTestS3Endpoint);
      std::optional<std::string> bucket = GetEnvVar(EnvVar::kTestS3Bucket);
      if (!ep || !bucket || !getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY")) {
        GTEST_SKIP() << "no external S3 server: set " << EnvVarName(EnvVar::kTestS3Endpoint) << ", "
                     << EnvVarName(EnvVar::kTestS3Bucket)
                     << ", AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (scripts/radosgw.sh does)";
      }
      endpoint_ = *ep;
      bucket_ = *bucket;
      secret_ = getenv("AWS_SECRET_ACCESS_KEY");
    } else {
      ASSERT_TRUE(g_s3rver->ok()) << "s3rver did not start (run ./scripts/setup.sh)";
      endpoint_ = g_s3rver->endpoint();
      bucket_ = "bkt";
      secret_ = "S3RVER";
      env_.Set("AWS_ACCESS_KEY_ID", "S3RVER");
      env_.Set("AWS_SECRET_ACCESS_KEY", "S3RVER");
      env_.Unset("AWS_SESSION_TOKEN");
    }
    env_.Set("AWS_EC2_METADATA_DISABLED", "true");
    env_.Unset("AWS_ENDPOINT_URL");
    env_.Unset("AWS_ENDPOINT_URL_S3");
    prefix_ = "t-" + RandomHex();
  }

  std::string Url(const std::string& sub = "", const std::string& extra = "") {
    std::string u = fmt::format("s3://{}/{}{}?endpoint={}&retries=3&backoff_ms=20", bucket_,
                                prefix_, sub.empty() ? "" : "/" + sub, endpoint_);
    return u + extra;
  }
  std::unique_ptr<Store> Open(const std::string& extra = "") {
    auto s = OpenStore(Url("", extra));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  bool external_ = false;
  std::string endpoint_, bucket_, secret_, prefix_;
  testing::ScopedEnv env_;
};

TEST_P(S3StoreTest, PutGetHeadRangeDelete) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::string data = testing::Blob(100000, 1);
  ASSERT_TRUE(store->Put("a/obj.bin", data).ok());
  EXPECT_EQ(*store->Get("a/obj.bin"), data);
  EXPECT_EQ(*store->Head("a/obj.bin"), data.size());
  EXPECT_EQ(*store->GetRange("a/obj.bin", 1000, 50), data.substr(1000, 50));
  EXPECT_EQ(*store->GetRange("a/obj.bin", 99990, 50), data.substr(99990));
  EXPECT_EQ(*store->GetRange("a/obj.bin", 100000, 10), "");
  auto v = store->GetVersioned("a/obj.bin");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->etag.empty());
  ASSERT_TRUE(store->Put("a/obj.bin", "short").ok());  // overwrite
  EXPECT_EQ(*store->Get("a/obj.bin"), "short");
  ASSERT_TRUE(store->Delete("a/obj.bin").ok());
  auto gone = store->Get("a/obj.bin");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_NE(gone.status().message().find("a/obj.bin"), std::string::npos);
  EXPECT_EQ(store->Head("a/obj.bin").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Delete("a/obj.bin").ok());  // already gone
  ASSERT_TRUE(store->Put("empty", "").ok());
  EXPECT_EQ(*store->Get("empty"), "");
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

TEST_P(S3StoreTest, ListPaginatesAndKeepsToThePrefix) {
  auto store = Open("&max_keys=2");
  ASSERT_NE(store, nullptr);
  std::vector<std::string> keys = {"a/1", "a/2", "a/3", "a/4", "a/5", "ab/1", "b/1"};
  for (size_t i = 0; i < keys.size(); ++i)
    ASSERT_TRUE(store->Put(keys[i], testing::Blob(i + 1, 2)).ok());
  auto a = store->List("a/");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, std::vector<std::string>(keys.begin(), keys.begin() + 5));
  auto ab = store->List("a");
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(ab->size(), 6u);
  auto all = store->ListInfo("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ((*all)[i].key, keys[i]);
    EXPECT_EQ((*all)[i].size, i + 1);
    EXPECT_FALSE((*all)[i].etag.empty());
  }
  EXPECT_TRUE(store->List("zzz/")->empty());
  // A store one level down sees only its own keys, relative to it.
  auto sub = OpenStore(Url("a"));
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)->List("")->size(), 5u);
  EXPECT_EQ(*(*sub)->Get("3"), testing::Blob(3, 2));
  ASSERT_TRUE(store->DeletePrefix("a/").ok());
  EXPECT_EQ(*store->List(""), (std::vector<std::string>{"ab/1", "b/1"}));
  ASSERT_TRUE(store->DeletePrefix("").ok());
  EXPECT_TRUE(store->List("")->empty());
}

TEST_P(S3StoreTest, KeysWithSpecialCharacters) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> keys = {"sp ace/x y.txt", "plus+eq=amp&.txt", "中文/ключ.json",
                                   "tilde~(paren)!*'.bin", "pct%20.txt"};
  for (const std::string& k : keys) ASSERT_TRUE(store->Put(k, k).ok()) << k;
  for (const std::string& k : keys) EXPECT_EQ(*store->Get(k), k) << k;
  auto listed = store->List("");
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*listed, want);
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

TEST_P(S3StoreTest, MultipartUploadAndRangedDownload) {
  auto store = Open("&part_size=5MiB&multipart_threshold=6MiB");
  ASSERT_NE(store, nullptr);
  std::string big = testing::Blob(12 * 1024 * 1024 + 123, 3);
  ASSERT_TRUE(store->Put("big.bin", big).ok());
  EXPECT_EQ(*store->Head("big.bin"), big.size());
  auto etag = store->ListInfo("big.bin");
  ASSERT_TRUE(etag.ok() && etag->size() == 1);
  // S3 and radosgw give a multipart object the ETag "<md5 of the part md5s>-<parts>" (s3rver
  // does not).
  if (external_) EXPECT_NE((*etag)[0].etag.find("-3"), std::string::npos) << (*etag)[0].etag;
  testing::ScopedTempDir tmp;
  std::vector<uint64_t> seen;
  ASSERT_TRUE(store
                  ->GetToFile("big.bin", tmp.Sub("big.bin"), env,
                              [&](uint64_t done, uint64_t total) {
                                EXPECT_EQ(total, big.size());
                                seen.push_back(done);
                              })
                  .ok());
  EXPECT_EQ(*env->ReadFile(tmp.Sub("big.bin")), big);
  EXPECT_EQ(seen.size(), 4u);  // 0 and three parts
  EXPECT_EQ(seen.back(), big.size());
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

TEST_P(S3StoreTest, ClearErrorsWithoutSecrets) {
  auto nobucket = OpenStore(
      fmt::format("s3://no-such-bucket-{}/x?endpoint={}&retries=1", RandomHex(), endpoint_),
      OpenMode::kMustExist);
  ASSERT_FALSE(nobucket.ok());
  EXPECT_EQ(nobucket.status().code(), StatusCode::kNotFound) << nobucket.status().ToString();
  EXPECT_NE(nobucket.status().message().find("no-such-bucket-"), std::string::npos);

  auto t0 = std::chrono::steady_clock::now();
  auto down = OpenStore("s3://bkt/x?endpoint=http://127.0.0.1:1&retries=2&backoff_ms=10",
                        OpenMode::kMustExist);
  ASSERT_FALSE(down.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(down.status().message().find("127.0.0.1:1"), std::string::npos);
  EXPECT_NE(down.status().message().find("2 attempts"), std::string::npos)
      << down.status().message();
  EXPECT_EQ(down.status().message().find(secret_), std::string::npos);

  auto unknown = OpenStore(Url("", "&regoin=x"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("regoin"), std::string::npos);

  if (external_) {
    // A server that checks signatures refuses a wrong secret, and the message says so without
    // printing either secret.
    testing::ScopedEnv wrong;
    wrong.Set("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + RandomHex());
    auto store = OpenStore(Url(), OpenMode::kCreateIfMissing);
    ASSERT_TRUE(store.ok());
    Status s = (*store)->Put("x", "y");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("access denied"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(getenv("AWS_SECRET_ACCESS_KEY")), std::string::npos);
    EXPECT_EQ(s.message().find(secret_), std::string::npos);
  }
}

TEST_P(S3StoreTest, CheckpointProtocolAndLease) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  CheckpointManager m(store.get(), "run");
  std::vector<std::pair<std::string, std::string>> files = {
      {"adapter_model.safetensors", testing::Blob(5000, 4)}, {"trainer_state.json", "{}"}};
  ASSERT_TRUE(m.Commit(2, files).ok());
  ASSERT_TRUE(m.Commit(4, files).ok());
  // An interrupted upload: files without a manifest are never taken.
  ASSERT_TRUE(store->Put("run/checkpoint-6/adapter_model.safetensors", "torn").ok());
  // A corrupted one: the manifest does not match.
  ASSERT_TRUE(m.Commit(8, files).ok());
  ASSERT_TRUE(store->Put("run/checkpoint-8/trainer_state.json", "{\"x\":1}").ok());
  auto latest = m.LatestValid();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, std::optional<int64_t>(4));
  auto loaded = m.Load(4);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)["adapter_model.safetensors"], files[0].second);

  auto a = RunLease::Acquire(store.get(), "run", "a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = RunLease::Acquire(store.get(), "run", "b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->epoch(), 2);
  EXPECT_EQ((*a)->Check().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*b)->Check().ok());
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

TEST_P(S3StoreTest, CacheDownloadsOnceAndRefetchesWhatChanged) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("model/config.json", "{\"a\": 1}").ok());
  ASSERT_TRUE(store->Put("model/weights.bin", testing::Blob(300000, 5)).ok());
  ASSERT_TRUE(store->Put("data.jsonl", "{\"query\": \"q\", \"response\": \"r\"}\n").ok());
  testing::ScopedTempDir tmp;
  std::vector<std::string> lines;
  CacheOptions o;
  o.cache_dir = tmp.Sub("cache");
  o.print = [&](const std::string& s) { lines.push_back(s); };
  auto joined = [&] {
    std::string all;
    for (auto& l : lines) all += l + "\n";
    lines.clear();
    return all;
  };
  auto dir = FetchToCache(Url("model"), o);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(*env->ReadFile(JoinPath(*dir, "weights.bin")), testing::Blob(300000, 5));
  EXPECT_NE(joined().find("downloaded 2 files"), std::string::npos);
  // Again: nothing downloaded.
  ASSERT_EQ(*FetchToCache(Url("model"), o), *dir);
  EXPECT_NE(joined().find("using the cached copy"), std::string::npos);
  // A damaged local file is fetched again; so is an object changed in the bucket.
  ASSERT_TRUE(env->WriteFileAtomic(JoinPath(*dir, "weights.bin"), testing::Blob(300000, 6)).ok());
  ASSERT_TRUE(FetchToCache(Url("model"), o).ok());
  EXPECT_NE(joined().find("downloaded 1 file "), std::string::npos);
  EXPECT_EQ(*env->ReadFile(JoinPath(*dir, "weights.bin")), testing::Blob(300000, 5));
  ASSERT_TRUE(store->Put("model/config.json", "{\"a\": 2}").ok());
  ASSERT_TRUE(FetchToCache(Url("model"), o).ok());
  EXPECT_NE(joined().find("downloaded 1 file "), std::string::npos);
  EXPECT_EQ(*env->ReadFile(JoinPath(*dir, "config.json")), "{\"a\": 2}");
  // The same model spelled otherwise (the endpoint from AWS_ENDPOINT_URL, the addressing and
  // retries left to their defaults) is the same cache entry: nothing is downloaded again.
  {
    testing::ScopedEnv e;
    e.Set("AWS_ENDPOINT_URL", endpoint_);
    auto again = FetchToCache(fmt::format("s3://{}/{}/model", bucket_, prefix_), o);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*again, *dir);
    EXPECT_NE(joined().find("using the cached copy"), std::string::npos);
  }
  // A single object.
  auto file = FetchToCache(Url("data.jsonl"), o);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(file->ends_with("/data.jsonl"));
  EXPECT_NE(env->ReadFile(*file)->find("query"), std::string::npos);
  auto missing = FetchToCache(Url("nothing-here"), o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nothing-here"), std::string::npos);
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

// With conditional=true the store sends If-None-Match / If-Match; whether the server honours
// them is the server's business. s3rver 3.7.1 ignores them on PUT (it overwrites), which is why
// custom endpoints default to conditional=false; radosgw and AWS check them.
TEST_P(S3StoreTest, ConditionalPutWhereTheServerHonoursIt) {
  auto store = Open("&conditional=true");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SupportsConditionalPut());
  ASSERT_TRUE(store->PutIf("lease.json", "one", "").ok());
  Status again = store->PutIf("lease.json", "two", "");
  if (again.ok()) {
    EXPECT_EQ(*store->Get("lease.json"), "two");
    ASSERT_TRUE(store->DeletePrefix("").ok());
    GTEST_SKIP() << endpoint_ << " ignores If-None-Match on PUT: use conditional=false there";
  }
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  auto v = store->GetVersioned("lease.json");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data, "one");
  Status swapped = store->PutIf("lease.json", "two", v->etag);
  ASSERT_TRUE(swapped.ok()) << swapped.ToString();
  EXPECT_EQ(store->PutIf("lease.json", "three", v->etag).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->Get("lease.json"), "two");
  ASSERT_TRUE(store->DeletePrefix("").ok());
}

INSTANTIATE_TEST_SUITE_P(S3, S3StoreTest, ::testing::Values("s3rver", "external"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(S3Options, ParsesUrlsAndRejectsBadParameters) {
  testing::ScopedEnv e;
  for (const char* n :
       {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "OSS_REGION",
        "ALIBABA_CLOUD_REGION_ID", "OSS_ENDPOINT", EnvVarName(EnvVar::kS3Addressing)}) {
    e.Unset(n);
  }
  auto aws = S3Options::FromUrl("s3://bkt/runs/r1/");
  ASSERT_TRUE(aws.ok());
  EXPECT_EQ(aws->bucket, "bkt");
  EXPECT_EQ(aws->prefix, "runs/r1");
  EXPECT_EQ(aws->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(aws->path_style);
  EXPECT_TRUE(aws->conditional);
  auto oss = S3Options::FromUrl("oss://bkt/p?region=oss-cn-hangzhou");
  ASSERT_TRUE(oss.ok());
  EXPECT_EQ(oss->endpoint, "https://s3.oss-cn-hangzhou.aliyuncs.com");
  EXPECT_EQ(oss->region, "cn-hangzhou");
  EXPECT_FALSE(oss->path_style);
  auto no_region = S3Options::FromUrl("oss://bkt/p");
  EXPECT_FALSE(no_region.ok());
  EXPECT_NE(no_region.status().message().find("region"), std::string::npos);
  auto local = S3Options::FromUrl("s3://bkt?endpoint=http://127.0.0.1:9000&part_size=8MiB");
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(local->path_style);
  EXPECT_FALSE(local->conditional);
  EXPECT_EQ(local->part_size, 8u << 20);
  EXPECT_EQ(local->prefix, "");
  EXPECT_FALSE(S3Options::FromUrl("s3://bkt/p?part_size=1MiB").ok());
  EXPECT_FALSE(S3Options::FromUrl("s3://bkt/p?addressing=sideways").ok());
  EXPECT_FALSE(S3Options::FromUrl("s3:///p").ok());
  EXPECT_FALSE(S3Options::FromUrl("s3://bkt/../p").ok());
  e.Set("AWS_ENDPOINT_URL", "http://minio:9000");
  EXPECT_EQ(S3Options::FromUrl("s3://bkt/p")->endpoint, "http://minio:9000");
}

TEST(Credentials, FileProfilesAndMalformedLines) {
  std::string text =
      "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n"
      "[profile other]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=s2\n"
      "aws_session_token=tok\n";
  auto d = ReadCredentialsFile("creds", text, "default");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(d->secret_access_key, "s1");
  auto o = ReadCredentialsFile("creds", text, "other");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->session_token, "tok");
  EXPECT_EQ(ReadCredentialsFile("creds", text, "nope").status().code(), StatusCode::kNotFound);
  auto bad = ReadCredentialsFile("creds", "[default]\naws_access_key_id AKID\n", "default");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("creds:2"), std::string::npos) << bad.status().message();
}

TEST(Credentials, EnvironmentThenFileThenInstanceRole) {
  testing::ScopedEnv e;
  for (const char* n : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                        "AWS_PROFILE", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET",
                        "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                        "ALIBABA_CLOUD_ECS_METADATA", "AWS_EC2_METADATA_DISABLED"}) {
    e.Unset(n);
  }
  testing::ScopedTempDir tmp;
  ASSERT_TRUE(env->WriteFileAtomic(tmp.Sub("creds"),
                                   "[default]\naws_access_key_id=AKIDFILE\n"
                                   "aws_secret_access_key=file-secret\n")
                  .ok());
  e.Set("AWS_SHARED_CREDENTIALS_FILE", tmp.Sub("creds"));
  int token_calls = 0;
  // Credentials that expire in 2 minutes: inside the 5-minute margin, so every Get refreshes.
  std::time_t soon = std::time(nullptr) + 120;
  char exp[32];
  std::strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&soon));
  testing::FakeHttpServer imds([&](const std::string& method, const std::string& path,
                                   const std::string& headers) -> std::pair<int, std::string> {
    if (method == "PUT" && path == "/latest/api/token") {
      ++token_calls;
      return {200, "TOKEN123"};
    }
    bool has_token = headers.find("X-aws-ec2-metadata-token: TOKEN123") != std::string::npos;
    if (path.starts_with("/latest/meta-data/iam/") && !has_token) return {401, ""};
    if (path == "/latest/meta-data/iam/security-credentials/") return {200, "trainer-role\n"};
    if (path == "/latest/meta-data/iam/security-credentials/trainer-role") {
      return {200,
              std::string("{\"AccessKeyId\": \"ASIAROLE\", \"SecretAccessKey\": \"role-secret\", "
                          "\"Token\": \"sts-token\", \"Expiration\": \"") +
                  exp + "\"}"};
    }
    if (path == "/latest/meta-data/ram/security-credentials/") return {200, "ecs-role"};
    if (path == "/latest/meta-data/ram/security-credentials/ecs-role") {
      return {200,
              std::string(
                  "{\"AccessKeyId\": \"STS.ECS\", \"AccessKeySecret\": \"ecs-secret\", "
                  "\"SecurityToken\": \"ecs-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}")};
    }
    return {404, ""};
  });
  e.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint());
  e.Set("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", imds.endpoint());

  e.Set("AWS_ACCESS_KEY_ID", "AKIDENV");
  e.Set("AWS_SECRET_ACCESS_KEY", "env-secret");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    EXPECT_EQ(p.Get()->access_key_id, "AKIDENV");
  }
  e.Unset("AWS_ACCESS_KEY_ID");
  e.Unset("AWS_SECRET_ACCESS_KEY");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    EXPECT_EQ(p.Get()->access_key_id, "AKIDFILE");
  }
  e.Set("AWS_SHARED_CREDENTIALS_FILE", tmp.Sub("absent"));
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    auto missing = p.Get();
    EXPECT_FALSE(missing.ok());  // an explicitly named file must exist
  }
  e.Unset("AWS_SHARED_CREDENTIALS_FILE");
  e.Set("HOME", tmp.Sub("home"));  // no ~/.aws/credentials
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    auto c = p.Get();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->access_key_id, "ASIAROLE");
    EXPECT_EQ(c->session_token, "sts-token");
    EXPECT_EQ(token_calls, 1);
    ASSERT_TRUE(p.Get().ok());
    EXPECT_EQ(token_calls, 2) << "credentials near expiry must be fetched again";
    EXPECT_NE(p.source().find("trainer-role"), std::string::npos);
  }
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAlibaba);
    auto c = p.Get();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->access_key_id, "STS.ECS");
    EXPECT_EQ(c->session_token, "ecs-token");
    int before = imds.requests();
    ASSERT_TRUE(p.Get().ok());
    EXPECT_EQ(imds.requests(), before) << "long-lived credentials are cached";
  }
  e.Set("AWS_EC2_METADATA_DISABLED", "true");
  {
    CredentialsProvider p(CredentialsProvider::Cloud::kAws);
    auto none = p.Get();
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().message().find("tried"), std::string::npos);
  }
}

}  // namespace
}  // namespace baton
