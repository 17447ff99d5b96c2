#include "ckpt/checkpoint_manager.h"

#include <gtest/gtest.h>

#include <limits>

#include "base/json.h"
#include "ckpt_test_util.h"
#include "fault_injection_store.h"
#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

using ckpt_testing::AsMap;
using ckpt_testing::Files;
using ckpt_testing::TrainerFiles;
Env* env = Env::Default();

// kFilesystem commits through a staging folder and a rename; kObjectStore hides the rename, as
// S3 will, so only the manifest-last rule protects the checkpoint.
enum class Mode { kFilesystem, kObjectStore };

class CheckpointManagerTest : public ::testing::TestWithParam<Mode> {
 public:  // public so that the lambdas of the damage table can reach the helpers
  void SetUp() override {
    if (GetParam() == Mode::kObjectStore) store_.DisableRename();
  }
  std::string PathOf(int64_t step, const std::string& name) {
    return dir_.path() + "/run1/" + CheckpointDir(step) + "/" + name;
  }
  void Write(const std::string& rel, std::string_view data) {
    ASSERT_TRUE(base_.Put("run1/" + rel, data).ok());
  }
  std::vector<int64_t> Steps(CheckpointState state) {
    std::vector<int64_t> steps;
    std::vector<CheckpointInfo> infos = *mgr_.List(Verify::kDigests);
    for (const CheckpointInfo& info : infos) {
      if (info.state == state) steps.push_back(info.step);
    }
    return steps;
  }
  std::vector<std::string> Keys() { return *base_.List(""); }
  void ExpectInvalid(int64_t step, Verify level, const std::string& reason_part) {
    Result<CheckpointInfo> info = mgr_.Check(step, level);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, CheckpointState::kInvalid);
    EXPECT_NE(info->reason.find(reason_part), std::string::npos) << info->reason;
  }

  testing::ScopedTempDir dir_;
  FileStore base_{env, dir_.path()};
  FaultInjectionStore store_{&base_};
  CheckpointManager mgr_{&store_, "run1"};
};

INSTANTIATE_TEST_SUITE_P(Ckpt, CheckpointManagerTest,
                         ::testing::Values(Mode::kFilesystem, Mode::kObjectStore),
                         [](const auto& info) {
                           return info.param == Mode::kFilesystem ? "Filesystem" : "ObjectStore";
                         });

TEST_P(CheckpointManagerTest, CommitListLoadRoundTrip) {
  ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
  Result<std::vector<CheckpointInfo>> infos = mgr_.List(Verify::kDigests);
  ASSERT_TRUE(infos.ok()) << infos.status().ToString();
  ASSERT_EQ(infos->size(), 2u);
  const CheckpointInfo& c = (*infos)[1];
  EXPECT_EQ(c.step, 20);
  EXPECT_EQ(c.prefix, "run1/checkpoint-20/");
  EXPECT_EQ(c.state, CheckpointState::kValid);
  EXPECT_EQ(c.reason, "");
  EXPECT_EQ(c.num_files, 5);  // four files and the manifest
  uint64_t payload = 0;
  for (const auto& [name, data] : TrainerFiles(20)) payload += data.size();
  EXPECT_EQ(c.total_bytes, payload + *base_.Head("run1/checkpoint-20/MANIFEST.json"));
  EXPECT_EQ(*mgr_.LatestValid(), 20);
  Result<std::map<std::string, std::string>> loaded = mgr_.Load(10);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(*loaded, AsMap(TrainerFiles(10)));
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  // Exactly the files and the manifest; no staging folder remains.
  EXPECT_EQ(Keys().size(), 10u);

  Result<Json> manifest = ReadJsonFile(env, PathOf(20, "MANIFEST.json"));
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ((*manifest)["format"], "baton-checkpoint");
  EXPECT_EQ((*manifest)["version"], 1);
  EXPECT_EQ((*manifest)["step"], 20);
  EXPECT_EQ((*manifest)["files"]["trainer_state.json"]["size"], TrainerFiles(20)[3].second.size());
  EXPECT_GT((*manifest)["created_unix_ms"].get<int64_t>(), 1600000000000);
}

