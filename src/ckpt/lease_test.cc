// The run lease: epochs grow, the newest attempt wins, a fenced attempt's commit writes nothing,
// with and without conditional writes.
#include "ckpt/lease.h"

#include <gtest/gtest.h>

#include <limits>

#include "ckpt/checkpoint_manager.h"
#include "ckpt_test_util.h"
#include "fault_injection_store.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

using ckpt_testing::TrainerFiles;
using testing::ScopedTempDir;

// Every object in the store with its bytes: "nothing was written" means this did not change.
std::map<std::string, std::string> Snapshot(Store* store) {
  std::map<std::string, std::string> out;
  std::vector<std::string> keys = *store->List("");
  for (const std::string& key : keys) out[key] = *store->Get(key);
  return out;
}

class LeaseTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    file_ = std::make_unique<FileStore>(Env::Default(), dir_.path());
    // FaultInjectionStore forwards no conditional writes: the read-back path.
    plain_ = std::make_unique<FaultInjectionStore>(file_.get());
    store_ = GetParam() ? static_cast<Store*>(file_.get()) : plain_.get();
  }
  ScopedTempDir dir_;
  std::unique_ptr<FileStore> file_;
  std::unique_ptr<FaultInjectionStore> plain_;
  Store* store_ = nullptr;
};

TEST_P(LeaseTest, EpochsGrowAndTheNewestWins) {
  EXPECT_EQ(store_->SupportsConditionalPut(), GetParam());
  auto none = ReadLease(store_, "run");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto a = RunLease::Acquire(store_, "run", "host-a:1:aa");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->epoch(), 1);
  EXPECT_TRUE((*a)->Check().ok());
  EXPECT_TRUE((*a)->Renew().ok());
  EXPECT_TRUE((*a)->Check().ok());

  auto b = RunLease::Acquire(store_, "run", "host-b:2:bb");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->epoch(), 2);
  Status s = (*a)->Check();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("fenced"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("host-b:2:bb"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("epoch 2"), std::string::npos) << s.message();
  EXPECT_TRUE((*a)->fenced());
  // A fenced attempt can neither renew nor release: the lease stays b's.
  EXPECT_FALSE((*a)->Renew().ok());
  EXPECT_FALSE((*a)->Release().ok());
  auto now = ReadLease(store_, "run");
  ASSERT_TRUE(now.ok() && now->has_value());
  EXPECT_EQ((*now)->holder, "host-b:2:bb");
  EXPECT_FALSE((*now)->released);

  EXPECT_TRUE((*b)->Release().ok());
  now = ReadLease(store_, "run");
  // Only a conditional write may mark it: a plain one could overwrite a newer epoch.
  EXPECT_EQ((*now)->released, GetParam());
  EXPECT_EQ((*now)->epoch, 2);
  // A released lease is taken like any other, with the next epoch.
  auto c = RunLease::Acquire(store_, "run", "host-c:3:cc");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->epoch(), 3);
  EXPECT_FALSE((*b)->Check().ok());
  EXPECT_FALSE((*b)->Release(/*run_complete=*/true).ok());  // fenced: still c's
  // The release at the end of a complete run is written on every store: an attempt it could
  // overwrite finds the run complete.
  EXPECT_TRUE((*c)->Release(/*run_complete=*/true).ok());
  now = ReadLease(store_, "run");
  ASSERT_TRUE(now.ok() && now->has_value());
  EXPECT_TRUE((*now)->released);
  EXPECT_EQ((*now)->epoch, 3);
  EXPECT_EQ((*now)->holder, "host-c:3:cc");
}

TEST_P(LeaseTest, FencedCommitWritesNothing) {
  auto a = RunLease::Acquire(store_, "", "a");
  ASSERT_TRUE(a.ok());
  CheckpointManager old_attempt(store_, "");
  RunLease* lease_a = a->get();
  old_attempt.SetFence([lease_a](CheckpointManager::FencePoint p) {
    return p == CheckpointManager::FencePoint::kBeforeCommit ? lease_a->Renew() : lease_a->Check();
  });
  ASSERT_TRUE(old_attempt.Commit(1, TrainerFiles(1)).ok());

  auto b = RunLease::Acquire(store_, "", "b");
  ASSERT_TRUE(b.ok());
  CheckpointManager new_attempt(store_, "");
  ASSERT_TRUE(new_attempt.Commit(2, TrainerFiles(2, 1)).ok());

  auto before = Snapshot(store_);
  // The zombie tries to commit step 2 (replacing the new attempt's) and step 3.
  Status s2 = old_attempt.Commit(2, TrainerFiles(2, 7));
  Status s3 = old_attempt.Commit(3, TrainerFiles(3, 7));
  EXPECT_EQ(s2.code(), StatusCode::kFailedPrecondition) << s2.ToString();
  EXPECT_EQ(s3.code(), StatusCode::kFailedPrecondition) << s3.ToString();
  EXPECT_EQ(Snapshot(store_), before);
  auto loaded = new_attempt.Load(2);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, ckpt_testing::AsMap(TrainerFiles(2, 1)));
}

