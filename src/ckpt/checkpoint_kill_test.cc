// Kill points: a child process commits with EnvVar::kKillAt set and dies at that point of the
// protocol, as a preempted trainer would; the parent then checks what the next life would see.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/kill_point.h"
#include "ckpt/checkpoint_manager.h"
#include "ckpt_test_util.h"
#include "fault_injection_store.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

using ckpt_testing::AsMap;
using ckpt_testing::TrainerFiles;
Env* env = Env::Default();

// Forks; the child sets EnvVar::kKillAt to `kill_at`, runs `body` and exits 0 if it returns true.
// Returns the child's exit code (137 when a kill point fired).
int RunChild(const std::string& kill_at, const std::function<bool()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    SetEnvVar(EnvVar::kKillAt, kill_at);
    _exit(body() ? 0 : 1);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

TEST(CheckpointKillPointTest, Syntax) {
  SetEnvVar(EnvVar::kKillAt, std::nullopt);
  KillPoint("test.a");  // no variable: nothing happens
  EXPECT_EQ(RunChild("test.other",
                     [] {
                       KillPoint("test.a");
                       return true;
                     }),
            0);
  EXPECT_EQ(RunChild("test.a",
                     [] {
                       KillPoint("test.a");
                       return true;
                     }),
            137);
  // name:K dies on the K-th hit, not before.
  EXPECT_EQ(RunChild("test.b,test.a:3",
                     [] {
                       KillPoint("test.a");
                       KillPoint("test.a");
                       if (KillPointHits("test.a") != 2) return false;
                       KillPoint("test.a");
                       return true;
                     }),
            137);
  EXPECT_EQ(RunChild("test.a:4",
                     [] {
                       for (int i = 0; i < 3; ++i) KillPoint("test.a");
                       return true;
                     }),
            0);
}

struct KillCase {
  const char* point;
  bool object_store;
  bool recommit;   // step 20 already holds a valid checkpoint that the child replaces
  bool new_valid;  // whether the new version is the valid step 20 afterwards
};

class CheckpointKillTest : public ::testing::TestWithParam<KillCase> {};

TEST_P(CheckpointKillTest, KilledCommitNeverLeavesAWrongValidCheckpoint) {
  const KillCase& k = GetParam();
  testing::ScopedTempDir dir;
  FileStore base(env, dir.path());
  CheckpointManager clean(&base, "run");
  ASSERT_TRUE(clean.Commit(10, TrainerFiles(10)).ok());
  if (k.recommit) {
    ASSERT_TRUE(clean.Commit(20, TrainerFiles(20, 0)).ok());
  }

  int code = RunChild(k.point, [&] {
    FaultInjectionStore store(&base);
    if (k.object_store) store.DisableRename();
    CheckpointManager writer(&store, "run");
    return writer.Commit(20, TrainerFiles(20, 1)).ok();
  });
  EXPECT_EQ(code, 137) << "kill point " << k.point << " was never reached";

  std::optional<int64_t> latest = *clean.LatestValid();
  EXPECT_EQ(*clean.Load(10), AsMap(TrainerFiles(10)));
  if (k.new_valid) {
    EXPECT_EQ(latest, 20);
    EXPECT_EQ(*clean.Load(20), AsMap(TrainerFiles(20, 1)));
  } else if (k.recommit && !k.object_store) {
    EXPECT_EQ(latest, 20);  // the old version survives a replacement killed before its rename
    EXPECT_EQ(*clean.Load(20), AsMap(TrainerFiles(20, 0)));
  } else {
    EXPECT_EQ(latest, 10);
    EXPECT_FALSE(clean.Load(20).ok());
  }
  // The next life cleans up and commits again.
  ASSERT_TRUE(clean.DeleteInvalid(21).ok());
  ASSERT_TRUE(clean.Commit(20, TrainerFiles(20, 2)).ok());
  EXPECT_EQ(*clean.Load(20), AsMap(TrainerFiles(20, 2)));
  EXPECT_TRUE(clean.ListLeftovers()->empty());
  EXPECT_EQ(base.List("")->size(), 10u);
}

std::string KillCaseName(const ::testing::TestParamInfo<KillCase>& info) {
  std::string name = info.param.point;
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name + (info.param.object_store ? "_ObjectStore" : "_Filesystem") +
         (info.param.recommit ? "_Recommit" : "_NewStep");
}

INSTANTIATE_TEST_SUITE_P(Ckpt, CheckpointKillTest,
                         ::testing::Values(
                             // point, object_store, recommit, new_valid
                             KillCase{"ckpt.before_file", false, false, false},
                             KillCase{"ckpt.before_file:3", false, false, false},
                             KillCase{"ckpt.after_files", false, false, false},
                             KillCase{"ckpt.before_manifest", false, false, false},
                             KillCase{"ckpt.after_manifest", false, false, false},
                             KillCase{"ckpt.before_rename", false, false, false},
                             KillCase{"ckpt.after_rename", false, false, true},
                             KillCase{"ckpt.before_file:2", false, true, false},
                             KillCase{"ckpt.after_manifest", false, true, false},
                             KillCase{"ckpt.before_rename", false, true, false},
                             KillCase{"ckpt.after_rename", false, true, true},
                             KillCase{"ckpt.before_file", true, false, false},
                             KillCase{"ckpt.before_file:4", true, false, false},
                             KillCase{"ckpt.after_files", true, false, false},
                             KillCase{"ckpt.before_manifest", true, false, false},
                             KillCase{"ckpt.after_manifest", true, false, true},
                             KillCase{"ckpt.before_file:2", true, true, false},
                             KillCase{"ckpt.before_manifest", true, true, false}),
                         KillCaseName);

}  // namespace
}  // namespace baton
