#include "fleet/event_log.h"

#include <utility>

namespace baton::fleet {

EventLog::EventLog(Store* store, std::function<void(const std::string&)> warn)
    : store_(store), warn_(std::move(warn)) {}

void EventLog::Add(const std::string& text, int64_t unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!loaded_) {
    Result<std::optional<RunEvents>> old = ReadRunEvents(store_);
    // A torn or foreign document is started afresh; a store error is tried again next time.
    if (old.ok() || old.status().code() == StatusCode::kCorruption) {
      loaded_ = true;
      if (old.ok() && *old) events_ = std::move(**old);
    }
  }
  events_.events.push_back(RunEvent{unix_ms, text});
  if (events_.events.size() > RunEvents::kMaxEvents) {
    events_.events.erase(events_.events.begin(), events_.events.end() - RunEvents::kMaxEvents);
  }
  Status s = WriteRunEvents(store_, events_);
  if (!s.ok() && !warned_ && warn_) {
    warned_ = true;
    warn_("fleet events: warning: writing them to the run's store: " + s.ToString());
  }
}

}  // namespace baton::fleet
