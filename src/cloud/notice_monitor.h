// NoticeMonitor: polls a PreemptionWatcher on its own thread so that the trainer only has to
// read an atomic flag between micro-batches (DESIGN.md, "Preemption").
//
// It never takes the process down: a failed poll (the metadata service down, a 500, a body that
// does not parse) is logged when a run of failures starts and when it ends, and polling goes on.
// The first termination notice sets the flag and is kept; polling stops there. A rebalance
// recommendation (AWS) is reported through the callback but does not set the flag unless
// `stop_on_rebalance`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cloud/preemption.h"

namespace baton {

struct NoticeMonitorOptions {
  int poll_interval_ms = 1000;
  // Treat a rebalance recommendation like a termination notice.
  bool stop_on_rebalance = false;
  // Called on the monitor thread, once per kind of notice, when it is first seen.
  std::function<void(const Notice&)> on_notice;
  // One line per message; default: stderr, prefixed "baton: ".
  std::function<void(const std::string&)> log;
};

class NoticeMonitor {
 public:
  // Starts polling at once (the first poll is immediate). Intervals under 10 ms count as 10 ms.
  NoticeMonitor(std::unique_ptr<PreemptionWatcher> watcher, NoticeMonitorOptions options = {});
  // Stops and joins the thread; waits at most for the poll in flight (a few request timeouts).
  ~NoticeMonitor();
  NoticeMonitor(const NoticeMonitor&) = delete;
  NoticeMonitor& operator=(const NoticeMonitor&) = delete;

  // True once a notice that means "checkpoint and exit" was seen. Cheap: one atomic load.
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }
  // The notice that set the flag.
  std::optional<Notice> notice() const;
  // The latest rebalance recommendation seen, if any.
  std::optional<Notice> rebalance() const;
  // Blocks until the flag is set or `timeout_ms` passes; returns the flag.
  bool WaitForStop(int timeout_ms) const;

  uint64_t polls() const { return polls_; }
  uint64_t failed_polls() const { return failed_polls_; }

  // Stops polling (idempotent); the flag and the notice stay.
  void Stop();

 private:
  void Run();
  void Log(const std::string& line) const;

  std::unique_ptr<PreemptionWatcher> watcher_;
  const NoticeMonitorOptions options_;
  const int interval_ms_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::optional<Notice> notice_;
  std::optional<Notice> rebalance_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint64_t> polls_{0};
  std::atomic<uint64_t> failed_polls_{0};
  std::thread thread_;
};

}  // namespace baton