TEST_P(CheckpointManagerTest, EmptyRunAndMissingStep) {
  EXPECT_TRUE(mgr_.List()->empty());
  EXPECT_EQ(*mgr_.LatestValid(), std::nullopt);
  EXPECT_EQ(mgr_.Load(5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(mgr_.Check(5).status().code(), StatusCode::kNotFound);
}

TEST_P(CheckpointManagerTest, RejectsBadCommits) {
  EXPECT_EQ(mgr_.Commit(-1, TrainerFiles(1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Commit(1, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Commit(1, {{"a", "1"}, {"a", "2"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Commit(1, {{"MANIFEST.json", "1"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Commit(1, {{"../escape", "1"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Keys().empty());
}

TEST_P(CheckpointManagerTest, IgnoresNamesThatAreNotCheckpoints) {
  Write("logging.jsonl", "{}\n");
  Write("runs/events.out", "x");
  Write("checkpoint-012/MANIFEST.json", "x");
  Write("checkpoint-abc/x", "x");
  Write("checkpoint-8", "a file, not a folder");
  Write("lease.json", "{}");
  ASSERT_TRUE(mgr_.Commit(7, TrainerFiles(7)).ok());
  Result<std::vector<CheckpointInfo>> infos = mgr_.List();
  ASSERT_EQ(infos->size(), 1u);
  EXPECT_EQ((*infos)[0].step, 7);
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  // A manager for the whole store sees the run's checkpoints under "run1/" only through its
  // own prefix.
  CheckpointManager root(&store_, "");
  EXPECT_TRUE(root.List()->empty());
}

// Every way a checkpoint can be damaged is detected, and LatestValid falls back to the previous.
TEST_P(CheckpointManagerTest, DamageIsDetectedAndSkipped) {
  struct Damage {
    const char* name;
    std::function<void(CheckpointManagerTest*)> apply;
    CheckpointState state;  // with digests checked
    bool valid_by_sizes;    // what List(kSizes) says
    const char* reason_part;
  };
  const std::string adapter = "adapter_model.safetensors";
  std::vector<Damage> damages = {
      {"missing manifest",
       [](auto* t) { ASSERT_TRUE(env->DeleteFile(t->PathOf(20, "MANIFEST.json")).ok()); },
       CheckpointState::kIncomplete, false, "no MANIFEST.json"},
      {"truncated file",
       [](auto* t) {
         std::string p = t->PathOf(20, "optimizer.safetensors");
         ASSERT_TRUE(env->WriteFileAtomic(p, env->ReadFile(p)->substr(0, 100)).ok());
       },
       CheckpointState::kInvalid, false, "optimizer.safetensors: 100 bytes, manifest says 8192"},
      {"flipped byte",
       [&](auto* t) {
         std::string p = t->PathOf(20, adapter);
         std::string data = *env->ReadFile(p);
         data[1234] ^= 0x01;
         ASSERT_TRUE(env->WriteFileAtomic(p, data).ok());
       },
       CheckpointState::kInvalid, true, "adapter_model.safetensors: xxh3_64"},
      {"missing file",
       [](auto* t) { ASSERT_TRUE(env->DeleteFile(t->PathOf(20, "trainer_state.json")).ok()); },
       CheckpointState::kInvalid, false, "trainer_state.json: missing"},
      {"manifest of another step",
       [](auto* t) {
         ASSERT_TRUE(
             env->CopyFile(t->PathOf(10, "MANIFEST.json"), t->PathOf(20, "MANIFEST.json")).ok());
       },
       CheckpointState::kInvalid, false, "names step 10"},
      {"garbage manifest",
       [](auto* t) {
         ASSERT_TRUE(env->WriteFileAtomic(t->PathOf(20, "MANIFEST.json"), "{\"form").ok());
       },
       CheckpointState::kInvalid, false, "MANIFEST.json"},
      {"empty manifest",
       [](auto* t) { ASSERT_TRUE(env->WriteFileAtomic(t->PathOf(20, "MANIFEST.json"), "").ok()); },
       CheckpointState::kInvalid, false, "MANIFEST.json"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    ASSERT_TRUE(base_.DeletePrefix("run1/").ok());
    ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
    ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
    d.apply(this);
    Result<CheckpointInfo> info = mgr_.Check(20, Verify::kDigests);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, d.state);
    EXPECT_NE(info->reason.find(d.reason_part), std::string::npos) << info->reason;
    EXPECT_EQ(mgr_.Check(20, Verify::kSizes)->state == CheckpointState::kValid, d.valid_by_sizes);
    EXPECT_EQ(*mgr_.LatestValid(), 10);
    EXPECT_FALSE(mgr_.Load(20).ok());
    EXPECT_EQ(*mgr_.Load(10), AsMap(TrainerFiles(10)));
  }
}

TEST_P(CheckpointManagerTest, UnknownManifestFieldsAreFine) {
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
  Json m = *ReadJsonFile(env, PathOf(20, "MANIFEST.json"));
  m["lease_epoch"] = 4;
  m["files"]["adapter_config.json"]["sha256"] = "abc";
  ASSERT_TRUE(env->WriteFileAtomic(PathOf(20, "MANIFEST.json"), m.dump()).ok());
  EXPECT_EQ(mgr_.Check(20)->state, CheckpointState::kValid);
  EXPECT_EQ(*mgr_.LatestValid(), 20);
  EXPECT_EQ(*mgr_.Load(20), AsMap(TrainerFiles(20)));
}

TEST_P(CheckpointManagerTest, NewerManifestVersionsAndUnlistedFilesAreInvalid) {
  ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
  Json m = *ReadJsonFile(env, PathOf(20, "MANIFEST.json"));
  m["version"] = 2;
  ASSERT_TRUE(env->WriteFileAtomic(PathOf(20, "MANIFEST.json"), m.dump()).ok());
  ExpectInvalid(20, Verify::kSizes, "manifest version 2 is newer than this baton understands (1)");
  EXPECT_EQ(*mgr_.LatestValid(), 10);
  EXPECT_FALSE(mgr_.Load(20).ok());

  // A file the manifest does not list: the folder and its manifest disagree.
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
  Write("checkpoint-20/README.md", "not in the manifest");
  for (Verify level : {Verify::kSizes, Verify::kDigests}) {
    ExpectInvalid(20, level, "README.md: in the folder but not listed in MANIFEST.json");
  }
  EXPECT_EQ(*mgr_.LatestValid(), 10);
}

TEST_P(CheckpointManagerTest, ContentCheckMakesCheckpointsInvalidWithItsReason) {
  for (int64_t step = 10; step <= 40; step += 10) {
    ASSERT_TRUE(mgr_.Commit(step, TrainerFiles(step)).ok());
  }
  std::vector<int64_t> checked;
  mgr_.SetContentCheck([&](int64_t step, const std::map<std::string, std::string>& files) {
    checked.push_back(step);
    EXPECT_EQ(files, AsMap(TrainerFiles(step)));  // every file, the manifest excluded
    if (step >= 30) return Corruption("checkpoint-{}/trainer_state.json: says so", step);
    return Status::Ok();
  });
  std::vector<CheckpointInfo> skipped;
  Result<std::optional<int64_t>> latest = mgr_.LatestValid(&skipped);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, 20);
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0].step, 40);  // newest first
  EXPECT_EQ(skipped[0].state, CheckpointState::kInvalid);
  EXPECT_EQ(skipped[0].reason, "checkpoint-40/trainer_state.json: says so");
  EXPECT_EQ(skipped[1].step, 30);
  EXPECT_EQ(checked, (std::vector<int64_t>{40, 30, 20}));
  // Sizes only: nothing is read, so the check does not run.
  checked.clear();
  EXPECT_EQ(mgr_.Check(40, Verify::kSizes)->state, CheckpointState::kValid);
  EXPECT_TRUE(checked.empty());
  EXPECT_EQ(mgr_.Check(40, Verify::kDigests)->state, CheckpointState::kInvalid);
  // Retention never takes a checkpoint the check refuses for the newest valid one.
  ASSERT_TRUE(mgr_.Retain(1, std::nullopt).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{20}));
  EXPECT_EQ(Steps(CheckpointState::kInvalid), (std::vector<int64_t>{30, 40}));
}

TEST_P(CheckpointManagerTest, RecommitReplacesTheStep) {
  Files v0 = TrainerFiles(20, 0);
  v0.emplace_back("stale_extra.bin", "only in the first version");
  ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
  ASSERT_TRUE(mgr_.Commit(20, v0).ok());
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20, 1)).ok());
  EXPECT_EQ(*mgr_.Load(20), AsMap(TrainerFiles(20, 1)));
  EXPECT_EQ(mgr_.Check(20)->num_files, 5);  // the stale file went with the old version
  EXPECT_EQ(*mgr_.LatestValid(), 20);
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  EXPECT_EQ(Keys().size(), 10u);
  // Replacing a damaged checkpoint repairs it.
  ASSERT_TRUE(env->DeleteFile(PathOf(20, "trainer_state.json")).ok());
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20, 2)).ok());
  EXPECT_EQ(*mgr_.Load(20), AsMap(TrainerFiles(20, 2)));
}

TEST_P(CheckpointManagerTest, RetainKeepsTheNewestAndTheBest) {
  auto commit_all = [&] {
    ASSERT_TRUE(base_.DeletePrefix("run1/").ok());
    for (int64_t step = 10; step <= 60; step += 10)
      ASSERT_TRUE(mgr_.Commit(step, TrainerFiles(step)).ok());
  };
  commit_all();
  ASSERT_TRUE(mgr_.Retain(0, std::nullopt).ok());  // keep all
  EXPECT_EQ(Steps(CheckpointState::kValid).size(), 6u);
  ASSERT_TRUE(mgr_.Retain(2, std::nullopt).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{50, 60}));

  commit_all();
  ASSERT_TRUE(mgr_.Retain(2, 20).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{20, 60}));
  ASSERT_TRUE(mgr_.Retain(1, 20).ok());  // best and newest: one over the limit
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{20, 60}));
  ASSERT_TRUE(mgr_.Retain(1, 60).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{60}));
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  EXPECT_EQ(Keys().size(), 5u);  // deleted folders left nothing behind

  // Invalid and incomplete checkpoints are not counted and not touched; a newest checkpoint
  // whose digests fail does not count as the newest valid one.
  commit_all();
  Write("checkpoint-70/adapter_model.safetensors", "half");  // incomplete
  std::string p = PathOf(60, "optimizer.safetensors");
  std::string data = *env->ReadFile(p);
  data[0] ^= 1;
  ASSERT_TRUE(env->WriteFileAtomic(p, data).ok());  // 60: valid by sizes, not by digests
  ASSERT_TRUE(mgr_.Retain(1, std::nullopt).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{50}));
  EXPECT_EQ(Steps(CheckpointState::kInvalid), (std::vector<int64_t>{60}));
  EXPECT_EQ(Steps(CheckpointState::kIncomplete), (std::vector<int64_t>{70}));

  // With nothing known good, nothing is deleted.
  ASSERT_TRUE(base_.DeletePrefix("run1/").ok());
  ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
  ASSERT_TRUE(env->DeleteFile(PathOf(10, "adapter_config.json")).ok());
  Write("checkpoint-20/x", "x");
  ASSERT_TRUE(mgr_.Retain(1, std::nullopt).ok());
  EXPECT_EQ(mgr_.List()->size(), 2u);
}

