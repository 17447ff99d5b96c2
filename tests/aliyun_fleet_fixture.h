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
#include "fleet_e2e_fixture.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton::testing {

class AliyunFleetFixture : public FleetE2eFixture {
 public:
  static constexpr char kKeyId[] = "LTAI5tFleetTestKey";
  static constexpr char kSecret[] = "fleet-test-secret-0123456789abcdef";
  static constexpr char kType[] = "ecs.gn7i-c8g1.2xlarge";
  static constexpr char kZoneH[] = "cn-hangzhou-h";
  static constexpr char kZoneI[] = "cn-hangzhou-i";

 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(FleetE2eFixture::SetUp());

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
    return TrainYaml(store, "alibaba") +
           fmt::format(
               "fleet:\n  provider: {provider}\n  policy: spot-first\n{fleet_extra}"
               "  offers:\n"
               "    - {{instance_type: {type}, zone: cn-hangzhou-h, spot: 3.5, on_demand: 10}}\n"
               "    - {{instance_type: {type}, zone: cn-hangzhou-i, spot: 3.9, on_demand: 10}}\n"
               "  aliyun:\n    region: {region}\n    image_id: m-baton\n    security_group_id: "
               "sg-baton\n"
               "    vswitches: {vswitches}\n    ram_role: BatonInstanceRole\n    tags: {{team: "
               "ml}}\n"
               "    system_disk_gb: 40\n"
               "    poll_seconds: 0.3\n    stop_grace_seconds: 60\n    no_stock_backoff_seconds: "
               "2\n"
               "{aliyun_extra}",
               fmt::arg("provider", provider), fmt::arg("fleet_extra", fleet_extra),
               fmt::arg("type", kType), fmt::arg("region", region),
               fmt::arg("vswitches", vswitches), fmt::arg("aliyun_extra", aliyun_extra));
  }

  // The first instance that matches, once one does (60 s at most).
  std::optional<FakeInstanceSnapshot> WaitInstance(
      const std::function<bool(const FakeInstanceSnapshot&)>& match) {
    return WaitFor<FakeInstanceSnapshot>([&] { return fake_->InstancesSnapshot(); }, match);
  }

  std::vector<FakeInstanceSnapshot> Alive() {
    std::vector<FakeInstanceSnapshot> alive;
    for (const FakeInstanceSnapshot& s : fake_->InstancesSnapshot()) {
      if (s.status == "Pending" || s.status == "Running") alive.push_back(s);
    }
    return alive;
  }

  static bool IsSpot(const FakeInstanceSnapshot& s) { return s.spot_strategy != "NoSpot"; }

  std::unique_ptr<FakeAliyun> fake_;
};

}  // namespace baton::testing
