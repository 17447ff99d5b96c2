// The s3:// store against FakeS3Server (fake_s3_server.h), which checks every signature and
// payload hash and can fail any request on cue: retries and what is never retried, truncated
// bodies, multipart upload and its abort, ranged downloads that resume per range, conditional
// PUT, key encoding, and errors that never show a secret. s3_store_test.cc runs the same store
// against s3rver and radosgw.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "base/strings.h"
#include "ckpt/checkpoint_manager.h"
#include "ckpt_test_util.h"
#include "fake_s3_server.h"
#include "job/job_spec.h"
#include "loopback.h"
#include "net/http_client.h"
#include "run/layout.h"
#include "store/cache.h"
#include "store/cloud_credentials.h"
#include "store/store.h"
#include "test_util.h"

namespace baton {
namespace {

using testing::FakeRequest;
using testing::FakeResponse;
using testing::FakeS3Server;

constexpr char kKeyId[] = "AKIDFAKE0123";
constexpr char kSecret[] = "fake-secret/Key+With=Odd/Chars0123456789";
constexpr char kToken[] = "session-token-0123456789-secret";

class S3ProtocolTest : public ::testing::Test {
 protected:
  S3ProtocolTest() : server_("bkt", SigV4Credentials{kKeyId, kSecret, kToken}, "us-east-1") {
    for (const char* n :
         {"AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_REGION", "AWS_DEFAULT_REGION", EnvVarName(EnvVar::kS3Addressing)}) {
      env_.Unset(n);
    }
    env_.Set("AWS_ACCESS_KEY_ID", kKeyId);
    env_.Set("AWS_SECRET_ACCESS_KEY", kSecret);
    env_.Set("AWS_SESSION_TOKEN", kToken);
    env_.Set("AWS_EC2_METADATA_DISABLED", "true");
  }

  std::string Url(const std::string& extra = "") {
    return "s3://bkt/run?endpoint=" + server_.endpoint() + "&retries=3&backoff_ms=1" + extra;
  }
  std::unique_ptr<Store> Open(const std::string& extra = "") {
    auto s = OpenStore(Url(extra));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Requests whose method is `method` (and, if given, that carry the query parameter `q`).
  int Count(const std::string& method, const std::string& q = "") {
    int n = 0;
    for (const FakeRequest& r : server_.requests()) {
      n += r.method == method && (q.empty() || r.Has(q));
    }
    return n;
  }
  void ExpectNoSecret(const Status& s) {
    EXPECT_EQ(s.message().find(kSecret), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kToken), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("Signature="), std::string::npos) << s.message();
    for (const FakeRequest& r : server_.requests()) {
      std::string auth = r.Header("authorization");
      std::string sig = auth.substr(auth.rfind('=') + 1);
      if (!sig.empty()) EXPECT_EQ(s.message().find(sig), std::string::npos) << s.message();
    }
  }

