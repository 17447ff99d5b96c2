// The instance agent, in process: a preemption notice from the (fake) metadata service during
// training ends in a checkpoint and exit; the next agent resumes and completes with the adapter
// of an uninterrupted run; heartbeats reach the store; the completion webhook is posted.
#include "agent/agent.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/webhooks.h"
#include "cloud/fake_metadata_server.h"
#include "fake_s3_server.h"
#include "run/layout.h"
#include "s3_test_server.h"
#include "store/file_store.h"
#include "store/store.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton {
namespace {

Env* env = Env::Default();

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(testing::WriteTinyModel(tmp_.Sub("model"))); }

  JobSpec Job(const std::string& out, const std::string& extra, std::string model = "") {
    if (model.empty()) model = tmp_.Sub("model");
    std::string yaml = fmt::format(
        "model: {}\ndatasets: [{}/examples/data/self_cognition.jsonl#8]\nstore: {}\n"
        "train:\n  template: chatml\n  max_steps: 6\n  save_steps: 2\n  logging_steps: 1\n"
        "  max_length: 96\n  gradient_accumulation_steps: 2\n  learning_rate: 1e-3\n"
        "  model_name: [小巴, Baton]\n  model_author: [巴顿团队, Baton Team]\n{}",
        model, BATON_SOURCE_DIR, out, extra);
    auto spec = ParseJobSpec(yaml, "job.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    return *spec;
  }

  testing::ScopedTempDir tmp_;
};

TEST_F(AgentTest, NoticeCheckpointsThenTheNextAgentCompletesExactly) {
  // The notice must be seen before the last steps are trained: at the default 1 s between polls
  // a fast machine finishes the run first.
  testing::ScopedEnv vars;
  vars.Set(EnvVar::kNoticePollMs, "20");
  auto meta = FakeMetadataServer::Start();
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  std::string body;
  testing::FakeHttpServer hook([&](const std::string&, const std::string&, const std::string& req) {
    body = req.substr(req.find("\r\n\r\n") + 4);
    return std::make_pair(200, std::string("ok"));
  });
  std::string out = tmp_.Sub("run");
  JobSpec job = Job(out, fmt::format("agent:\n  cloud: aws\n  metadata_url: {}\n"
                                     "  heartbeat_seconds: 0.2\nhooks:\n  webhooks:\n"
                                     "    - {{url: {}/hook, format: slack}}\n",
                                     (*meta)->url(), hook.endpoint()));
  AgentOptions o;
  o.instance_id = "i-test";
  o.billing = "spot";
  std::vector<std::string> lines;
  std::mutex mu;
  o.print = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(s);
  };
  // The notice arrives once the first checkpoint is on disk, mid-run.
  std::thread notifier([&] {
    for (int i = 0; i < 600 && !env->FileExists(out + "/checkpoint-2/MANIFEST.json"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto now = std::chrono::system_clock::now().time_since_epoch();
    (*meta)->ScheduleNotice(
        Cloud::kAws, NoticeKind::kTermination,
        std::chrono::duration_cast<std::chrono::milliseconds>(now).count() + 120000);
  });
  auto first = RunAgent(job, o);
  notifier.join();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, AgentOutcome::kStopped);
  bool measured = false;
  for (const std::string& l : lines) measured |= l.find("s after the notice") != std::string::npos;
  EXPECT_TRUE(measured) << "the agent must report how long the checkpoint took";
  auto beat = env->ReadFile(out + "/agents/i-test.json");
  ASSERT_TRUE(beat.ok());
  Json hb = Json::parse(*beat);
  EXPECT_EQ(hb["state"], "stopped");
  EXPECT_EQ(hb["billing"], "spot");
  EXPECT_GE(hb["global_step"].get<int64_t>(), 2);
  EXPECT_TRUE(body.empty()) << "no webhook before the run completes";

  (*meta)->Clear();
  auto second = RunAgent(job, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, AgentOutcome::kCompleted);
  hb = Json::parse(*env->ReadFile(out + "/agents/i-test.json"));
  EXPECT_EQ(hb["state"], "complete");
  EXPECT_EQ(hb["global_step"], 6);
  EXPECT_EQ(hb["max_steps"], 6);
  EXPECT_NE(body.find("\"text\""), std::string::npos) << body;
  EXPECT_NE(body.find("complete"), std::string::npos) << body;
  EXPECT_EQ(*RunAgent(job, o), AgentOutcome::kAlreadyComplete);

  // The same job never interrupted.
  JobSpec ref = Job(tmp_.Sub("ref"), "");
  TrainerHooks quiet;
  quiet.print = [](const std::string&) {};
  ASSERT_TRUE(RunTraining(ref.train, quiet).ok());
  EXPECT_EQ(*env->ReadFile(out + "/checkpoint-6/adapter_model.safetensors"),
            *env->ReadFile(tmp_.Sub("ref/checkpoint-6/adapter_model.safetensors")));
}

