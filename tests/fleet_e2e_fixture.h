// What the end-to-end tests of `baton fleet` on a fake cloud share, whatever the cloud
// (tests/aliyun_fleet_fixture.h, tests/aws_fleet_test.cc): the tiny model and a small dataset
// in a scratch folder, the job file, running the `baton` binary with the fixture's variables,
// waits on the agents' heartbeats in the run's bucket, and the adapter an uninterrupted run makes.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/process_contract.h"
#include "cli_process.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton::testing {

class FleetE2eFixture : public ::testing::Test {
 public:
  static constexpr int kDefaultMaxSteps = 24;

 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(WriteTinyModel(tmp_.Sub("model")));
    std::string data;
    for (int i = 0; i < 16; ++i) {
      data += fmt::format("{{\"query\": \"hi {0}\", \"response\": \"ok {0}\"}}\n", i);
    }
    ASSERT_TRUE(Env::Default()->WriteFileAtomic(tmp_.Sub("data.jsonl"), data).ok());
  }

  // The job up to its fleet section: the tiny model, max_steps_ steps, checkpoints every 4,
  // heartbeats every 0.2 s, the agent of `cloud`, scale to zero at the end.
  std::string TrainYaml(const std::string& store, const std::string& cloud) {
    return fmt::format(
        "name: fleet-e2e\nmodel: {model}\ndatasets: [{data}]\nstore: {store}\n"
        "train:\n  template: chatml\n  system: ''\n  max_steps: {steps}\n  save_steps: 4\n"
        "  save_total_limit: 2\n  logging_steps: 1\n  max_length: 64\n"
        "  gradient_accumulation_steps: 2\n  learning_rate: 1e-3\n  lora_dropout: 0.1\n"
        "  seed: 11\nagent:\n  cloud: {cloud}\n  heartbeat_seconds: 0.2\n"
        "hooks:\n  scale_to_zero: true\n",
        fmt::arg("model", tmp_.Sub("model")), fmt::arg("data", tmp_.Sub("data.jsonl")),
        fmt::arg("store", store), fmt::arg("steps", max_steps_), fmt::arg("cloud", cloud));
  }

  std::string WriteJob(const std::string& name, const std::string& yaml) {
    std::string path = tmp_.Sub(name);
    EXPECT_TRUE(Env::Default()->WriteFileAtomic(path, yaml).ok());
    return path;
  }

  ProcessResult Baton(const std::vector<std::string>& args, const std::string& log_name,
                      std::vector<std::string> extra_vars = {}, int timeout_ms = 120000) {
    std::vector<std::string> all = {BATON_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    // A variable in extra_vars replaces the fixture's of that name (the child would see the
    // first of two).
    std::vector<std::string> vars = vars_;
    for (const std::string& v : extra_vars) {
      const std::string name = v.substr(0, v.find('=') + 1);
      std::erase_if(vars, [&](const std::string& mine) { return mine.starts_with(name); });
      vars.push_back(v);
    }
    return RunProcess(all, vars, tmp_.Sub(log_name), timeout_ms);
  }

  // Waits until the instance's agent heartbeats `state` (with step >= min_step when training).
  bool WaitAgent(Store* store, const std::string& id, AgentState state, int64_t min_step = 0) {
    return WaitUntil(
        [&] {
          Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, id);
          return hb.ok() && *hb && (*hb)->state == state &&
                 (*hb)->global_step.value_or(0) >= min_step;
        },
        90000);
  }

  // Waits until the fleet's ledger records that the instance began training (the controller
  // saw its heartbeat): what `fleet status` needs to know its pace and the on-demand baseline.
  bool WaitLedgerRunning(Store* store, const std::string& id) {
    return WaitUntil(
        [&] {
          Result<std::optional<FleetLedger>> l = ReadFleetLedger(store);
          if (!l.ok() || !*l) return false;
          for (const LedgerInstance& i : (*l)->instances) {
            if (i.id == id && i.running_unix_ms > 0) return true;
          }
          return false;
        },
        90000);
  }

  int64_t StepOf(Store* store, const std::string& id) {
    Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, id);
    return hb.ok() && *hb ? (*hb)->global_step.value_or(0) : 0;
  }

  // The adapter an uninterrupted run of the same training makes (one agent, no cloud, same
  // threads), in its own folder.
  std::string UninterruptedAdapter() {
    std::string job = WriteJob("baseline.yaml", TrainYaml(tmp_.Sub("baseline"), "none"));
    ProcessResult r = Baton({"agent", "--job", job}, "baseline.log",
                            {std::string(EnvVarName(EnvVar::kInstanceId)) + "=baseline"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    Result<std::string> adapter = Env::Default()->ReadFile(
        tmp_.Sub(fmt::format("baseline/{}/{}", CheckpointDir(max_steps_), kAdapterWeightsFile)));
    EXPECT_TRUE(adapter.ok()) << adapter.status().ToString();
    return adapter.ok() ? *adapter : "";
  }

  // The first item of `list()` that matches, once one does (60 s at most): an instance of a
  // fake cloud's snapshot.
  template <typename Item>
  static std::optional<Item> WaitFor(const std::function<std::vector<Item>()>& list,
                                     const std::function<bool(const Item&)>& match) {
    std::optional<Item> found;
    WaitUntil(
        [&] {
          for (const Item& s : list()) {
            if (match(s)) {
              found = s;
              return true;
            }
          }
          return false;
        },
        60000);
    return found;
  }

  // The run's final adapter is the one an uninterrupted run makes, bit for bit.
  void ExpectFinalAdapterUninterrupted(const std::string& run) {
    Result<std::string> adapter = Env::Default()->ReadFile(
        fmt::format("{}/{}/{}", run, CheckpointDir(max_steps_), kAdapterWeightsFile));
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    EXPECT_TRUE(*adapter == UninterruptedAdapter());
  }

  ScopedTempDir tmp_;
  std::vector<std::string> vars_;
  int max_steps_ = kDefaultMaxSteps;
};

}  // namespace baton::testing