  testing::ScopedEnv env_;
  FakeS3Server server_;
};

TEST_F(S3ProtocolTest, SignsEveryRequestAndThePayload) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a/x.bin", testing::Blob(3000, 1)).ok());
  EXPECT_EQ(*store->Get("a/x.bin"), testing::Blob(3000, 1));
  EXPECT_EQ(*store->Head("a/x.bin"), 3000u);
  EXPECT_EQ(*store->GetRange("a/x.bin", 10, 5), testing::Blob(3000, 1).substr(10, 5));
  EXPECT_EQ(store->List("a/")->size(), 1u);
  ASSERT_TRUE(store->Delete("a/x.bin").ok());
  EXPECT_EQ(server_.bad_signatures(), 0);
  EXPECT_EQ(server_.bad_payload_hashes(), 0);
  for (const FakeRequest& r : server_.requests()) {
    EXPECT_EQ(r.Header("x-amz-security-token"), kToken) << r.method << " " << r.path;
    EXPECT_EQ(r.Header("x-amz-content-sha256"), Sha256Hex(r.body));
  }
  EXPECT_TRUE(server_.objects().empty());
}

TEST_F(S3ProtocolTest, KeysAreEncodedAsSigned) {
  auto store = Open("&max_keys=2");
  ASSERT_NE(store, nullptr);
  std::vector<std::string> keys = {"sp ace/x y.txt", "plus+eq=amp&.txt",
                                   "中文/ключ.json", "tilde~(paren)!*'.bin",
                                   "pct%20.txt",     "semi;colon,comma@at$"};
  for (const std::string& k : keys) ASSERT_TRUE(store->Put(k, k).ok()) << k;
  for (const std::string& k : keys) EXPECT_EQ(*store->Get(k), k) << k;
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*store->List(""), want);
  EXPECT_EQ(server_.bad_signatures(), 0);
  // The server saw the keys under the store's prefix, encoded once, as SigV4 wants.
  std::map<std::string, std::string> objects = server_.objects();
  EXPECT_TRUE(objects.count("run/plus+eq=amp&.txt"));
  bool seen = false;
  for (const FakeRequest& r : server_.requests()) {
    if (r.key == "run/plus+eq=amp&.txt") {
      EXPECT_EQ(r.path, "/bkt/run/plus%2Beq%3Damp%26.txt");
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
  ASSERT_TRUE(store->DeletePrefix("").ok());
  EXPECT_TRUE(server_.objects().empty());
}

TEST_F(S3ProtocolTest, ListsPageByPageWithinThePrefix) {
  auto store = Open("&max_keys=2");
  ASSERT_NE(store, nullptr);
  for (const char* k : {"ckpt/1", "ckpt/2", "ckpt/3", "ckpt/4", "ckpt/5", "ckpt-old/1", "ck"}) {
    ASSERT_TRUE(store->Put(k, k).ok());
  }
  ASSERT_TRUE(OpenStore("s3://bkt/other?endpoint=" + server_.endpoint())
                  .value()
                  ->Put("ckpt/9", "not ours")
                  .ok());
  server_.clear_requests();
  auto infos = store->ListInfo("ckpt/");
  ASSERT_TRUE(infos.ok()) << infos.status().ToString();
  ASSERT_EQ(infos->size(), 5u);
  EXPECT_EQ((*infos)[4].key, "ckpt/5");
  EXPECT_EQ((*infos)[4].size, 6u);
  EXPECT_EQ((*infos)[4].etag, FakeS3Server::ETagOf("ckpt/5"));
  EXPECT_EQ(Count("GET", "continuation-token"), 2);
  EXPECT_EQ(store->List("ckpt")->size(), 6u);
  EXPECT_EQ(store->List("")->size(), 7u);
  EXPECT_TRUE(store->List("nothing/")->empty());
}

TEST_F(S3ProtocolTest, RetriesThrottlingServerErrorsAndCutBodies) {
  auto store = Open("&retries=4");
  ASSERT_NE(store, nullptr);
  int failures = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "PUT" && failures < 3) {
      ++failures;
      if (failures == 1) return FakeResponse::Error(503, "SlowDown", "Please reduce your rate.");
      if (failures == 2) return FakeResponse::Error(429, "TooManyRequests", "slow down");
      return FakeResponse::Error(400, "RequestTimeout", "Your socket connection timed out.");
    }
    return std::nullopt;
  });
  ASSERT_TRUE(store->Put("k", testing::Blob(1000, 2)).ok());
  EXPECT_EQ(Count("PUT"), 4);

  // A GET whose body stops short of its Content-Length is retried, never returned.
  int cuts = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "GET" && cuts < 2) {
      ++cuts;
      FakeResponse f;
      f.headers = {{"ETag", FakeS3Server::ETagOf(testing::Blob(1000, 2))}};
      f.body = testing::Blob(1000, 2);
      f.cut_body_at = 400;
      return f;
    }
    return std::nullopt;
  });
  server_.clear_requests();
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, testing::Blob(1000, 2));
  EXPECT_EQ(Count("GET"), 3);

  // A ranged GET that answers fewer bytes than the object has there is retried too.
  int shorts = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "GET" && !r.Header("range").empty() && shorts < 1) {
      ++shorts;
      FakeResponse f;
      f.status = 206;
      f.headers = {{"Content-Range", "bytes 100-149/1000"}};
      f.body = testing::Blob(1000, 2).substr(100, 50);
      return f;
    }
    return std::nullopt;
  });
  server_.clear_requests();
  auto range = store->GetRange("k", 100, 200);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(*range, testing::Blob(1000, 2).substr(100, 200));
  EXPECT_EQ(Count("GET"), 2);
  // At the end of the object a short answer is what there is.
  EXPECT_EQ(*store->GetRange("k", 900, 200), testing::Blob(1000, 2).substr(900));
}

