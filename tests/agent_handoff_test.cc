// Make-before-break (`baton agent --handoff`): a second agent loads everything and waits on
// stand-by while the first one trains, and takes the run only after the first one checkpointed
// and let go; the run ends bit-identical to one never interrupted. A stand-by agent that is
// stopped before its turn leaves the run untouched.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "agent/agent.h"
#include "ckpt/lease.h"
#include "store/store.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton {
namespace {

Env* env = Env::Default();

class AgentHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(testing::WriteTinyModel(tmp_.Sub("model"))); }

  JobSpec Job(const std::string& out) {
    std::string yaml = fmt::format(
        "model: {}\ndatasets: [{}/examples/data/self_cognition.jsonl#8]\nstore: {}\n"
        "train:\n  template: chatml\n  max_steps: 8\n  save_steps: 4\n  logging_steps: 1\n"
        "  max_length: 96\n  gradient_accumulation_steps: 2\n  learning_rate: 1e-3\n"
        "  model_name: [小巴, Baton]\n  model_author: [巴顿团队, Baton Team]\n"
        "agent:\n  heartbeat_seconds: 0.2\n",
        tmp_.Sub("model"), BATON_SOURCE_DIR, out);
    auto spec = ParseJobSpec(yaml, "job.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    return *spec;
  }

  // The state in an agent's heartbeat ("" while there is none).
  std::string StateOf(const std::string& out, const std::string& instance) {
    auto text = env->ReadFile(out + "/agents/" + instance + ".json");
    if (!text.ok()) return "";
    Json j = Json::parse(*text, nullptr, false);
    return j.is_object() ? j.value("state", "") : "";
  }

  testing::ScopedTempDir tmp_;
};

struct Lines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> Sink() {
    return [this](const std::string& s) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(s);
    };
  }
  bool Has(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu);
    for (const std::string& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

bool WaitFor(const std::function<bool()>& cond, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

TEST_F(AgentHandoffTest, StandbyTakesOverOnlyAfterTheHolderCheckpointed) {
  std::string out = tmp_.Sub("run");
  JobSpec job = Job(out);
  std::atomic<bool> stop_old{false}, stop_new{false};
  // The old instance, once its first checkpoint is safe, holds its training thread (in its
  // progress printer) until the new one is on stand-by, so the hand-off happens mid-run however
  // fast this machine trains.
  AgentOptions old_opts;
  old_opts.instance_id = "i-od";
  old_opts.billing = "on-demand";
  old_opts.stop_flag = &stop_old;
  Lines new_lines;
  old_opts.print = [&](const std::string&) {
    if (env->FileExists(out + "/checkpoint-4/MANIFEST.json") && !stop_old) {
      WaitFor([&] { return StateOf(out, "i-spot") == "standby" && stop_old; }, 60);
    }
  };
  AgentOptions new_opts;
  new_opts.instance_id = "i-spot";
  new_opts.billing = "spot";
  new_opts.stop_flag = &stop_new;
  new_opts.handoff = true;
  new_opts.print = new_lines.Sink();

  Result<AgentOutcome> old_r = Internal("not run"), new_r = Internal("not run");
  std::thread old_agent([&] { old_r = RunAgent(job, old_opts); });
  ASSERT_TRUE(WaitFor([&] { return env->FileExists(out + "/checkpoint-4/MANIFEST.json"); }, 120));
  std::thread new_agent([&] { new_r = RunAgent(job, new_opts); });
  ASSERT_TRUE(WaitFor([&] { return StateOf(out, "i-spot") == "standby"; }, 60))
      << "the hand-off agent never reached stand-by";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // it keeps waiting
  // On stand-by it holds nothing: the lease is still the old agent's first epoch.
  auto opened = OpenStore(out);
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Store> store = std::move(opened).value();
  auto lease = ReadLease(store.get(), "");
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->epoch, 1);
  EXPECT_FALSE((*lease)->released);
  EXPECT_FALSE(new_lines.Has("taking over"));

  stop_old = true;  // the controller stops the old instance once the new one waits
  old_agent.join();
  ASSERT_TRUE(old_r.ok()) << old_r.status().ToString();
  EXPECT_EQ(*old_r, AgentOutcome::kStopped);
  new_agent.join();
  ASSERT_TRUE(new_r.ok()) << new_r.status().ToString();
  EXPECT_EQ(*new_r, AgentOutcome::kCompleted);
  EXPECT_TRUE(new_lines.Has("hand-off: taking over"));
  lease = ReadLease(store.get(), "");
  EXPECT_EQ((*lease)->epoch, 2) << "the new agent took the lease once, after the old let go";
  Json hb = Json::parse(*env->ReadFile(out + "/agents/i-spot.json"));
  EXPECT_EQ(hb["state"], "complete");
  EXPECT_GE(hb["resumed_step"].get<int64_t>(), 4);

  JobSpec ref = Job(tmp_.Sub("ref"));
  TrainerHooks quiet;
  quiet.print = [](const std::string&) {};
  ASSERT_TRUE(RunTraining(ref.train, quiet).ok());
  EXPECT_EQ(*env->ReadFile(out + "/checkpoint-8/adapter_model.safetensors"),
            *env->ReadFile(tmp_.Sub("ref/checkpoint-8/adapter_model.safetensors")));
}

TEST_F(AgentHandoffTest, StandbyStoppedBeforeItsTurnLeavesTheRunAlone) {
  std::string out = tmp_.Sub("run");
  JobSpec job = Job(out);
  // A holder that is alive: a lease taken by someone else, renewed just now.
  auto opened = OpenStore(out);
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Store> store = std::move(opened).value();
  auto holder = RunLease::Acquire(store.get(), "", "i-other:1:abc", env);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  std::atomic<bool> stop{false};
  AgentOptions o;
  o.instance_id = "i-spot";
  o.handoff = true;
  o.stop_flag = &stop;
  Lines lines;
  o.print = lines.Sink();
  Result<AgentOutcome> r = Internal("not run");
  std::thread agent([&] { r = RunAgent(job, o); });
  ASSERT_TRUE(WaitFor([&] { return StateOf(out, "i-spot") == "standby"; }, 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  agent.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, AgentOutcome::kStopped);
  auto lease = ReadLease(store.get(), "");
  EXPECT_EQ((*lease)->epoch, 1);
  EXPECT_EQ((*lease)->holder, "i-other:1:abc");
  EXPECT_EQ(StateOf(out, "i-spot"), "stopped");
  auto keys = store->List("");
  for (const std::string& k : *keys) {
    EXPECT_EQ(k.find("checkpoint-"), std::string::npos) << "a stand-by agent wrote " << k;
  }
}

}  // namespace
}  // namespace baton