TEST_P(LeaseTest, FencedJustBeforeTheManifestLeavesNothingValid) {
  auto a = RunLease::Acquire(store_, "", "a");
  ASSERT_TRUE(a.ok());
  CheckpointManager old_attempt(store_, "");
  RunLease* lease_a = a->get();
  std::unique_ptr<RunLease> b;
  old_attempt.SetFence([&](CheckpointManager::FencePoint p) -> Status {
    if (p == CheckpointManager::FencePoint::kBeforeCommit) return lease_a->Renew();
    // The new attempt takes over while the old one uploads its files.
    auto taken = RunLease::Acquire(store_, "", "b");
    if (!taken.ok()) return taken.status();
    b = std::move(*taken);
    return lease_a->Check();
  });
  Status s = old_attempt.Commit(5, TrainerFiles(5));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ASSERT_NE(b, nullptr);
  CheckpointManager reader(store_, "");
  auto latest = reader.LatestValid();
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
  EXPECT_FALSE(store_->Head("checkpoint-5/MANIFEST.json").ok());
}

TEST_P(LeaseTest, CorruptLeaseIsAnErrorNamingTheFile) {
  ASSERT_TRUE(store_->Put("run/lease.json", "{\"format\": \"baton-lease\", \"version\": 1}").ok());
  auto a = RunLease::Acquire(store_, "run", "a");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("run/lease.json"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("epoch"), std::string::npos) << a.status().message();
}

// A lease document with `epoch` spliced in as JSON text.
std::string LeaseText(const std::string& epoch, const std::string& holder = "\"h\"",
                      const std::string& released = "false") {
  return "{\"format\": \"baton-lease\", \"version\": 1, \"epoch\": " + epoch +
         ", \"holder\": " + holder +
         ", \"acquired_unix_ms\": 1, \"renewed_unix_ms\": 1, \"released\": " + released + "}";
}

TEST_P(LeaseTest, EpochAtTheLargestValueIsNotOverflowed) {
  const std::string max = std::to_string(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(store_->Put("run/lease.json", LeaseText(max)).ok());
  auto a = RunLease::Acquire(store_, "run", "a");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("run/lease.json: epoch " + max + " is the largest"),
            std::string::npos)
      << a.status().message();
  // Nothing written: the lease is still the old holder's, readable, not a negative epoch.
  auto now = ReadLease(store_, "run");
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ((*now)->epoch, std::numeric_limits<int64_t>::max());
  EXPECT_EQ((*now)->holder, "h");
  // One below the largest still works, and its holder can check its own lease.
  ASSERT_TRUE(store_
                  ->Put("run/lease.json",
                        LeaseText(std::to_string(std::numeric_limits<int64_t>::max() - 1)))
                  .ok());
  auto b = RunLease::Acquire(store_, "run", "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->epoch(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE((*b)->Check().ok());
}

TEST_P(LeaseTest, BadEpochsAndWronglyTypedFieldsAreErrorsNamingTheFile) {
  const std::vector<std::string> bad = {
      LeaseText("-5"),
      LeaseText("0"),
      LeaseText("9223372036854775808"),  // 2^63: would read as a negative int64
      LeaseText("18446744073709551615"),
      LeaseText("1e300"),
      LeaseText("\"3\""),
      LeaseText("3", "5"),
      LeaseText("3", "\"h\"", "\"no\""),
      "[1, 2]",
  };
  for (const std::string& text : bad) {
    ASSERT_TRUE(store_->Put("run/lease.json", text).ok());
    auto read = ReadLease(store_, "run");
    ASSERT_FALSE(read.ok()) << text;
    EXPECT_NE(read.status().message().find("run/lease.json"), std::string::npos)
        << read.status().message();
    auto a = RunLease::Acquire(store_, "run", "a");
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(*store_->Get("run/lease.json"), text) << "a refused lease was overwritten";
  }
}

INSTANTIATE_TEST_SUITE_P(Store, LeaseTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Conditional" : "ReadBack";
                         });

TEST(LeaseFileStore, ConditionalPutChecksTheTag) {
  ScopedTempDir dir;
  FileStore store(Env::Default(), dir.path());
  EXPECT_TRUE(store.PutIf("k", "one", "").ok());
  EXPECT_EQ(store.PutIf("k", "two", "").code(), StatusCode::kFailedPrecondition);
  auto v = store.GetVersioned("k");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data, "one");
  EXPECT_EQ(store.PutIf("k", "two", "0000000000000000").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store.PutIf("k", "two", v->etag).ok());
  EXPECT_EQ(store.PutIf("k", "three", v->etag).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store.Get("k"), "two");
  ASSERT_TRUE(store.Delete("k").ok());
  EXPECT_EQ(store.PutIf("k", "four", v->etag).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace baton