TEST_F(S3ProtocolTest, GivesUpAfterTheLastAttemptWithTheCause) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  server_.set_fault([](const FakeRequest&) -> std::optional<FakeResponse> {
    return FakeResponse::Error(500, "InternalError", "We encountered an internal error.");
  });
  Status s = store->Put("k", "v");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("3 attempts"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("InternalError"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("s3://bkt/run/k"), std::string::npos) << s.message();
  EXPECT_EQ(Count("PUT"), 3);
  // A body that is always cut short is an error, never a short object.
  server_.set_fault([](const FakeRequest& r) -> std::optional<FakeResponse> {
    FakeResponse f;
    f.body = "0123456789";
    f.cut_body_at = 5;
    return f;
  });
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  ExpectNoSecret(got.status());
}

TEST_F(S3ProtocolTest, ClientErrorsAreNotRetriedAndSayWhatIsWrong) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto missing = store->Get("no/such.key");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("s3://bkt/run/no/such.key"), std::string::npos)
      << missing.status().message();
  EXPECT_EQ(store->Head("no/such.key").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Delete("no/such.key").ok());
  EXPECT_EQ(Count("GET"), 1);

  auto other = OpenStore("s3://nobkt/x?endpoint=" + server_.endpoint(), OpenMode::kMustExist);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kNotFound);
  EXPECT_NE(other.status().message().find("bucket 'nobkt'"), std::string::npos)
      << other.status().message();

  server_.clear_requests();
  server_.set_fault([](const FakeRequest&) -> std::optional<FakeResponse> {
    return FakeResponse::Error(403, "AccessDenied", "Access Denied");
  });
  Status denied = store->Put("k", "v");
  EXPECT_EQ(denied.code(), StatusCode::kIoError);
  EXPECT_NE(denied.message().find("s3://bkt/run/k: access denied (HTTP 403 AccessDenied: Access "
                                  "Denied)"),
            std::string::npos)
      << denied.message();
  EXPECT_NE(denied.message().find("bucket policy"), std::string::npos);
  EXPECT_EQ(Count("PUT"), 1);
  ExpectNoSecret(denied);
}

TEST_F(S3ProtocolTest, AWrongSecretIsRefusedWithoutShowingSecrets) {
  env_.Set("AWS_SECRET_ACCESS_KEY", std::string(kSecret) + "-wrong");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Status s = store->Put("k", "v");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SignatureDoesNotMatch"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("environment"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find(std::string(kSecret) + "-wrong"), std::string::npos);
  EXPECT_EQ(server_.bad_signatures(), 1);
  ExpectNoSecret(s);
}

// Fast whatever the machine's speed: a refused connection is not waited on (no timeout), and
// the only waits are the backoffs between the attempts (10 ms x 2^n, at most 20 ms here).
TEST_F(S3ProtocolTest, UnreachableEndpointFailsFastNamingIt) {
  class SleepCountingEnv : public ForwardingEnv {
   public:
    void SleepMicros(uint64_t micros) override {
      slept += micros;
      ForwardingEnv::SleepMicros(micros);
    }
    std::atomic<uint64_t> slept{0};
  } counting;
  int port = testing::ClosedLoopbackPort();
  auto down = OpenStore(
      fmt::format("s3://bkt/x?endpoint=http://127.0.0.1:{}&retries=2&backoff_ms=10", port),
      OpenMode::kMustExist, &counting);
  ASSERT_FALSE(down.ok());
  EXPECT_LE(counting.slept.load(), 20'000u);
  EXPECT_EQ(down.status().message().find("imeout"), std::string::npos) << down.status().message();
  EXPECT_NE(down.status().message().find("connect"), std::string::npos) << down.status().message();
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find(fmt::format("127.0.0.1:{}", port)), std::string::npos)
      << down.status().message();
  EXPECT_NE(down.status().message().find("2 attempts"), std::string::npos);
  ExpectNoSecret(down.status());
}

// A server that accepts connections and never answers (a full cluster did this): the second
// silent attempt ends the call, named as such, instead of six silent timeouts one after another.
TEST_F(S3ProtocolTest, AServerThatHoldsRequestsIsReportedAfterTwoSilentAttempts) {
  int port = 0;
  int fd = testing::ListenOnLoopback(&port);  // never accepts: the kernel's backlog holds them
  auto store =
      OpenStore(fmt::format("s3://bkt/x?endpoint=http://127.0.0.1:{}&retries=6&"
                            "backoff_ms=10&stall_timeout_ms=1000",
                            port));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Result<std::string> got = (*store)->Get("k");
  close(fd);
  ASSERT_FALSE(got.ok());
  const std::string& m = got.status().message();
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << m;
  EXPECT_NE(m.find(fmt::format("the server at http://127.0.0.1:{} takes requests and does not "
                               "answer them (2 times, 1 s each): it is holding requests",
                               port)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("without the other 4 attempts"), std::string::npos) << m;
  EXPECT_NE(m.find("s3://bkt/x/k"), std::string::npos) << m;
  // A bad value of the parameter is named.
  auto bad = OpenStore("s3://bkt/x?endpoint=http://127.0.0.1:1&stall_timeout_ms=5");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("stall_timeout_ms=5"), std::string::npos);
}

