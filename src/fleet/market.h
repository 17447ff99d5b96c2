// A spot market: for every spot offer, when capacity exists and when a running instance is
// reclaimed, over simulated time (seconds since the run began). On-demand offers always have
// capacity. Shared by the sim provider (which jumps from event to event) and the local provider
// (which plays the events back on the wall clock, scaled, and on the run's progress).
//
//   market: {kind: always}                 # spot never interrupted (the default)
//   market:                                # scripted: events at given simulated times
//     kind: scripted
//     events:
//       - {at_minutes: 60, zone: cn-hangzhou-h, event: outage, minutes: 30}   # capacity gone
//       - {at_minutes: 90, zone: cn-hangzhou-h, event: reclaim, notice: false} # one instance taken
//     repeat_minutes: 90                   # optional: the events repeat with this period
//   market:                                # scripted on the run's progress (steps)
//     kind: scripted
//     events:
//       - {at_step: 5, zone: cn-hangzhou-h, event: reclaim}             # once step 5 is reached
//       - {at_step: 22, zone: cn-hangzhou-h, event: outage, steps: 6}   # back 6 steps later
//   market:                                # seeded random process per zone
//     kind: random
//     seed: 7
//     mean_up_hours: 4                     # capacity periods (exponential)
//     mean_down_hours: 0.5                 # outages (exponential)
//     reclaims_per_hour: 0.1               # reclaims while capacity stays (Poisson)
//     no_notice_fraction: 0.1              # share of reclaims/outages that come without notice
//   market:                                # public availability traces ("Can't Be Late")
//     kind: trace
//     zones: {us-east-1a: data/spot-traces/.../us-east-1a_v100_1.json, ...}
//     start_hours: 0                       # offset into the traces
//
// An outage or a reclaim takes every (resp. one) running spot instance of that offer: with a
// notice (the instance gets `notice` seconds to checkpoint) unless `notice: false`.
//
// Markets are not thread-safe: they extend their event lists as queries reach further in time.
//
// Details every kind shares: times may be given in hours, minutes or seconds (at_minutes,
// at_hours, ...; outage length `minutes`, `hours` or `seconds`; repeat_*, mean_up_*,
// mean_down_*, start_*). An event at time t has happened at t: Available(offer, t) already
// shows it, and Events(from, to) reports it when from < t <= to. A zone's events apply to every
// spot offer in that zone; overlapping outages are one outage (capacity comes back when the last
// ends), and a reclaim while the zone has no capacity is dropped (there is nothing to take).
//   scripted  repeat_minutes (at least 1 minute) needs every event inside one period:
//             at < repeat and at + length <= repeat. Capacity exists at t=0 unless an outage
//             starts at 0. Keys on progress: `at_step: N` (instead of a time) begins the event
//             once the run's progress, the newest step any instance reached, is N or more; an
//             outage's `steps: N` (instead of a length in time) brings capacity back once the
//             progress has grown by N since the outage began, so whatever replaced the lost
//             instances has trained first. They pin to the time the provider reports that
//             progress (ReportProgress), so a run meets them at the same steps on a slow machine
//             and on a fast one. They happen once (no repeat_*) and need a provider that counts
//             steps: `baton sim`, whose work is seconds of compute, rejects them at the key.
//   random    each zone alternates capacity periods and outages, starting with capacity at t=0;
//             its stream is seeded by `seed` and the zone's name (adding a zone does not change
//             the others). std::mt19937_64 with our own exponential and uniform draws, so the
//             same seed gives the same market on every platform.
//   trace     a trace tick with a count > 0 has capacity; the traces are replayed from
//             start_hours and wrap around at their end (the data is periodic for the simulator:
//             a run longer than the trace sees its beginning again). `notice: false` makes the
//             trace's capacity losses come without notice (default: with notice). Every spot
//             offer's zone needs a trace. The files' format: {"metadata": {"gap_seconds": N},
//             "data": [count per tick]} (data/spot-traces/README.md).
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "fleet/spec.h"

namespace baton::fleet {

struct MarketEvent {
  enum class Kind { kCapacityLost, kCapacityBack, kReclaim };
  double at = 0;
  int offer = -1;  // index into FleetSpec::offers (a spot offer)
  Kind kind = Kind::kCapacityLost;
  bool notice = true;  // kCapacityLost / kReclaim: running instances get a notice first
};

class Market {
 public:
  virtual ~Market() = default;
  // Whether `offer` has capacity at time t (on-demand offers: always).
  virtual bool Available(int offer, double t) const = 0;
  // The events with from < at <= to, by time (ties: by offer).
  virtual std::vector<MarketEvent> Events(double from, double to) const = 0;
  // The time of the first event after t, or +infinity.
  virtual double NextEventAfter(double t) const = 0;
  // The run's progress (RunProgress::done, the newest step any instance reached) is `done` at
  // time t. A provider reports it before it asks for Events(from, t), with t later than every
  // `to` it asked before, so the events it pins at t are applied there. Events keyed to progress
  // (scripted at_step, steps) are pinned to the first t whose `done` reaches them; until then the
  // market answers as if they never came. Returns whether the market changed: the calls that
  // returned true, replayed on a new market of the same spec, restore it (a restarted
  // controller). Markets without such events ignore it.
  virtual bool ReportProgress(double t, double done) { return false; }
};

// Builds the market of `spec.market`. `base_dir` resolves relative trace paths; errors name the
// place in the job file ("demo.yaml:9:20: fleet.market.events[2].zone: no spot offer in ...").
Result<std::unique_ptr<Market>> MakeMarket(const FleetSpec& spec, const std::string& base_dir);

// Parsed trace files by path, shared by the markets of one simulation: `baton sim` makes a
// market per run and start point, and parsing a 20,000-tick trace costs far more than
// simulating on it. Not thread-safe.
class TraceCache;
std::shared_ptr<TraceCache> NewTraceCache();

struct MarketOptions {
  // Reads a file the market needs (a trace), given its path joined to base_dir and normalised
  // ("examples/../data/x.json" -> "data/x.json"). Unset: the filesystem. `baton sim`'s built-in
  // scenarios read the copies compiled into the binary.
  std::function<Result<std::string>(const std::string& path)> read_file;
  // t=0 of the market is this point (seconds) of its timeline, the state there included
  // (`baton sim` starts runs at several points of a trace: FleetSpec::sim_start_seconds).
  double start_offset = 0;
  std::shared_ptr<TraceCache> trace_cache;  // null: parse every trace file
  // Whether the provider reports progress in training steps, so that events may be keyed to
  // them (at_step, steps). `baton sim` counts work in seconds of compute and sets false: such a
  // market is an error there, at the key.
  bool step_keys = true;
};
Result<std::unique_ptr<Market>> MakeMarket(const FleetSpec& spec, const std::string& base_dir,
                                           const MarketOptions& options);

}  // namespace baton::fleet
