// The run layout: names, and every document's writer and parser (run/layout.h).
#include <gtest/gtest.h>

#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

TEST(RunLayoutTest, FolderNames) {
  EXPECT_EQ(CheckpointDir(0), "checkpoint-0");
  EXPECT_EQ(CheckpointDir(93), "checkpoint-93");
  EXPECT_EQ(ParseCheckpointDir("checkpoint-93"), 93);
  EXPECT_EQ(ParseCheckpointDir("checkpoint-0"), 0);
  for (const char* name : {"checkpoint-", "checkpoint-012", "checkpoint--1", "checkpoint-+1",
                           "checkpoint-12.partial-abc", "checkpoint-1x", "runs", "logging.jsonl",
                           "Checkpoint-1", "checkpoint-1234567890123456789"}) {
    EXPECT_EQ(ParseCheckpointDir(name), std::nullopt) << name;
  }
  EXPECT_EQ(ParseLeftoverDir("checkpoint-12.partial-abc"), 12);
  EXPECT_EQ(ParseLeftoverDir("checkpoint-12.partial-abc.replaced-1-0"), 12);
  for (const char* name : {"checkpoint-12", "checkpoint-12.", "checkpoint-.x", "runs"}) {
    EXPECT_EQ(ParseLeftoverDir(name), std::nullopt) << name;
  }
}

TEST(RunLayoutTest, OnlyBatonsOwnFoldersAreLeftovers) {
  EXPECT_EQ(ParseLeftoverDir(StagingDir(5, "00ff12ab34cd56ef")), 5);
  // A user's copies and backups beside the checkpoints are theirs, never garbage to collect.
  for (const char* name :
       {"checkpoint-5.bak", "checkpoint-5.old", "checkpoint-5.partial-",
        "checkpoint-5.partial-mine", "checkpoint-5.partial-AB", "checkpoint-5.copy.partial-ab",
        "checkpoint-05.partial-ab", "checkpoint-5.partial-ab.replaced-",
        "checkpoint-5.partial-ab.replaced-1", "checkpoint-5.partial-ab.replaced-x-1",
        "checkpoint-5.partial-ab.bak"}) {
    EXPECT_EQ(ParseLeftoverDir(name), std::nullopt) << name;
  }
}

TEST(RunLayoutTest, RunKeysAreExactlyWhatBatonWrites) {
  for (const char* key :
       {"COMPLETE", "lease.json", "logging.jsonl", "checkpoint-5/MANIFEST.json", "checkpoint-5/x/y",
        "checkpoint-5.partial-ab/adapter_model.safetensors", "agents/i-1.json",
        "fleet/stop/i-1.json", "fleet/scale-to-zero.json", "fleet/job.yaml", "fleet/ledger.json",
        "fleet/events.json", "fleet/rebalance/i-1.json", "images/train_loss.png", "report.html"}) {
    EXPECT_TRUE(IsRunKey(key)) << key;
  }
  for (const char* key : {"notes.txt", "checkpoint-5.bak/MANIFEST.json", "checkpoint-5",
                          "runs/events", "agents/i-1.txt", "agents/x/y.json", "fleet/other.json",
                          "fleet/stop/a/b.json", "data/train.jsonl", "COMPLETE.bak", "agents/.json",
                          "images/a/b.png", "images/notes.txt", "report.html.bak"}) {
    EXPECT_FALSE(IsRunKey(key)) << key;
  }
}

TEST(RunLayoutTest, DeleteRunObjectsLeavesWhatIsNotTheRuns) {
  testing::ScopedTempDir tmp;
  FileStore store(Env::Default(), tmp.path());
  for (const char* key : {"COMPLETE", "lease.json", "logging.jsonl", "checkpoint-5/MANIFEST.json",
                          "checkpoint-5/adapter_model.safetensors", "agents/i-1.json",
                          "checkpoint-7.partial-0a/x", "fleet/ledger.json"}) {
    ASSERT_TRUE(store.Put(key, "baton's").ok());
  }
  for (const char* key : {"notes.txt", "checkpoint-5.bak/MANIFEST.json", "data/train.jsonl"}) {
    ASSERT_TRUE(store.Put(key, "the user's").ok());
  }
  Result<size_t> kept = DeleteRunObjects(&store);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept, 3u);
  EXPECT_EQ(*store.List(""), (std::vector<std::string>{"checkpoint-5.bak/MANIFEST.json",
                                                       "data/train.jsonl", "notes.txt"}));
}