// A clock that stands at the year 2001: an agent started on it is older than any request
// written on the real clock.
class EarlyClockEnv : public ForwardingEnv {
 public:
  uint64_t NowMicros() override { return 978'307'200'000'000; }
};

// The fleet's stop request in the run's store (where a cloud instance cannot be signalled):
// the agent sees it, checkpoints and stops like on a notice; a request older than the agent
// (left over from an earlier instance of the same id) is ignored; the next agent completes.
TEST_F(AgentTest, FleetStopRequestCheckpointsAndStops) {
  std::string out = tmp_.Sub("run");
  JobSpec job = Job(out, "agent:\n  heartbeat_seconds: 0.1\n");
  FileStore store(env, out);
  int64_t now_ms = static_cast<int64_t>(env->NowMicros() / 1000);
  ASSERT_TRUE(WriteStopRequest(&store, {"i-stop", "scale down", now_ms}).ok());
  EarlyClockEnv early;
  AgentOptions o;
  o.instance_id = "i-stop";
  o.env = &early;  // started "before" the request, whatever the machine's speed
  std::string log;
  std::mutex mu;
  o.print = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    log += s + "\n";
  };
  auto first = RunAgent(job, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, AgentOutcome::kStopped) << log;
  EXPECT_NE(log.find("the fleet asks this instance to stop (scale down)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("s after the fleet's stop request"), std::string::npos) << log;
  auto hb = ReadHeartbeat(&store, "i-stop");
  ASSERT_TRUE(hb.ok() && *hb);
  EXPECT_EQ((*hb)->state, AgentState::kStopped);
  EXPECT_FALSE(*IsComplete(&store));

  // The same request is now older than an agent on the real clock: it is ignored.
  o.env = env;
  log.clear();
  auto second = RunAgent(job, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, AgentOutcome::kCompleted) << log;
  EXPECT_NE(log.find("ignoring a stop request older than this agent (scale down)"),
            std::string::npos)
      << log;
  EXPECT_EQ((*ReadHeartbeat(&store, "i-stop"))->global_step, 6);
  EXPECT_TRUE(*IsComplete(&store));
}

// Issue 21: the heartbeat says where the agent's start went. The model comes from a bucket, so
// the download takes time; every part is >= 0 and they sum to at most the total, in the
// heartbeat and in the agent's log. A second attempt on the warm cache downloads nothing and
// checks digests instead.
TEST_F(AgentTest, HeartbeatCarriesTheColdStartSplit) {
  testing::FakeS3Server server("bkt", SigV4Credentials{"AKIDCOLD", "cold-secret", ""}, "us-east-1");
  testing::ScopedEnv vars;
  for (const char* n : {"AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL",
                        "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_REGION"}) {
    vars.Unset(n);
  }
  vars.Set("AWS_ACCESS_KEY_ID", "AKIDCOLD");
  vars.Set("AWS_SECRET_ACCESS_KEY", "cold-secret");
  vars.Set("AWS_EC2_METADATA_DISABLED", "true");
  vars.Set(EnvVar::kCacheDir, tmp_.Sub("cache"));
  const std::string model = "s3://bkt/models/tiny?endpoint=" + server.endpoint();
  {
    auto bucket = OpenStore(model);
    ASSERT_TRUE(bucket.ok()) << bucket.status().ToString();
    Result<std::vector<std::string>> names = env->ListDir(tmp_.Sub("model"));
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) {
      ASSERT_TRUE((*bucket)->Put(name, *env->ReadFile(JoinPath(tmp_.Sub("model"), name))).ok());
    }
  }
  std::string out = tmp_.Sub("run");
  FileStore store(env, out);
  auto check = [&](const std::string& log, bool warm) {
    auto hb = ReadHeartbeat(&store, "i-cold");
    ASSERT_TRUE(hb.ok() && *hb) << hb.status().ToString();
    ASSERT_TRUE((*hb)->cold_start) << (*hb)->Serialize();
    const ColdStart& c = *(*hb)->cold_start;
    for (double part : {c.download, c.digest, c.load, c.data, c.resume}) EXPECT_GE(part, 0);
    EXPECT_LE(c.download + c.digest + c.load + c.data + c.resume, c.total) << (*hb)->Serialize();
    EXPECT_GT(c.load, 0);
    EXPECT_GT(c.data, 0);
    if (warm) {
      EXPECT_GT(c.digest, 0) << (*hb)->Serialize();
    } else {
      EXPECT_GT(c.download, 0) << (*hb)->Serialize();
    }
    EXPECT_NE(log.find("baton agent: cold start "), std::string::npos) << log;
    EXPECT_NE(log.find(warm ? "using the cached copy" : "downloaded "), std::string::npos) << log;
  };
  AgentOptions o;
  o.instance_id = "i-cold";
  std::string log;
  std::mutex mu;
  o.print = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    log += s + "\n";
  };
  // The first attempt is asked to stop (as by SIGTERM) once its start is reported, so it
  // checkpoints before its first step and a second attempt starts on the warm cache.
  std::atomic<bool> stop{false};
  bool stop_at_start = true;
  o.stop_flag = &stop;
  o.print = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    log += s + "\n";
    if (stop_at_start && s.starts_with("baton agent: cold start ")) stop.store(true);
  };
  JobSpec job = Job(out, "agent:\n  heartbeat_seconds: 60\n", model);
  o.start = std::chrono::steady_clock::now();
  auto first = RunAgent(job, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, AgentOutcome::kStopped) << log;
  ASSERT_NO_FATAL_FAILURE(check(log, /*warm=*/false));
  log.clear();
  stop_at_start = false;
  stop.store(false);
  o.start = std::chrono::steady_clock::now();
  auto second = RunAgent(job, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, AgentOutcome::kCompleted) << log;
  ASSERT_NO_FATAL_FAILURE(check(log, /*warm=*/true));
}

