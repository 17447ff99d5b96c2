// A background thread that runs a task every `period` seconds until the task says it is done or
// Stop() is called. The wait between runs is a condition variable in real time, not an Env
// sleep, so that Stop() wakes the thread at once instead of waiting a period out.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace baton {

class PeriodicThread {
 public:
  // `tick` returns false to end the thread. With `tick_first` it runs at once, else after the
  // first period.
  PeriodicThread(double period_s, std::function<bool()> tick, bool tick_first);
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Wakes the thread and waits for it (a tick in progress finishes first). Idempotent.
  void Stop();

 private:
  void Loop(bool tick_first);

  double period_;
  std::function<bool()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace baton
