#include "base/periodic_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace baton {
namespace {

// Waits (bounded) until `done` holds; the bound only guards against a hang, never passes a test.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

TEST(PeriodicThreadTest, TicksUntilTheTaskIsDone) {
  std::atomic<int> ticks{0};
  PeriodicThread t(
      0.001, [&] { return ++ticks < 3; }, /*tick_first=*/true);
  ASSERT_TRUE(Eventually([&] { return ticks.load() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ticks.load(), 3) << "a task that said it is done runs no more";
}

TEST(PeriodicThreadTest, StopWakesALongWaitAtOnce) {
  std::atomic<int> ticks{0};
  auto t0 = std::chrono::steady_clock::now();
  {
    PeriodicThread first(
        3600, [&] { return ++ticks, true; }, /*tick_first=*/true);
    ASSERT_TRUE(Eventually([&] { return ticks.load() == 1; }));
    PeriodicThread later(
        3600, [&] { return ++ticks, true; }, /*tick_first=*/false);
  }  // both stop here, mid-wait
  EXPECT_EQ(ticks.load(), 1) << "without tick_first nothing runs before the first period";
  // Far below the hour-long period: Stop() did not wait it out.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(10));
}

}  // namespace
}  // namespace baton