TEST_P(CheckpointManagerTest, FoldersBatonDidNotNameAreNeverDeleted) {
  for (int64_t step : {10, 20, 30}) ASSERT_TRUE(mgr_.Commit(step, TrainerFiles(step)).ok());
  // The user's own copies beside the run's checkpoints.
  const std::vector<std::string> mine = {
      "checkpoint-5.bak/adapter_model.safetensors", "checkpoint-10.old/MANIFEST.json",
      "checkpoint-15.partial-mine/x", "checkpoint-15.copy/x", "checkpoint-005/x"};
  for (const std::string& rel : mine) Write(rel, "the user's");
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  Result<std::vector<std::string>> doomed =
      mgr_.DeleteInvalid(std::numeric_limits<int64_t>::max(), Verify::kDigests);
  ASSERT_TRUE(doomed.ok()) << doomed.status().ToString();
  EXPECT_TRUE(doomed->empty()) << (*doomed)[0];
  ASSERT_TRUE(mgr_.Retain(1, std::nullopt).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{30}));
  for (const std::string& rel : mine) EXPECT_TRUE(base_.Head("run1/" + rel).ok()) << rel;
}

TEST_P(CheckpointManagerTest, DeleteInvalidSparesValidOnesAndCommitsInFlight) {
  ASSERT_TRUE(mgr_.Commit(10, TrainerFiles(10)).ok());
  ASSERT_TRUE(mgr_.Commit(20, TrainerFiles(20)).ok());
  ASSERT_TRUE(mgr_.Commit(30, TrainerFiles(30)).ok());
  ASSERT_TRUE(env->WriteFileAtomic(PathOf(20, "MANIFEST.json"), "garbage").ok());  // invalid
  Write("checkpoint-25.partial-0123/adapter_model.safetensors", "left by a kill");
  Write("checkpoint-40/adapter_model.safetensors", "being written");  // incomplete
  Write("checkpoint-45/MANIFEST.json", "{}");                         // invalid, newer
  Write("checkpoint-50.partial-4567/optimizer.safetensors", "being written");
  Write("logging.jsonl", "{}");
  Write("runs/events", "x");

  Result<std::vector<std::string>> doomed =
      mgr_.DeleteInvalid(35, Verify::kSizes, /*dry_run=*/true);
  ASSERT_TRUE(doomed.ok()) << doomed.status().ToString();
  EXPECT_EQ(*doomed,
            (std::vector<std::string>{"run1/checkpoint-20/", "run1/checkpoint-25.partial-0123/"}));
  EXPECT_EQ(mgr_.List()->size(), 5u);  // dry run deleted nothing
  EXPECT_EQ(mgr_.ListLeftovers()->size(), 2u);

  ASSERT_TRUE(mgr_.DeleteInvalid(35).ok());
  std::vector<int64_t> steps;
  std::vector<CheckpointInfo> infos = *mgr_.List();
  for (const CheckpointInfo& info : infos) steps.push_back(info.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 30, 40, 45}));
  ASSERT_EQ(mgr_.ListLeftovers()->size(), 1u);
  EXPECT_EQ((*mgr_.ListLeftovers())[0].step, 50);

  ASSERT_TRUE(mgr_.DeleteInvalid(std::numeric_limits<int64_t>::max()).ok());
  EXPECT_EQ(Steps(CheckpointState::kValid), (std::vector<int64_t>{10, 30}));
  EXPECT_EQ(mgr_.List()->size(), 2u);
  EXPECT_TRUE(mgr_.ListLeftovers()->empty());
  EXPECT_TRUE(base_.Head("run1/logging.jsonl").ok());
  EXPECT_TRUE(base_.Head("run1/runs/events").ok());

  // Digest-level damage is only found with Verify::kDigests.
  std::string p = PathOf(30, "adapter_model.safetensors");
  std::string data = *env->ReadFile(p);
  data[7] ^= 1;
  ASSERT_TRUE(env->WriteFileAtomic(p, data).ok());
  EXPECT_TRUE(mgr_.DeleteInvalid(100, Verify::kSizes)->empty());
  EXPECT_EQ(*mgr_.DeleteInvalid(100, Verify::kDigests),
            (std::vector<std::string>{"run1/checkpoint-30/"}));
  EXPECT_EQ(*mgr_.LatestValid(), 10);
}

}  // namespace
}  // namespace baton