TEST(RunLayoutTest, ObjectNames) {
  EXPECT_EQ(HeartbeatKey("i-1"), "agents/i-1.json");
  EXPECT_EQ(StopRequestKey("i-1"), "fleet/stop/i-1.json");
  EXPECT_EQ(ParseCheckpointPath("s3://bkt/run/checkpoint-12"), 12);
  EXPECT_EQ(ParseCheckpointPath("/tmp/run/checkpoint-12/"), 12);
  EXPECT_EQ(ParseCheckpointPath("checkpoint-3"), 3);
  EXPECT_EQ(ParseCheckpointPath(""), std::nullopt);
  EXPECT_EQ(ParseCheckpointPath("/tmp/run"), std::nullopt);
  EXPECT_TRUE(ValidateInstanceId("i-0abc:spot").ok());
  for (std::string_view bad : {"", ".", "..", "a/b", "a\\b", "a\nb"}) {
    EXPECT_EQ(ValidateInstanceId(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  // The checkpoint's adapter files are PEFT's names, so PEFT loads a checkpoint folder as is.
  EXPECT_STREQ(kAdapterWeightsFile, "adapter_model.safetensors");
  EXPECT_STREQ(kAdapterConfigFile, "adapter_config.json");
}

TEST(RunLayoutTest, CompleteMarkerRoundTripAndEmptyMarker) {
  CompleteMarker m;
  m.global_step = 93;
  m.last_model_checkpoint = "checkpoint-93";
  auto back = CompleteMarker::Parse(m.Serialize(), "COMPLETE");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->global_step, 93);
  EXPECT_EQ(back->last_model_checkpoint, "checkpoint-93");
  EXPECT_EQ(back->best_model_checkpoint, std::nullopt);
  EXPECT_FALSE(back->external);

  CompleteMarker ext;
  ext.external = true;
  back = CompleteMarker::Parse(ext.Serialize(), "COMPLETE");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->external);
  EXPECT_EQ(back->global_step, std::nullopt);

  // `touch COMPLETE` is a marker too.
  back = CompleteMarker::Parse("", "COMPLETE");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->global_step, std::nullopt);
}

TEST(RunLayoutTest, DocumentsCheckFormatAndVersion) {
  // Another document's format, a missing or zero version, a wrong type: errors naming the source.
  Heartbeat h;
  h.instance = "i-1";
  std::string text = h.Serialize();
  EXPECT_EQ(CompleteMarker::Parse(text, "x/COMPLETE").status().code(), StatusCode::kCorruption);
  EXPECT_NE(CompleteMarker::Parse(text, "x/COMPLETE").status().message().find("x/COMPLETE"),
            std::string::npos);
  Json j = Json::parse(text);
  j.erase("version");
  EXPECT_FALSE(Heartbeat::Parse(j.dump(), "hb").ok());
  j["version"] = 0;
  EXPECT_FALSE(Heartbeat::Parse(j.dump(), "hb").ok());
  // A newer version (fields only appended) is read, its unknown fields ignored.
  j["version"] = 7;
  j["something_new"] = {1, 2};
  EXPECT_TRUE(Heartbeat::Parse(j.dump(), "hb").ok());
  j["global_step"] = "12";
  Result<Heartbeat> bad = Heartbeat::Parse(j.dump(), "hb");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("global_step"), std::string::npos);
  j["global_step"] = 12;
  j["state"] = "dancing";
  EXPECT_EQ(Heartbeat::Parse(j.dump(), "hb").status().code(), StatusCode::kCorruption);
  EXPECT_FALSE(Heartbeat::Parse("{\"format\": \"baton-heartbeat\", \"ver", "hb").ok());
}