// Only the HTTP client says that a server sent no answer (a typed flag, not words in a message):
// an answer whose own text carries those words is retried like any bad answer.
TEST_F(S3ProtocolTest, AnAnswerThatQuotesTheNoAnswerWordsIsNotASilentServer) {
  auto store = Open("&retries=4&part_size=5MiB");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("w.bin", testing::Blob(1000, 3)).ok());
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method != "GET" || r.Header("range").empty()) return std::nullopt;
    FakeResponse f;
    f.status = 206;
    f.headers = {{"Content-Range", "the server sent no answer in 30 s"}};
    f.body = testing::Blob(1000, 3);
    return f;
  });
  server_.clear_requests();
  testing::ScopedTempDir tmp;
  Status s = store->GetToFile("w.bin", tmp.Sub("w.bin"), Env::Default());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(s.message().find("holding requests"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("giving up after 4 attempts"), std::string::npos) << s.message();
  EXPECT_EQ(Count("GET"), 4);
}

TEST_F(S3ProtocolTest, MultipartUploadInOrderWithCheckedParts) {
  auto store = Open("&part_size=5MiB&multipart_threshold=6MiB");
  ASSERT_NE(store, nullptr);
  std::string big = testing::Blob(12 * 1024 * 1024 + 7, 3);
  Status s = store->Put("big.bin", big);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server_.objects()["run/big.bin"], big);
  EXPECT_EQ(Count("POST", "uploads"), 1);
  EXPECT_EQ(Count("PUT", "partNumber"), 3);
  EXPECT_EQ(server_.bad_signatures(), 0);
  EXPECT_EQ(server_.bad_payload_hashes(), 0);
  EXPECT_EQ(server_.open_uploads(), 0u);
  auto listed = store->ListInfo("big.bin");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].etag.ends_with("-3\"")) << (*listed)[0].etag;
  // At the threshold exactly: one PUT.
  server_.clear_requests();
  ASSERT_TRUE(store->Put("six.bin", testing::Blob(6 << 20, 4)).ok());
  EXPECT_EQ(Count("PUT"), 1);
  EXPECT_EQ(Count("POST"), 0);
}

TEST_F(S3ProtocolTest, AFailedMultipartUploadIsAbortedAndLeavesNoObject) {
  auto store = Open("&part_size=5MiB&multipart_threshold=6MiB&parallel=1");
  ASSERT_NE(store, nullptr);
  server_.set_fault([](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "PUT" && r.query.count("partNumber") && r.query.at("partNumber") == "2") {
      return FakeResponse::Error(400, "InvalidArgument", "Part number must be an integer");
    }
    return std::nullopt;
  });
  Status s = store->Put("big.bin", testing::Blob(11 << 20, 5));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("s3://bkt/run/big.bin"), std::string::npos) << s.message();
  EXPECT_EQ(server_.aborted_uploads(), 1);
  EXPECT_EQ(server_.open_uploads(), 0u);
  EXPECT_EQ(Count("DELETE", "uploadId"), 1);
  EXPECT_TRUE(server_.objects().empty());
  // A part answered without an ETag is a failure too (the upload could not be completed).
  server_.set_fault([](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "PUT" && r.query.count("partNumber")) return FakeResponse();
    return std::nullopt;
  });
  s = store->Put("big.bin", testing::Blob(11 << 20, 5));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ETag"), std::string::npos) << s.message();
  EXPECT_EQ(server_.aborted_uploads(), 2);
  EXPECT_TRUE(server_.objects().empty());
}

TEST_F(S3ProtocolTest, CompleteAnsweredWithAnErrorInA200IsRetried) {
  auto store = Open("&part_size=5MiB&multipart_threshold=6MiB");
  ASSERT_NE(store, nullptr);
  int errors = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "POST" && r.Has("uploadId") && errors == 0) {
      ++errors;
      FakeResponse f =
          FakeResponse::Error(200, "InternalError", "We encountered an internal error.");
      return f;
    }
    return std::nullopt;
  });
  Status s = store->Put("big.bin", testing::Blob(7 << 20, 6));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server_.objects()["run/big.bin"], testing::Blob(7 << 20, 6));
  EXPECT_EQ(Count("POST", "uploadId"), 2);
}

