// One zone's scripted events (market.cc, kind scripted), some of which may be keyed to the run's
// progress rather than to time: `at_step` (the event happens once the run reaches that step) and
// an outage's `steps` (capacity comes back once the run has made that much more progress). A
// progress key is pinned to the time the provider reports the progress that reaches it, and from
// then on the event is a timed one; Raw() gives the events known so far, for a Timeline.
#pragma once

#include <optional>
#include <vector>

#include "fleet/market_timeline.h"

namespace baton::fleet {

struct ScriptEntry {
  enum class Kind { kOutage, kReclaim };
  Kind kind = Kind::kReclaim;
  bool notice = true;
  // When it begins: at a time (seconds) or once the progress reaches a step (exactly one).
  std::optional<double> at, at_step;
  // How long an outage lasts: seconds, or progress made since it began (exactly one).
  std::optional<double> seconds, steps;

  bool KeyedToProgress() const { return at_step || steps; }
};

class ZoneScript {
 public:
  explicit ZoneScript(const std::vector<ScriptEntry>& entries);

  bool KeyedToProgress() const;
  // The run's progress is `done` at time t (t never decreases from call to call): pins what it
  // triggers at t. An outage's `steps` count from the progress first reported at or after its
  // begin. Returns whether anything changed (what the script knows is a function of the calls
  // that returned true).
  bool ReportProgress(double t, double done);
  // The raw events known so far: those keyed to time and those pinned. An outage whose end is
  // not known yet has only its begin (no capacity until further notice).
  std::vector<RawEvent> Raw() const;

 private:
  struct Entry {
    ScriptEntry spec;
    std::optional<double> begin, end;  // pinned (or given) times
    std::optional<double> begin_done;  // `steps` outages: the progress when it began
  };
  std::vector<Entry> entries_;
};

}  // namespace baton::fleet