TEST(RunLayoutTest, HeartbeatRoundTrip) {
  Heartbeat h;
  h.run = "demo";
  h.instance = "i-7";
  h.billing = "spot";
  h.state = AgentState::kStandby;
  h.pid = 4242;
  h.started_unix_ms = 1700000000000;
  h.updated_unix_ms = 1700000001234;
  h.global_step = 5;
  h.max_steps = 20;
  h.resumed_step = 4;
  h.tokens_per_second = 812.5;
  h.last_checkpoint = "s3://bkt/run/checkpoint-4";
  h.stop_to_checkpoint_seconds = 1.25;
  auto back = Heartbeat::Parse(h.Serialize(), "hb");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->run, "demo");
  EXPECT_EQ(back->instance, "i-7");
  EXPECT_EQ(back->billing, "spot");
  EXPECT_EQ(back->state, AgentState::kStandby);
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->started_unix_ms, 1700000000000);
  EXPECT_EQ(back->updated_unix_ms, 1700000001234);
  EXPECT_EQ(back->global_step, 5);
  EXPECT_EQ(back->max_steps, 20);
  EXPECT_EQ(back->resumed_step, 4);
  EXPECT_EQ(back->tokens_per_second, 812.5);
  EXPECT_EQ(back->last_checkpoint, "s3://bkt/run/checkpoint-4");
  EXPECT_EQ(back->stop_to_checkpoint_seconds, 1.25);
  EXPECT_EQ(back->cold_start, std::nullopt);  // an older agent's heartbeat has none

  h.cold_start = ColdStart{61.25, 40.5, 1.0, 9.0, 3.25, 0.5};
  back = Heartbeat::Parse(h.Serialize(), "hb");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(back->cold_start);
  EXPECT_EQ(back->cold_start->total, 61.25);
  EXPECT_EQ(back->cold_start->download, 40.5);
  EXPECT_EQ(back->cold_start->digest, 1.0);
  EXPECT_EQ(back->cold_start->load, 9.0);
  EXPECT_EQ(back->cold_start->data, 3.25);
  EXPECT_EQ(back->cold_start->resume, 0.5);
  EXPECT_EQ(back->cold_start->Describe(),
            "cold start 61.2 s to the first step: download 40.5 s, digest 1.0 s, load 9.0 s, "
            "data 3.2 s, resume 0.5 s, other 7.0 s");
  Json doc = Json::parse(h.Serialize());
  doc["cold_start"]["load_seconds"] = -1;
  Result<Heartbeat> bad = Heartbeat::Parse(doc.dump(), "hb");
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("hb: cold_start: load_seconds is negative"),
            std::string::npos)
      << bad.status().message();
  doc["cold_start"] = "fast";
  EXPECT_EQ(Heartbeat::Parse(doc.dump(), "hb").status().code(), StatusCode::kCorruption);

  Heartbeat bare;
  bare.instance = "i-8";
  back = Heartbeat::Parse(bare.Serialize(), "hb");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->global_step, std::nullopt);
  EXPECT_EQ(back->resumed_step, std::nullopt);
  EXPECT_EQ(back->stop_to_checkpoint_seconds, std::nullopt);
  for (AgentState s :
       {AgentState::kLoading, AgentState::kStandby, AgentState::kTraining, AgentState::kStopped,
        AgentState::kFenced, AgentState::kFailed, AgentState::kComplete}) {
    EXPECT_EQ(*ParseAgentState(AgentStateName(s)), s);
  }
  EXPECT_FALSE(IsFinalAgentState(AgentState::kTraining));
  EXPECT_FALSE(IsFinalAgentState(AgentState::kStandby));
  EXPECT_TRUE(IsFinalAgentState(AgentState::kStopped));
  EXPECT_TRUE(IsFinalAgentState(AgentState::kComplete));
}