TEST_F(S3ProtocolTest, ACompleteWhoseAnswerWasLostIsRecognisedByItsETag) {
  auto store = Open("&part_size=5MiB&multipart_threshold=6MiB");
  ASSERT_NE(store, nullptr);
  // The server completes the upload, but the answer never arrives; the retry finds no upload.
  bool dropped = false;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "POST" && r.Has("uploadId") && !dropped) {
      dropped = true;
      FakeResponse f;
      f.drop_answer = true;
      return f;
    }
    return std::nullopt;
  });
  Status s = store->Put("big.bin", testing::Blob(7 << 20, 8));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server_.objects()["run/big.bin"], testing::Blob(7 << 20, 8));
  EXPECT_EQ(Count("POST", "uploadId"), 2);
  // An upload that really vanished (and an older object of the same size) is an error.
  server_.set_fault([](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "POST" && r.Has("uploadId")) {
      return FakeResponse::Error(404, "NoSuchUpload", "The specified upload does not exist.");
    }
    return std::nullopt;
  });
  s = store->Put("big.bin", testing::Blob(7 << 20, 9));
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_EQ(server_.objects()["run/big.bin"], testing::Blob(7 << 20, 8));
}

TEST_F(S3ProtocolTest, GetToFileResumesPerRange) {
  auto store = Open("&part_size=5MiB&parallel=1");
  ASSERT_NE(store, nullptr);
  std::string big = testing::Blob(12 << 20, 7);
  ASSERT_TRUE(store->Put("w.bin", big).ok());
  // The second range is cut once; only that range is fetched again.
  int cut = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "GET" && r.Header("range").starts_with("bytes=5242880-") && cut == 0) {
      ++cut;
      FakeResponse f;
      f.status = 206;
      f.headers = {{"Content-Range", "bytes 5242880-10485759/12582912"}};
      f.body = big.substr(5 << 20, 5 << 20);
      f.cut_body_at = 1 << 20;
      return f;
    }
    return std::nullopt;
  });
  server_.clear_requests();
  testing::ScopedTempDir tmp;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  Status s =
      store->GetToFile("w.bin", tmp.Sub("w.bin"), Env::Default(),
                       [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*Env::Default()->ReadFile(tmp.Sub("w.bin")), big);
  EXPECT_EQ(Count("GET"), 4);  // three ranges, one of them twice
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, big.size());
  EXPECT_EQ(progress.back().second, big.size());
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
  // No temp file is left beside the target.
  EXPECT_EQ(Env::Default()->ListDir(tmp.path())->size(), 1u);
  // An object replaced between two ranges is not stitched together from two versions.
  bool replaced = false;
  s = store->GetToFile("w.bin", tmp.Sub("w2.bin"), Env::Default(), [&](uint64_t done, uint64_t) {
    if (done > 0 && !replaced) {
      replaced = true;
      ASSERT_TRUE(store->Put("w.bin", testing::Blob(12 << 20, 8)).ok());
    }
  });
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("replaced"), std::string::npos) << s.message();
  EXPECT_FALSE(Env::Default()->FileExists(tmp.Sub("w2.bin")));
  // A missing object: NotFound, and nothing written.
  auto missing = store->GetToFile("none.bin", tmp.Sub("none.bin"), Env::Default());
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_FALSE(Env::Default()->FileExists(tmp.Sub("none.bin")));
  // A server that ignores Range and sends the whole object: each part is read the buffered way
  // (the streamed write stops at the range's end), and the file is still right.
  ASSERT_TRUE(store->Put("w.bin", big).ok());
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method != "GET" || r.Header("range").empty()) return std::nullopt;
    FakeResponse f;
    f.status = 200;
    f.body = big;
    return f;
  });
  s = store->GetToFile("w.bin", tmp.Sub("w3.bin"), Env::Default());
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*Env::Default()->ReadFile(tmp.Sub("w3.bin")), big);
}

