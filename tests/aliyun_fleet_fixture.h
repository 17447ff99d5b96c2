// What the end-to-end tests of `baton fleet` on the fake Alibaba Cloud share
// (tests/aliyun_fleet_test.cc: provider aliyun; tests/aliyun_ess_test.cc: aliyun-ess): a fake
// cloud in region cn-hangzhou (zones h and i, one vSwitch each) and cn-beijing, whose instances
// run the real `baton agent` from their user-data; the tiny model and a small dataset; the job
// file; and waits on instances and on the agents' heartbeats in the run's bucket.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/process_contract.h"
#include "cli_process.h"
#include "fake_aliyun.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton::testing {

class AliyunFleetFixture : public ::testing::Test {
 public:
  static constexpr char kKeyId[] = "LTAI5tFleetTestKey";
  static constexpr char kSecret[] = "fleet-test-secret-0123456789abcdef";
  static constexpr char kType[] = "ecs.gn7i-c8g1.2xlarge";
  static constexpr char kZoneH[] = "cn-hangzhou-h";
  static constexpr char kZoneI[] = "cn-hangzhou-i";
  static constexpr int kDefaultMaxSteps = 24;

 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(WriteTinyModel(tmp_.Sub("model")));
    std::string data;
    for (int i = 0; i < 16; ++i) {
      data += fmt::format("{{\"query\": \"hi {0}\", \"response\": \"ok {0}\"}}\n", i);
    }
    ASSERT_TRUE(Env::Default()->WriteFileAtomic(tmp_.Sub("data.jsonl"), data).ok());

    FakeAliyunOptions o;
    o.credentials = {{kKeyId, kSecret, ""}};
    o.regions = {{"cn-hangzhou",
                  "Hangzhou",
                  {{kZoneH, "Zone H", {kType}, {"vsw-h"}}, {kZoneI, "Zone I", {kType}, {"vsw-i"}}}},
                 {"cn-beijing", "Beijing", {{"cn-beijing-a", "Zone A", {kType}, {"vsw-a"}}}}};
    o.image_ids = {"m-baton"};
    o.security_group_ids = {"sg-baton"};
    o.host.baton_binary = BATON_BINARY;
    o.host.work_dir = tmp_.Sub("cloud");
    o.host.notice_seconds = 6;
    o.host.boot_seconds = 0.2;
    o.host.extra_env = {{std::string(EnvVarName(EnvVar::kNoticePollMs)), "100"},
                        {std::string(EnvVarName(EnvVar::kThreads)), "1"}};
    fake_ = std::make_unique<FakeAliyun>(o);
    ASSERT_TRUE(fake_->Start().ok());
    vars_ = {std::string("ALIBABA_CLOUD_ACCESS_KEY_ID=") + kKeyId,
             std::string("ALIBABA_CLOUD_ACCESS_KEY_SECRET=") + kSecret,
             std::string(EnvVarName(EnvVar::kAliyunEndpoint)) + "=" + fake_->endpoint(),
             std::string(EnvVarName(EnvVar::kThreads)) + "=1"};
  }

  void TearDown() override { fake_->Stop(); }

  // The job: `provider` with offers in zones h and i (spot in h the cheapest), `fleet_extra`
  // more lines of the fleet section, `aliyun_extra` more of its aliyun section; max_steps_ steps.
  std::string JobYaml(const std::string& store, const std::string& provider,
                      const std::string& fleet_extra = "", const std::string& aliyun_extra = "",
                      const std::string& vswitches = "{cn-hangzhou-h: vsw-h, cn-hangzhou-i: vsw-i}",
                      const std::string& region = "cn-hangzhou") {
    return fmt::format(
        "name: fleet-e2e\nmodel: {model}\ndatasets: [{data}]\nstore: {store}\n"
        "train:\n  template: chatml\n  system: ''\n  max_steps: {steps}\n  save_steps: 4\n"
        "  save_total_limit: 2\n  logging_steps: 1\n  max_length: 64\n"
        "  gradient_accumulation_steps: 2\n  learning_rate: 1e-3\n  lora_dropout: 0.1\n"
        "  seed: 11\nagent:\n  cloud: alibaba\n  heartbeat_seconds: 0.2\n"
        "hooks:\n  scale_to_zero: true\n"
        "fleet:\n  provider: {provider}\n  policy: spot-first\n{fleet_extra}"
        "  offers:\n"
        "    - {{instance_type: {type}, zone: cn-hangzhou-h, spot: 3.5, on_demand: 10}}\n"
        "    - {{instance_type: {type}, zone: cn-hangzhou-i, spot: 3.9, on_demand: 10}}\n"
        "  aliyun:\n    region: {region}\n    image_id: m-baton\n    security_group_id: sg-baton\n"
        "    vswitches: {vswitches}\n    ram_role: BatonInstanceRole\n    tags: {{team: ml}}\n"
        "    system_disk_gb: 40\n"
        "    poll_seconds: 0.3\n    stop_grace_seconds: 60\n    no_stock_backoff_seconds: 2\n"
        "{aliyun_extra}",
        fmt::arg("model", tmp_.Sub("model")), fmt::arg("data", tmp_.Sub("data.jsonl")),
        fmt::arg("store", store), fmt::arg("steps", max_steps_), fmt::arg("provider", provider),
        fmt::arg("fleet_extra", fleet_extra), fmt::arg("type", kType), fmt::arg("region", region),
        fmt::arg("vswitches", vswitches), fmt::arg("aliyun_extra", aliyun_extra));
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

  // The first instance that matches, once one does (60 s at most).
  std::optional<FakeInstanceSnapshot> WaitInstance(
      const std::function<bool(const FakeInstanceSnapshot&)>& match) {
    std::optional<FakeInstanceSnapshot> found;
    WaitUntil(
        [&] {
          for (const FakeInstanceSnapshot& s : fake_->InstancesSnapshot()) {
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

  int64_t StepOf(Store* store, const std::string& id) {
    Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, id);
    return hb.ok() && *hb ? (*hb)->global_step.value_or(0) : 0;
  }

  std::vector<FakeInstanceSnapshot> Alive() {
    std::vector<FakeInstanceSnapshot> alive;
    for (const FakeInstanceSnapshot& s : fake_->InstancesSnapshot()) {
      if (s.status == "Pending" || s.status == "Running") alive.push_back(s);
    }
    return alive;
  }

  static bool IsSpot(const FakeInstanceSnapshot& s) { return s.spot_strategy != "NoSpot"; }

  ScopedTempDir tmp_;
  std::unique_ptr<FakeAliyun> fake_;
  std::vector<std::string> vars_;
  int max_steps_ = kDefaultMaxSteps;
};

}  // namespace baton::testing
