// A restarted `aliyun` controller does again what the dead one saved as asked but may not have
// done: a DeleteInstance whose answer it never saw (the instance is deleted, billed to the
// deletion and counted as stopped, never as gone without notice), and a stop request that may
// not have reached the bucket. The fake cloud runs no agents here: nothing but the provider.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/spec_node.h"
#include "cloud/aliyun_api.h"
#include "fake_aliyun.h"
#include "fleet/aliyun_provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_util.h"

namespace baton::fleet {
namespace {

constexpr char kKeyId[] = "LTAI5tRestartTestKey";
constexpr char kSecret[] = "restart-test-secret-0123456789";
constexpr char kFleet[] = R"(fleet:
  provider: aliyun
  policy: spot-first
  offers:
    - {instance_type: ecs.gn7i-c8g1.2xlarge, zone: cn-hangzhou-h, spot: 3.5, on_demand: 10}
  aliyun:
    region: cn-hangzhou
    image_id: m-baton
    security_group_id: sg-baton
    vswitches: {cn-hangzhou-h: vsw-h}
)";

class AliyunRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::FakeAliyunOptions o;
    o.credentials = {{kKeyId, kSecret, ""}};
    o.regions = {{"cn-hangzhou",
                  "Hangzhou",
                  {{"cn-hangzhou-h", "Zone H", {"ecs.gn7i-c8g1.2xlarge"}, {"vsw-h"}}}}};
    o.image_ids = {"m-baton"};
    o.security_group_ids = {"sg-baton"};
    fake_ = std::make_unique<testing::FakeAliyun>(o);
    ASSERT_TRUE(fake_->Start().ok());
    AliyunClientOptions c;
    c.region = "cn-hangzhou";
    c.endpoint = fake_->endpoint();
    c.credentials = []() -> Result<SigV4Credentials> {
      return SigV4Credentials{kKeyId, kSecret, ""};
    };
    c.max_attempts = 2;
    c.base_backoff_ms = 1;
    client_ = std::make_unique<AliyunClient>(c);
    Result<SpecNode> doc = SpecNode::Parse(kFleet, "job.yaml");
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    Result<FleetSpec> spec = ParseFleetSpec(doc->Get("fleet"));
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = *spec;
    Result<std::unique_ptr<Store>> store = OpenStore(tmp_.Sub("bucket"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override { fake_->Stop(); }

  Result<std::unique_ptr<AliyunProvider>> Open() {
    AliyunProviderOptions o;
    o.run = "restart";
    o.job_url = "file://" + tmp_.Sub("bucket/fleet/job.yaml");
    return AliyunProvider::Open(spec_, client_.get(), store_.get(), o);
  }

  testing::ScopedTempDir tmp_;
  std::unique_ptr<testing::FakeAliyun> fake_;
  std::unique_ptr<AliyunClient> client_;
  FleetSpec spec_;
  std::unique_ptr<Store> store_;
};

TEST_F(AliyunRestartTest, ADeletionTheDeadControllerAskedForIsAskedAgainAndBilledToThen) {
  std::string id;
  double asked = 0;
  {
    auto p = Open();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    Result<std::string> launched = (*p)->Launch(0, false);
    ASSERT_TRUE(launched.ok()) << launched.status().ToString();
    id = *launched;
    // No agent runs on it yet, so a stop deletes it; the answer never comes back (both of the
    // client's attempts fail) and the controller dies.
    fake_->FailNext("DeleteInstance", 2, testing::FakeAliyunFault::kServiceUnavailable);
    asked = (*p)->Now();
    EXPECT_FALSE((*p)->Stop(id).ok());
  }
  Env::Default()->SleepMicros(300000);
  auto p = Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const double restarted = (*p)->Now();
  for (int i = 0; i < 100 && (*p)->Instances()[0].state != InstanceState::kEnded; ++i) {
    Env::Default()->SleepMicros(50000);
    ASSERT_TRUE((*p)->Refresh().ok());
  }
  Instance i = (*p)->Instances()[0];
  ASSERT_EQ(i.state, InstanceState::kEnded) << "the deletion was not asked again";
  EXPECT_EQ(i.end_reason, EndReason::kStopped) << i.detail;
  EXPECT_GE(i.ended_at, asked);
  EXPECT_LT(i.ended_at, restarted) << "billed beyond the deletion, to the restart";
  for (const testing::FakeInstanceSnapshot& s : fake_->InstancesSnapshot()) {
    EXPECT_NE(s.status, "Running") << s.instance_id;
  }
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store_.get());
  ASSERT_TRUE(ledger.ok() && *ledger);
  EXPECT_GT((*ledger)->instances.at(0).delete_unix_ms, 0);
}

TEST_F(AliyunRestartTest, AStopRequestTheDeadControllerSavedIsWrittenAgain) {
  std::string id;
  {
    auto p = Open();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    Result<std::string> launched = (*p)->Launch(0, false);
    ASSERT_TRUE(launched.ok()) << launched.status().ToString();
    id = *launched;
    Heartbeat hb;
    hb.run = "restart";
    hb.instance = id;
    hb.state = AgentState::kTraining;
    hb.global_step = 3;
    hb.updated_unix_ms = static_cast<int64_t>(Env::Default()->NowMicros() / 1000);
    ASSERT_TRUE(WriteHeartbeat(store_.get(), hb).ok());
    ASSERT_TRUE((*p)->Refresh().ok());
    ASSERT_TRUE((*p)->Stop(id).ok());
    ASSERT_TRUE(ReadStopRequest(store_.get(), id)->has_value());
  }
  // The controller died before the request reached the bucket.
  ASSERT_TRUE(DeleteStopRequest(store_.get(), id).ok());
  auto p = Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Result<std::optional<StopRequest>> again = ReadStopRequest(store_.get(), id);
  ASSERT_TRUE(again.ok() && again->has_value()) << "the stop was not asked again";
  EXPECT_EQ((*p)->Instances()[0].state, InstanceState::kStopping);
}

}  // namespace
}  // namespace baton::fleet
