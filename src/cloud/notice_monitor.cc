#include "cloud/notice_monitor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

namespace baton {

NoticeMonitor::NoticeMonitor(std::unique_ptr<PreemptionWatcher> watcher,
                             NoticeMonitorOptions options)
    : watcher_(std::move(watcher)),
      options_(std::move(options)),
      interval_ms_(std::max(options_.poll_interval_ms, 10)) {
  if (!watcher_) {
    Log("preemption watcher: none given; not polling");
    return;
  }
  thread_ = std::thread([this] { Run(); });
}

NoticeMonitor::~NoticeMonitor() { Stop(); }

void NoticeMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<Notice> NoticeMonitor::notice() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notice_;
}

std::optional<Notice> NoticeMonitor::rebalance() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rebalance_;
}

bool NoticeMonitor::WaitForStop(int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return stop_requested(); });
  return stop_requested();
}

void NoticeMonitor::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "baton: %s\n", line.c_str());
  }
}

void NoticeMonitor::Run() {
  const char* cloud = CloudName(watcher_->cloud());
  uint64_t failures_in_a_row = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    Result<std::optional<Notice>> polled = watcher_->Poll();
    ++polls_;
    if (!polled.ok()) {
      ++failed_polls_;
      // Once per run of failures: a metadata service that is down for an hour must not fill
      // the log, and must not stop the trainer either.
      if (failures_in_a_row++ == 0) {
        Log(fmt::format("{} preemption watcher: {} (will keep polling every {} ms)", cloud,
                        polled.status().ToString(), interval_ms_));
      }
    } else {
      if (failures_in_a_row > 0) {
        Log(fmt::format("{} preemption watcher: answers again after {} failed poll(s)", cloud,
                        failures_in_a_row));
        failures_in_a_row = 0;
      }
      if (polled->has_value()) {
        const Notice& n = **polled;
        bool first_of_kind;
        bool stop = n.kind == NoticeKind::kTermination || options_.stop_on_rebalance;
        {
          std::lock_guard<std::mutex> lock(mu_);
          std::optional<Notice>& slot = n.kind == NoticeKind::kRebalance ? rebalance_ : notice_;
          first_of_kind = !slot.has_value();
          if (n.kind == NoticeKind::kRebalance) rebalance_ = n;
          if (stop && !notice_) notice_ = n;
          if (stop) stop_requested_.store(true, std::memory_order_release);
        }
        if (first_of_kind) {
          Log("preemption: " + DescribeNotice(n));
          if (options_.on_notice) options_.on_notice(n);
        }
        if (stop) {
          cv_.notify_all();
          return;  // nothing more to learn
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
  }
}

}  // namespace baton
