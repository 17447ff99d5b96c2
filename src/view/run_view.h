// What a run looks like to people: its documents, read from its bucket alone through the run's
// layout (run/layout.h; ckpt/ for the checkpoints' validity, fleet/ for the bill), gathered into
// one JSON document for `baton ui`'s page, its /api/ endpoints and the report. Since the bucket is
// all it reads, it shows a local, a simulated and a cloud run alike, and carries on across
// restarts of everything else.
//
// The view document ("format": "baton-run-view", version 1):
//   run, name, complete, now_unix_ms, started_unix_ms, time_scale
//   progress     {step, max_steps, fraction, tokens_per_second, steps_per_second, eta_seconds,
//                 remaining_time, state}
//   curves       {"loss": [[step, value], ...], "learning_rate": ..., ...}   (ReadLogSeries)
//   instances    [{id, offer, instance_type, zone, billing, handoff, state, end_reason, detail,
//                  launched_unix_ms, ended_unix_ms, step, segments: [{state, from_s, to_s}],
//                  cold_start: {total, download, digest, load, data, resume} seconds or null}]
//                segments in seconds of the fleet's time since the run began (simulated time
//                for a local run: real seconds x time_scale)
//   cost         {so_far, on_demand_baseline, saving_fraction, interruptions, ...} or null
//   checkpoints  [{step, state, reason, bytes, files, created_unix_ms}]   (sizes checked)
//   events       [{unix_ms, text}], oldest first
//   warnings     what could not be read, each naming the document
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "fleet/spec.h"
#include "store/store.h"

namespace baton::view {

struct LogPoint {
  int64_t step = 0;
  double value = 0;
};
// Series name ("loss", "eval_loss", "learning_rate", ...) -> points ordered by step.
using LogSeries = std::map<std::string, std::vector<LogPoint>>;

// Every numeric value of the lines of logging.jsonl that carry a step (ms-swift's
// "global_step/max_steps": training, eval and summary lines), keyed by its name, at that step,
// ordered by step. A step logged twice (a resumed run writes its lines again) keeps the value
// of the later line. A last line without its newline is a write in progress and skipped; any
// other line that is not a JSON object is an error naming logging.jsonl:<line>. No log: empty.
Result<LogSeries> ReadLogSeries(Store* store);
Result<LogSeries> ParseLogSeries(std::string_view text, const std::string& source);

struct RunViewOptions {
  // Bills the instances. Without it: the ledger's fleet_spec, else the bucket's fleet/job.yaml;
  // with none of them the cost is null.
  std::optional<fleet::FleetSpec> spec;
  int64_t now_unix_ms = 0;  // 0: the clock
  size_t max_events = 50;   // the newest ones
};

// The view of the run in `store` (its folder). Never fails: a document that cannot be read is
// left out and named in "warnings".
Json BuildRunView(Store* store, const RunViewOptions& options);

}  // namespace baton::view