// Supervisor mode: a fake external trainer (a shell script with its own checkpoint folders) is
// started with {resume_from}, gets SIGTERM on the notice, and is resumed by the next agent.
TEST_F(AgentTest, SupervisesAnExternalTrainer) {
  auto meta = FakeMetadataServer::Start();
  ASSERT_TRUE(meta.ok());
  std::string out = tmp_.Sub("ext");
  ASSERT_TRUE(env->CreateDirs(out).ok());
  std::string script = tmp_.Sub("fake_trainer.sh");
  testing::ScopedEnv names;  // the script reads the agent's variable by name (${!RESUME_VAR})
  names.Set("RESUME_VAR", EnvVarName(EnvVar::kResumeFrom));
  ASSERT_TRUE(env->WriteFileAtomic(script, R"(#!/bin/bash
out=$1; resume=$2; step=0
[ -n "$resume" ] && step=${resume##*checkpoint-}
echo "start $step resume=[$resume] env=[${!RESUME_VAR}]" >> "$out/trainer.log"
stop=0; trap 'stop=1' TERM
while [ $step -lt 20 ]; do
  sleep 0.2
  step=$((step + 1))
  if [ $((step % 2)) -eq 0 ] || [ $stop -eq 1 ]; then
    mkdir -p "$out/checkpoint-$step"
    echo "{\"global_step\": $step}" > "$out/checkpoint-$step/trainer_state.json"
  fi
  if [ $stop -eq 1 ]; then echo "stopped $step" >> "$out/trainer.log"; exit 0; fi
done
echo done >> "$out/trainer.log"
)")
                  .ok());
  auto job = ParseJobSpec(fmt::format("store: {0}\ncommand: bash {1} {0} {{resume_from}}\n"
                                      "agent: {{cloud: gcp, metadata_url: {2}}}\n",
                                      out, script, (*meta)->url()),
                          "ext.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  AgentOptions o;
  o.instance_id = "i-ext";
  o.print = [](const std::string&) {};
  std::thread notifier([&] {
    for (int i = 0; i < 600 && !env->FileExists(out + "/checkpoint-2/trainer_state.json"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    (*meta)->ScheduleNotice(Cloud::kGcp, NoticeKind::kTermination, 0);
  });
  auto first = RunAgent(*job, o);
  notifier.join();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, AgentOutcome::kStopped);
  std::string log = *env->ReadFile(out + "/trainer.log");
  EXPECT_NE(log.find("start 0 resume=[]"), std::string::npos) << log;
  size_t at = log.find("stopped ");
  ASSERT_NE(at, std::string::npos) << log;
  int stopped = std::stoi(log.substr(at + 8));
  EXPECT_LT(stopped, 20);
  EXPECT_FALSE(env->FileExists(out + "/COMPLETE"));

  (*meta)->Clear();
  auto second = RunAgent(*job, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, AgentOutcome::kCompleted);
  log = *env->ReadFile(out + "/trainer.log");
  std::string resumed =
      fmt::format("start {0} resume=[{1}/checkpoint-{0}] env=[{1}/checkpoint-{0}]", stopped, out);
  EXPECT_NE(log.find(resumed), std::string::npos) << log;
  EXPECT_NE(log.find("done"), std::string::npos) << log;
  EXPECT_TRUE(env->FileExists(out + "/COMPLETE"));
  EXPECT_EQ(*RunAgent(*job, o), AgentOutcome::kAlreadyComplete);
}

TEST(AgentWebhook, PayloadShapes) {
  Json facts = {{"run", "r"}, {"status", "complete"}};
  EXPECT_EQ(Json::parse(WebhookBody("slack", "hi", facts)), Json({{"text", "hi"}}));
  Json d = Json::parse(WebhookBody("dingtalk", "hi", facts));
  EXPECT_EQ(d["msgtype"], "text");
  EXPECT_EQ(d["text"]["content"], "hi");
  Json g = Json::parse(WebhookBody("generic", "hi", facts));
  EXPECT_EQ(g["run"], "r");
  EXPECT_EQ(g["text"], "hi");
}

// The agent's log names a webhook by its host only: a password in the URL or a token in its
// query never reaches a log line, whether the post succeeds or fails.
TEST(AgentWebhook, LogLinesShowNoCredentials) {
  std::string auth;
  testing::FakeHttpServer ok([&](const std::string&, const std::string&, const std::string& req) {
    size_t at = req.find("Authorization: ");
    if (at != std::string::npos) auth = req.substr(at, req.find("\r\n", at) - at);
    return std::make_pair(200, std::string("ok"));
  });
  testing::FakeHttpServer failing([](const std::string&, const std::string&, const std::string&) {
    return std::make_pair(500, std::string("no"));
  });
  auto with_secret = [](const std::string& endpoint) {
    return "http://hookuser:hunter2@" + endpoint.substr(std::strlen("http://")) +
           "/hook?access_token=tok123";
  };
  JobSpec job;
  job.name = "r";
  job.webhooks = {{with_secret(ok.endpoint()), "generic"},
                  {with_secret(failing.endpoint()), "dingtalk"}};
  class NoSleepEnv : public ForwardingEnv {
   public:
    void SleepMicros(uint64_t) override {}
  } no_sleep;
  std::vector<std::string> lines;
  PostWebhooks(
      job, "s3://bkt/run?endpoint=http://minio:minio-pw@10.0.0.1:9000", "i-1",
      [&](const std::string& s) { lines.push_back(s); }, &no_sleep);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("posted the generic webhook to 127.0.0.1:"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("the dingtalk webhook to 127.0.0.1:"), std::string::npos) << lines[1];
  for (const std::string& line : lines) {
    for (const char* secret : {"hookuser", "hunter2", "tok123", "minio-pw"}) {
      EXPECT_EQ(line.find(secret), std::string::npos) << line;
    }
  }
  EXPECT_EQ(auth.rfind("Authorization: Basic ", 0), 0u) << "the URL's credentials still go along";
}

}  // namespace
}  // namespace baton