// A store whose every call fails as an unreachable bucket would.
class UnreachableStore : public Store {
 public:
  std::string Url() const override { return "s3://gone/run"; }
  Status Put(const std::string&, std::string_view) override { return Fail(); }
  Result<std::string> Get(const std::string&) override { return Fail(); }
  Result<std::string> GetRange(const std::string&, uint64_t, uint64_t) override { return Fail(); }
  Result<uint64_t> Head(const std::string&) override { return Fail(); }
  Result<std::vector<std::string>> List(const std::string&) override { return Fail(); }
  Status Delete(const std::string&) override { return Fail(); }
  Status DeletePrefix(const std::string&) override { return Fail(); }

 private:
  static Status Fail() { return Unavailable("connect to gone: connection refused"); }
};

TEST(RunLayoutTest, StoreDocumentsThroughAStore) {
  testing::ScopedTempDir tmp;
  FileStore store(Env::Default(), tmp.path());
  EXPECT_FALSE(*IsComplete(&store));
  EXPECT_EQ(*ReadCompleteMarker(&store), std::nullopt);
  CompleteMarker m;
  m.global_step = 3;
  ASSERT_TRUE(WriteCompleteMarker(&store, m).ok());
  EXPECT_TRUE(*IsComplete(&store));
  EXPECT_EQ((*ReadCompleteMarker(&store))->global_step, 3);
  EXPECT_TRUE(Env::Default()->FileExists(tmp.Sub("COMPLETE")));

  Heartbeat h;
  h.instance = "i-1";
  h.state = AgentState::kTraining;
  EXPECT_EQ(*ReadHeartbeat(&store, "i-1"), std::nullopt);
  ASSERT_TRUE(WriteHeartbeat(&store, h).ok());
  EXPECT_TRUE(Env::Default()->FileExists(tmp.Sub("agents/i-1.json")));
  EXPECT_EQ((*ReadHeartbeat(&store, "i-1"))->state, AgentState::kTraining);
  // A torn document is Corruption (readers skip it and read again), never a default heartbeat.
  ASSERT_TRUE(store.Put(HeartbeatKey("i-2"), "{\"format\": \"baton-hea").ok());
  EXPECT_EQ(ReadHeartbeat(&store, "i-2").status().code(), StatusCode::kCorruption);
  // Instance ids are checked where they become keys.
  h.instance = "../escape";
  EXPECT_EQ(WriteHeartbeat(&store, h).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadHeartbeat(&store, "a/b").status().code(), StatusCode::kInvalidArgument);

  EXPECT_FALSE(*ScaleToZeroRequested(&store));
  ScaleToZeroRequest z;
  z.instance = "i-1";
  z.unix_ms = 5;
  ASSERT_TRUE(WriteScaleToZeroRequest(&store, z).ok());
  EXPECT_TRUE(*ScaleToZeroRequested(&store));
  auto zback = ScaleToZeroRequest::Parse(*store.Get(kScaleToZeroKey), "z");
  ASSERT_TRUE(zback.ok());
  EXPECT_EQ(zback->instance, "i-1");
  EXPECT_EQ(zback->reason, "complete");

  EXPECT_EQ(*ReadStopRequest(&store, "i-1"), std::nullopt);
  StopRequest stop{"i-1", "switch to spot", 9};
  ASSERT_TRUE(WriteStopRequest(&store, stop).ok());
  auto sback = ReadStopRequest(&store, "i-1");
  ASSERT_TRUE(sback.ok() && *sback);
  EXPECT_EQ((*sback)->reason, "switch to spot");
  EXPECT_EQ((*sback)->unix_ms, 9);
  EXPECT_EQ(*ReadStopRequest(&store, "i-2"), std::nullopt);
  // A request filed under one instance but naming another is not obeyed.
  ASSERT_TRUE(store.Put(StopRequestKey("i-3"), stop.Serialize()).ok());
  EXPECT_EQ(ReadStopRequest(&store, "i-3").status().code(), StatusCode::kCorruption);
  ASSERT_TRUE(DeleteStopRequest(&store, "i-1").ok());
  EXPECT_EQ(*ReadStopRequest(&store, "i-1"), std::nullopt);
  EXPECT_TRUE(DeleteStopRequest(&store, "i-1").ok());  // already gone: fine
}