// The download's XXH3-64 comes out of GetToFile, computed while the parts arrive (several at
// once, one of them cut and read again, one answered by a server that ignored Range), and a
// resumed download's digest covers the parts that were on disk before it.
TEST_F(S3ProtocolTest, GetToFileComputesTheDigestOnTheWay) {
  auto store = Open("&part_size=5MiB&parallel=3&retries=2");
  ASSERT_NE(store, nullptr);
  const std::string big = testing::Blob((17 << 20) + 123, 9);
  const std::string want = fmt::format("{:016x}", XXH3_64bits(big.data(), big.size()));
  ASSERT_TRUE(store->Put("w.bin", big).ok());
  int cut = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    const std::string range = r.Header("range");
    if (r.method == "GET" && range.starts_with("bytes=10485760-") && cut++ == 0) {
      FakeResponse f;
      f.status = 206;
      f.headers = {{"Content-Range", fmt::format("bytes 10485760-15728639/{}", big.size())}};
      f.body = big.substr(10 << 20, 5 << 20);
      f.cut_body_at = 3 << 20;
      return f;
    }
    if (r.method == "GET" && range.starts_with("bytes=5242880-")) {
      FakeResponse f;  // ignores Range: the whole object, which must not land at 5 MiB
      f.status = 200;
      f.body = big;
      return f;
    }
    return std::nullopt;
  });
  testing::ScopedTempDir tmp;
  std::string digest;
  Status s = store->GetToFile("w.bin", tmp.Sub("w.bin"), Env::Default(), nullptr, &digest);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*Env::Default()->ReadFile(tmp.Sub("w.bin")), big);
  EXPECT_EQ(digest, want);
  EXPECT_EQ(cut, 2);

  // Killed after three parts (a part the server refuses stops it); the rerun fetches the last
  // part only, and its digest is the whole file's.
  auto serial = Open("&part_size=5MiB&parallel=1&retries=1");
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "GET" && r.Header("range").starts_with("bytes=15728640-")) {
      return FakeResponse::Error(403, "AccessDenied", "no");
    }
    return std::nullopt;
  });
  s = serial->GetToFile("w.bin", tmp.Sub("r.bin"), Env::Default(), nullptr, &digest);
  ASSERT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  server_.set_fault(nullptr);
  server_.clear_requests();
  digest.clear();
  s = serial->GetToFile("w.bin", tmp.Sub("r.bin"), Env::Default(), nullptr, &digest);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Count("GET"), 1);
  EXPECT_EQ(*Env::Default()->ReadFile(tmp.Sub("r.bin")), big);
  EXPECT_EQ(digest, want);
}

TEST_F(S3ProtocolTest, ConditionalPutMapsConflictsToFailedPrecondition) {
  auto store = Open("&conditional=true");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SupportsConditionalPut());
  ASSERT_TRUE(store->PutIf("lease.json", "one", "").ok());
  EXPECT_EQ(store->PutIf("lease.json", "two", "").code(), StatusCode::kFailedPrecondition);
  auto v = store->GetVersioned("lease.json");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data, "one");
  EXPECT_EQ(v->etag, FakeS3Server::ETagOf("one"));
  ASSERT_TRUE(store->PutIf("lease.json", "two", v->etag).ok());
  Status stale = store->PutIf("lease.json", "three", v->etag);
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  EXPECT_NE(stale.message().find("s3://bkt/run/lease.json"), std::string::npos);
  EXPECT_EQ(*store->Get("lease.json"), "two");
  bool saw_none = false, saw_match = false;
  for (const FakeRequest& r : server_.requests()) {
    saw_none |= r.method == "PUT" && r.Header("if-none-match") == "*";
    saw_match |= r.method == "PUT" && r.Header("if-match") == v->etag;
  }
  EXPECT_TRUE(saw_none);
  EXPECT_TRUE(saw_match);
  // The object was deleted since it was read: the condition fails, it is not "not found".
  ASSERT_TRUE(store->Delete("lease.json").ok());
  EXPECT_EQ(store->PutIf("lease.json", "four", v->etag).code(), StatusCode::kFailedPrecondition);
  // A concurrent conditional write (S3's 409) is a lost race as well.
  server_.set_fault([](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.method == "PUT") {
      return FakeResponse::Error(409, "ConditionalRequestConflict",
                                 "A conflicting operation occurred.");
    }
    return std::nullopt;
  });
  EXPECT_EQ(store->PutIf("lease.json", "five", "").code(), StatusCode::kFailedPrecondition);
  // A server that compares the bare tag (radosgw) gets it once a quoted one was refused.
  server_.set_fault(nullptr);
  server_.set_bare_if_match_on_put(true);
  ASSERT_TRUE(store->Put("lease.json", "six").ok());
  std::string six = store->GetVersioned("lease.json")->etag;
  Status bare = store->PutIf("lease.json", "seven", six);
  ASSERT_TRUE(bare.ok()) << bare.ToString();
  EXPECT_EQ(store->PutIf("lease.json", "eight", six).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->Get("lease.json"), "seven");
  // Stores that are not told the server checks conditions do not pretend to.
  auto plain = Open("&conditional=false");
  EXPECT_FALSE(plain->SupportsConditionalPut());
  EXPECT_EQ(plain->PutIf("lease.json", "x", "").code(), StatusCode::kUnimplemented);
}

