#include "base/periodic_thread.h"

#include <chrono>
#include <utility>

namespace baton {

PeriodicThread::PeriodicThread(double period_s, std::function<bool()> tick, bool tick_first)
    : period_(period_s), tick_(std::move(tick)) {
  thread_ = std::thread([this, tick_first] { Loop(tick_first); });
}

void PeriodicThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicThread::Loop(bool tick_first) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!tick_first) {
    cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return stopping_; });
  }
  while (!stopping_) {
    lock.unlock();
    bool more = tick_();
    lock.lock();
    if (!more) return;
    cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return stopping_; });
  }
}

}  // namespace baton
