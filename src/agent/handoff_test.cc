// The make-before-break wait on simulated time: the clock and the sleeps go through the Env, so
// "the holder fell silent for 30 s" takes no real 30 s.
#include "agent/handoff.h"

#include <gtest/gtest.h>

#include <atomic>

#include "ckpt/lease.h"
#include "fault_injection_store.h"
#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

// Time stands still until someone sleeps; files are real.
class SimulatedClockEnv : public ForwardingEnv {
 public:
  uint64_t NowMicros() override { return now_us_.load(); }
  void SleepMicros(uint64_t micros) override { now_us_ += micros; }
  double seconds() const { return (now_us_.load() - kStart) / 1e6; }

 private:
  static constexpr uint64_t kStart = 1'700'000'000'000'000;
  std::atomic<uint64_t> now_us_{kStart};
};

class HandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RunLease::Acquire(&store_, "", "i-old:41:cafe", &clock_).ok());
    options_.env = &clock_;
    options_.stale_seconds = 30;
    options_.poll_seconds = 0.2;
    options_.print = [this](const std::string& s) { lines_ += s + "\n"; };
  }
  Heartbeat Mine() {
    Heartbeat h;
    h.instance = "i-new";
    return h;
  }

  testing::ScopedTempDir tmp_;
  FileStore store_{Env::Default(), tmp_.path()};
  SimulatedClockEnv clock_;
  HandoffOptions options_;
  std::string lines_;
};

TEST_F(HandoffTest, ASilentHolderIsTakenOverAfterTheStaleTimeOnTheEnvClock) {
  HeartbeatWriter hb(&store_, Mine(), 3600, &clock_);
  bool stopped = false;
  ASSERT_TRUE(WaitForHandoff(&store_, hb, options_, &stopped).ok()) << lines_;
  EXPECT_FALSE(stopped);
  EXPECT_GE(clock_.seconds(), 30.0);
  EXPECT_LT(clock_.seconds(), 30.5);
  EXPECT_NE(lines_.find("i-old silent for 30 s"), std::string::npos) << lines_;
  // While it waited its heartbeat said "standby"; now it is loading again.
  hb.Finish(std::nullopt);
  EXPECT_EQ((*ReadHeartbeat(&store_, "i-new"))->state, AgentState::kLoading);
}

TEST_F(HandoffTest, ATransientStoreErrorWarnsOnceAndTheWaitGoesOn) {
  FaultInjectionStore flaky(&store_);  // only the waiting thread uses it
  flaky.FailNth(StoreOp::kHead, 0);    // the first COMPLETE check: an I/O error
  flaky.FailNthCall(5);                // and a later read of the lease or the heartbeat
  HeartbeatWriter hb(&store_, Mine(), 3600, &clock_);
  bool stopped = false;
  ASSERT_TRUE(WaitForHandoff(&flaky, hb, options_, &stopped).ok()) << lines_;
  EXPECT_TRUE(flaky.fault_fired());
  EXPECT_GE(clock_.seconds(), 30.0);
  size_t first = lines_.find("hand-off: warning");
  ASSERT_NE(first, std::string::npos) << lines_;
  EXPECT_EQ(lines_.find("hand-off: warning", first + 1), std::string::npos) << "warned once";
  EXPECT_NE(lines_.find("i-old silent for 30 s"), std::string::npos) << lines_;
}

TEST_F(HandoffTest, AHolderThatStoppedIsTakenOverAtOnceAndABusyOneIsWaitedFor) {
  Heartbeat old;
  old.instance = "i-old";
  old.state = AgentState::kTraining;
  // A heartbeat fresh on the simulated clock keeps the holder alive past the stale time...
  std::atomic<int> polls{0};
  options_.stop_requested = [&] {
    int n = ++polls;
    old.updated_unix_ms = static_cast<int64_t>(clock_.NowMicros() / 1000);
    if (n == 200) old.state = AgentState::kStopped;  // ...until it writes its final state
    EXPECT_TRUE(WriteHeartbeat(&store_, old).ok());
    return false;
  };
  HeartbeatWriter hb(&store_, Mine(), 3600, &clock_);
  bool stopped = false;
  ASSERT_TRUE(WaitForHandoff(&store_, hb, options_, &stopped).ok()) << lines_;
  EXPECT_EQ(polls.load(), 200);
  EXPECT_NEAR(clock_.seconds(), 199 * 0.2, 1e-6);  // 40 simulated seconds, past the 30 s
  EXPECT_NE(lines_.find("(i-old stopped)"), std::string::npos) << lines_;
}

TEST_F(HandoffTest, AStopWhileOnStandbyLeavesTheRunUntouched) {
  int polls = 0;
  options_.stop_requested = [&] { return ++polls == 3; };
  HeartbeatWriter hb(&store_, Mine(), 3600, &clock_);
  bool stopped = false;
  Status s = WaitForHandoff(&store_, hb, options_, &stopped);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(stopped);
  auto lease = ReadLease(&store_, "");
  ASSERT_TRUE(lease.ok() && *lease);
  EXPECT_EQ((*lease)->holder, "i-old:41:cafe");
  EXPECT_EQ((*lease)->epoch, 1);
}

TEST_F(HandoffTest, TheRunCompletingMeanwhileEndsTheWait) {
  CompleteMarker done;
  done.global_step = 8;
  ASSERT_TRUE(WriteCompleteMarker(&store_, done).ok());
  HeartbeatWriter hb(&store_, Mine(), 3600, &clock_);
  bool stopped = false;
  ASSERT_TRUE(WaitForHandoff(&store_, hb, options_, &stopped).ok());
  EXPECT_EQ(clock_.seconds(), 0.0);
}

TEST(HolderInstanceTest, StripsPidAndNonce) {
  EXPECT_EQ(HolderInstance("i-1:42:abcd"), "i-1");
  EXPECT_EQ(HolderInstance("host:with:colons:42:abcd"), "host:with:colons");
  EXPECT_EQ(HolderInstance("plain"), "plain");
}

}  // namespace
}  // namespace baton