TEST_F(S3ProtocolTest, ExpiredTokenIsFetchedAgainAndRetried) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  int expired = 0;
  server_.set_fault([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (expired == 0) {
      ++expired;
      return FakeResponse::Error(400, "ExpiredToken", "The provided token has expired.");
    }
    return std::nullopt;
  });
  Status s = store->Put("k", "v");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Count("PUT"), 2);
}

TEST_F(S3ProtocolTest, OssSignsForItsRegionWithOssKeys) {
  FakeS3Server oss("obkt", SigV4Credentials{"LTAIoss", "oss-secret", ""}, "cn-hangzhou");
  env_.Unset("AWS_ACCESS_KEY_ID");
  env_.Unset("AWS_SECRET_ACCESS_KEY");
  env_.Unset("AWS_SESSION_TOKEN");
  env_.Set("OSS_ACCESS_KEY_ID", "LTAIoss");
  env_.Set("OSS_ACCESS_KEY_SECRET", "oss-secret");
  env_.Unset("OSS_SESSION_TOKEN");
  env_.Unset("OSS_REGION");
  env_.Unset("ALIBABA_CLOUD_REGION_ID");
  env_.Unset("OSS_ENDPOINT");
  auto store =
      OpenStore("oss://obkt/p?region=oss-cn-hangzhou&addressing=path&endpoint=" + oss.endpoint());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Url(), "oss://obkt/p");
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ(*(*store)->Get("k"), "v");
  EXPECT_EQ(oss.bad_signatures(), 0);
  EXPECT_EQ(oss.objects()["p/k"], "v");
}

// Some S3-compatible servers ignore `prefix` and list the whole bucket: the store keeps to what
// it asked for, so nothing outside the prefix is ever listed, deleted or garbage-collected.
TEST_F(S3ProtocolTest, AServerThatIgnoresPrefixCannotWidenAListingOrADelete) {
  auto store = Open("&max_keys=2");
  ASSERT_NE(store, nullptr);
  for (const char* k : {"ckpt/1", "ckpt/2", "ckpt-old/1", "ck", "COMPLETE", "lease.json"}) {
    ASSERT_TRUE(store->Put(k, k).ok());
  }
  ASSERT_TRUE(OpenStore("s3://bkt/other?endpoint=" + server_.endpoint())
                  .value()
                  ->Put("ckpt/9", "not ours")
                  .ok());
  server_.set_ignore_list_prefix(true);
  EXPECT_EQ(*store->List("ckpt/"), (std::vector<std::string>{"ckpt/1", "ckpt/2"}));
  EXPECT_EQ(store->ListInfo("ckpt")->size(), 3u);
  EXPECT_TRUE(store->List("nothing/")->empty());
  ASSERT_TRUE(store->DeletePrefix("ckpt/").ok());
  std::map<std::string, std::string> left = server_.objects();
  EXPECT_EQ(left.size(), 5u);
  for (const char* k :
       {"run/ckpt-old/1", "run/ck", "run/COMPLETE", "run/lease.json", "other/ckpt/9"}) {
    EXPECT_TRUE(left.count(k)) << k;
  }
}

