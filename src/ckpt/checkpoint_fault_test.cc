// The checkpoint protocol against a store that fails, or dies, at every call of a commit in
// turn: no failure may ever produce a valid checkpoint with wrong content, or lose or damage
// the checkpoints that were valid before.
#include <gtest/gtest.h>

#include "ckpt/checkpoint_manager.h"
#include "ckpt_test_util.h"
#include "fault_injection_store.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

using ckpt_testing::AsMap;
using ckpt_testing::Files;
using ckpt_testing::TrainerFiles;
Env* env = Env::Default();

enum class Fault { kFailCall, kCrashTruncated, kCrashBeforeRename };

struct Case {
  bool object_store;  // rename hidden, as on S3
  Fault fault;
  bool recommit;  // commit step 20 again over a valid step 20
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string name = c.object_store ? "ObjectStore" : "Filesystem";
  name += c.fault == Fault::kFailCall         ? "FailCall"
          : c.fault == Fault::kCrashTruncated ? "CrashTruncated"
                                              : "CrashBeforeRename";
  return name + (c.recommit ? "Recommit" : "NewStep");
}

class CheckpointFaultTest : public ::testing::TestWithParam<Case> {};

// Runs one commit of step 20 with the fault planned at `index`; returns whether the fault fired
// (false once `index` is past the commit's last call).
bool RunOnce(const Case& c, int64_t index) {
  testing::ScopedTempDir dir;
  FileStore base(env, dir.path());
  CheckpointManager clean(&base, "run");
  EXPECT_TRUE(clean.Commit(10, TrainerFiles(10)).ok());
  if (c.recommit) {
    EXPECT_TRUE(clean.Commit(20, TrainerFiles(20, 0)).ok());
  }
  const Files next = TrainerFiles(20, 1);

  FaultInjectionStore faulty(&base);
  if (c.object_store) faulty.DisableRename();
  switch (c.fault) {
    case Fault::kFailCall:
      faulty.FailNthCall(index);
      break;
    case Fault::kCrashTruncated:
      faulty.CrashOnPut(index, 1000);
      break;
    case Fault::kCrashBeforeRename:
      faulty.CrashOnPut(index, std::nullopt);
      break;
  }
  CheckpointManager writer(&faulty, "run");
  Status s = writer.Commit(20, next);
  bool fired = faulty.fault_fired();
  SCOPED_TRACE(::testing::Message()
               << "fault at call " << index << ": commit says " << s.ToString());
  EXPECT_EQ(s.ok(), !fired);

  // What the next life of the trainer sees, through a healthy store.
  Result<std::optional<int64_t>> latest = clean.LatestValid();
  EXPECT_TRUE(latest.ok());
  if (s.ok()) {
    EXPECT_EQ(*latest, 20);
  }
  // Every checkpoint that claims to be valid holds exactly one of the versions committed.
  std::vector<CheckpointInfo> infos = *clean.List(Verify::kDigests);
  for (const CheckpointInfo& info : infos) {
    if (info.state != CheckpointState::kValid) continue;
    std::map<std::string, std::string> got = *clean.Load(info.step);
    if (info.step == 10) {
      EXPECT_EQ(got, AsMap(TrainerFiles(10)));
    } else {
      EXPECT_EQ(info.step, 20);
      bool old_version = c.recommit && got == AsMap(TrainerFiles(20, 0));
      EXPECT_TRUE(got == AsMap(next) || old_version);
    }
  }
  // Step 10 was never touched. A new step 20 is there or not; an old valid step 20 survives
  // a failed replacement when the store can rename (atomic exchange).
  EXPECT_EQ(*clean.Load(10), AsMap(TrainerFiles(10)));
  if (!c.object_store && c.recommit) {
    EXPECT_EQ(*latest, 20);
  } else {
    EXPECT_TRUE(*latest == 10 || *latest == 20);
  }

  // The next life commits again and cleans up: nothing but the two valid checkpoints remains.
  EXPECT_TRUE(clean.Commit(20, next).ok());
  EXPECT_TRUE(clean.DeleteInvalid(21).ok());
  EXPECT_EQ(*clean.LatestValid(), 20);
  EXPECT_EQ(*clean.Load(20), AsMap(next));
  EXPECT_EQ(clean.List()->size(), 2u);
  EXPECT_TRUE(clean.ListLeftovers()->empty());
  EXPECT_EQ(base.List("")->size(), 10u);
  return fired;
}

TEST_P(CheckpointFaultTest, NoFaultYieldsAWrongValidCheckpoint) {
  int64_t index = 0;
  while (RunOnce(GetParam(), index)) {
    ASSERT_FALSE(HasFailure()) << "at call " << index;
    ASSERT_LT(++index, 200) << "the commit never ran out of calls";
  }
  // Each case must have exercised several failure points.
  EXPECT_GE(index, 3);
}

INSTANTIATE_TEST_SUITE_P(Ckpt, CheckpointFaultTest,
                         ::testing::Values(Case{false, Fault::kFailCall, false},
                                           Case{false, Fault::kFailCall, true},
                                           Case{true, Fault::kFailCall, false},
                                           Case{true, Fault::kFailCall, true},
                                           Case{false, Fault::kCrashTruncated, false},
                                           Case{false, Fault::kCrashTruncated, true},
                                           Case{true, Fault::kCrashTruncated, false},
                                           Case{true, Fault::kCrashTruncated, true},
                                           Case{false, Fault::kCrashBeforeRename, true},
                                           Case{true, Fault::kCrashBeforeRename, true}),
                         CaseName);

}  // namespace
}  // namespace baton