TEST(RunLayoutTest, FleetLedgerRoundTripAndChecks) {
  testing::ScopedTempDir tmp;
  FileStore store(Env::Default(), tmp.path());
  EXPECT_EQ(*ReadFleetLedger(&store), std::nullopt);
  FleetLedger l;
  l.run = "r1";
  l.provider = "aliyun";
  l.region = "cn-hangzhou";
  l.started_unix_ms = 1000;
  LedgerInstance a;
  a.id = "i-a";
  a.offer = "t@z/spot";
  a.launched_unix_ms = 2000;
  a.ended_unix_ms = 9000;
  a.end_reason = "preempted";
  a.notice_unix_ms = 5000;
  a.delete_unix_ms = 8500;
  LedgerInstance b;
  b.id = "i-b";
  b.offer = "t@z/on-demand";
  b.handoff = true;
  b.launched_unix_ms = 6000;
  l.instances = {a, b};
  l.SetResource("scaling_group_id", "asg-1");
  l.SetResource("scaling_group_id", "asg-2");  // replaces
  l.SetResource("gone", "x");
  l.SetResource("gone", "");  // removes
  ASSERT_TRUE(WriteFleetLedger(&store, l).ok());
  EXPECT_TRUE(Env::Default()->FileExists(tmp.Sub("fleet/ledger.json")));
  Result<std::optional<FleetLedger>> back = ReadFleetLedger(&store);
  ASSERT_TRUE(back.ok() && *back) << back.status().ToString();
  EXPECT_EQ((*back)->Serialize(), l.Serialize());
  EXPECT_EQ((*back)->Resource("scaling_group_id"), "asg-2");
  EXPECT_EQ((*back)->Resource("gone"), "");
  ASSERT_EQ((*back)->instances.size(), 2u);
  EXPECT_TRUE((*back)->instances[1].handoff);
  EXPECT_EQ((*back)->instances[0].end_reason, "preempted");
  EXPECT_EQ((*back)->instances[0].delete_unix_ms, 8500);
  // A ledger from before delete_unix_ms was appended reads as never deleted.
  Json old = Json::parse(l.Serialize());
  old["instances"][0].erase("delete_unix_ms");
  Result<FleetLedger> older = FleetLedger::Parse(old.dump(), "old");
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  EXPECT_EQ(older->instances[0].delete_unix_ms, 0);
  // An instance id that would escape its key, a wrong format, a torn document: Corruption.
  std::string bad = l.Serialize();
  bad.replace(bad.find("\"i-a\""), 5, "\"../x\"");
  EXPECT_EQ(FleetLedger::Parse(bad, "l").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(FleetLedger::Parse(StopRequest{"i", "r", 1}.Serialize(), "l").status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(FleetLedger::Parse("{\"format\": \"baton-fleet", "l").status().code(),
            StatusCode::kCorruption);
}

TEST(RunLayoutTest, StoreErrorsAreNeverReadAsAbsent) {
  UnreachableStore store;
  Result<bool> complete = IsComplete(&store);
  ASSERT_FALSE(complete.ok());
  EXPECT_EQ(complete.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(complete.status().message().find("s3://gone/run/COMPLETE"), std::string::npos)
      << complete.status().ToString();
  EXPECT_FALSE(ReadCompleteMarker(&store).ok());
  EXPECT_FALSE(ReadHeartbeat(&store, "i-1").ok());
  EXPECT_FALSE(ScaleToZeroRequested(&store).ok());
  EXPECT_FALSE(ReadStopRequest(&store, "i-1").ok());
}

}  // namespace
}  // namespace baton