TEST_F(S3ProtocolTest, CheckpointGcAgainstAServerThatIgnoresPrefixDeletesOnlyGarbage) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  CheckpointManager manager(store.get(), "");
  for (int64_t step : {10, 20, 30}) {
    ASSERT_TRUE(manager.Commit(step, ckpt_testing::TrainerFiles(step)).ok());
  }
  ASSERT_TRUE(store->Delete("checkpoint-10/MANIFEST.json").ok());  // an interrupted commit
  CompleteMarker done;
  done.last_model_checkpoint = "checkpoint-30";
  ASSERT_TRUE(WriteCompleteMarker(store.get(), done).ok());
  ASSERT_TRUE(store->Put(kLeaseName, "{}").ok());
  ASSERT_TRUE(store->Put("checkpoint-5.bak/adapter_model.safetensors", "the user's").ok());
  server_.set_ignore_list_prefix(true);

  // What `baton ckpt gc` does.
  Result<std::optional<int64_t>> newest = manager.LatestValid();
  ASSERT_TRUE(newest.ok() && *newest) << newest.status().ToString();
  EXPECT_EQ(**newest, 30);
  Result<std::vector<std::string>> doomed = manager.DeleteInvalid(**newest, Verify::kDigests);
  ASSERT_TRUE(doomed.ok()) << doomed.status().ToString();
  EXPECT_EQ(*doomed, (std::vector<std::string>{"checkpoint-10/"}));
  ASSERT_TRUE(manager.Retain(1, std::nullopt).ok());

  std::map<std::string, std::string> left = server_.objects();
  for (const std::string& k : {"run/COMPLETE", "run/lease.json", "run/checkpoint-30/MANIFEST.json",
                               "run/checkpoint-30/adapter_model.safetensors",
                               "run/checkpoint-5.bak/adapter_model.safetensors"}) {
    EXPECT_TRUE(left.count(k)) << k;
  }
  for (const auto& [k, v] : left) {
    EXPECT_FALSE(k.starts_with("run/checkpoint-10/") || k.starts_with("run/checkpoint-20/")) << k;
  }
  EXPECT_TRUE(*IsComplete(store.get()));
  Result<CheckpointInfo> last = manager.Check(30);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->state, CheckpointState::kValid);
  EXPECT_EQ(last->num_files, 5);
}

// A job read from a store may hold webhook tokens: it is parsed from memory, never left in the
// cache (where it used to land world-readable).
// The cache keeps a URL's secrets (here a password in the endpoint) off the disk: the entry's
// folder is named by a digest and its record shows the URL redacted; it still finds its entry.
TEST_F(S3ProtocolTest, TheCacheWritesNoSecretOfAUrl) {
  constexpr char kPassword[] = "url-pass-0123";
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("model/config.json", "{}").ok());
  ASSERT_TRUE(store->Put("model/w.bin", testing::Blob(1000, 3)).ok());
  std::string endpoint = server_.endpoint();
  endpoint.insert(endpoint.find("://") + 3, std::string("cacheuser:") + kPassword + "@");
  const std::string url = "s3://bkt/run/model?endpoint=" + endpoint + "&retries=3&backoff_ms=1";
  testing::ScopedTempDir tmp;
  std::string printed;
  CacheOptions o;
  o.cache_dir = tmp.Sub("cache");
  o.print = [&](const std::string& s) { printed += s + "\n"; };
  Result<std::string> dir = FetchToCache(url, o);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(*Env::Default()->ReadFile(JoinPath(*dir, "w.bin")), testing::Blob(1000, 3));
  ASSERT_TRUE(FetchToCache(url, o).ok());
  EXPECT_NE(printed.find("using the cached copy"), std::string::npos) << printed;
  EXPECT_EQ(printed.find(kPassword), std::string::npos) << printed;
  int records = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(o.cache_dir)) {
    const std::string path = e.path().string();
    EXPECT_EQ(path.find(kPassword), std::string::npos) << path;
    if (!e.is_regular_file()) continue;
    Result<std::string> text = Env::Default()->ReadFile(path);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(text->find(kPassword), std::string::npos) << path << ":\n" << *text;
    if (e.path().filename() == "entry.json") {
      ++records;
      // It names where the bytes live (the endpoint's host and port, the bucket and prefix).
      EXPECT_NE(
          text->find("\"source\": \"s3://" + UrlAuthority(server_.endpoint()) + "/bkt/run/model\""),
          std::string::npos)
          << *text;
    }
  }
  EXPECT_EQ(records, 1);
}

TEST_F(S3ProtocolTest, AJobFromAStoreIsNeverCopiedToDisk) {
  testing::ScopedTempDir cache;
  env_.Set(EnvVarName(EnvVar::kCacheDir), cache.path());
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->Put("jobs/demo.yaml",
                        "model: m\ndatasets: d.jsonl\nstore: s3://bkt/run\nhooks:\n  webhooks:\n"
                        "    - {url: 'https://h/send?access_token=tok123'}\n")
                  .ok());
  Result<JobSpec> job = LoadJobSpec("s3://bkt/run/jobs/demo.yaml?endpoint=" + server_.endpoint());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->name, "demo");
  ASSERT_EQ(job->webhooks.size(), 1u);
  EXPECT_TRUE(Env::Default()->ListDir(cache.path())->empty());
  Result<JobSpec> missing =
      LoadJobSpec("s3://bkt/run/jobs/none.yaml?endpoint=" + server_.endpoint());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

}  // namespace
}  // namespace baton
