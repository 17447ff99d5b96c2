// The controller's events in the run's bucket (run/layout.h fleet/events.json), for people
// watching the run from anywhere (`baton ui`): each line the controller prints is added, and the
// newest RunEvents::kMaxEvents are rewritten whole (events are few: launches, notices, ends).
// A restarted controller carries on the list it finds. A store that fails is warned about once
// and tried again with the next event: the events are never worth stopping the run for.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "run/layout.h"
#include "store/store.h"

namespace baton::fleet {

class EventLog {
 public:
  // `store` (the run's folder) must outlive the log; `warn` gets a store's first failure.
  EventLog(Store* store, std::function<void(const std::string&)> warn);
  // Adds `text` (one line) at `unix_ms` and writes the list. Safe from any thread.
  void Add(const std::string& text, int64_t unix_ms);

 private:
  Store* store_;
  std::function<void(const std::string&)> warn_;
  std::mutex mu_;
  bool loaded_ = false;
  bool warned_ = false;
  RunEvents events_;
};

}  // namespace baton::fleet
