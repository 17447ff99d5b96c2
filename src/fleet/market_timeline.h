// The spot capacity of one zone over time, behind every market kind (market.cc). A source
// produces the zone's raw happenings (outage begins and ends, reclaims) in time order, a chunk at
// a time; the timeline folds them into the events a market reports (capacity lost when the first
// outage begins, back when the last one ends, reclaims only while there is capacity) and keeps
// them, so Available, NextAfter and Collect answer from one list and always agree.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "fleet/market.h"

namespace baton::fleet {

struct RawEvent {
  enum class Kind { kOutageBegin, kOutageEnd, kReclaim };
  double at = 0;
  Kind kind = Kind::kReclaim;
  bool notice = true;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Appends the next chunk of raw events (non-empty, sorted, none earlier than the previous
  // chunk's last); false when there are no more.
  virtual bool Next(std::vector<RawEvent>* out) = 0;
};

struct ZoneEvent {
  double at = 0;
  MarketEvent::Kind kind = MarketEvent::Kind::kCapacityLost;
  bool notice = true;
};

class Timeline {
 public:
  // Times are shifted by `offset`: the source's time `offset` is the timeline's 0, and what
  // happened before it shows as events at negative times (Available(0) includes them).
  Timeline(std::unique_ptr<EventSource> source, double offset)
      : source_(std::move(source)), offset_(offset) {}

  bool Available(double t);
  // The time of the first event after t, or +infinity (also when none comes within kHorizon).
  double NextAfter(double t);
  // Appends the events with from < at <= to.
  void Collect(double from, double to, std::vector<ZoneEvent>* out);

  // How far past a query NextAfter looks before it answers "never" (a zone whose capacity is
  // gone for good under a repeating script produces raw events forever, but no event).
  static constexpr double kHorizon = 1e8;  // seconds, about 3 years

 private:
  // Folds the raw events of the next instant into events_; false when the source is done.
  bool ProcessInstant();
  // Makes sure every event at or before t is known.
  void ExtendTo(double t);

  // Appends the source's next chunk to pending_; false when the source is done.
  bool Pull();
  // Makes pending_ non-empty unless the source is done; false when it is empty for good.
  bool Fill();

  std::unique_ptr<EventSource> source_;
  double offset_;
  bool source_done_ = false;
  std::deque<RawEvent> pending_;  // produced, not yet folded
  std::vector<ZoneEvent> events_;
  std::vector<std::pair<double, bool>> changes_;  // (time, capacity after it), for Available
  int outages_ = 0;  // outages in progress after the last folded instant
};

// One period of a script (sorted), repeated every `period` seconds (infinity: played once).
std::unique_ptr<EventSource> MakeScriptedSource(std::vector<RawEvent> events, double period);

struct RandomMarketParams {
  double mean_up = 0;    // seconds
  double mean_down = 0;  // seconds
  double reclaims_per_second = 0;
  double no_notice_fraction = 0;
};
// Capacity periods and outages (exponential lengths), reclaims while up (Poisson). The draws,
// in this order per cycle: the capacity period, then each reclaim (gap, notice), then the
// outage's notice and its length.
std::unique_ptr<EventSource> MakeRandomSource(const RandomMarketParams& params, uint64_t seed);

// `up[i]`: tick i of `gap` seconds has capacity. The source's time 0 is `start` seconds into
// the trace; the trace repeats after its last tick.
std::unique_ptr<EventSource> MakeTraceSource(std::vector<bool> up, double gap, double start,
                                             bool notice);

}  // namespace baton::fleet
