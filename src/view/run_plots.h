// A run's plots as ms-swift names them, and the fleet's cost timeline, from the run's documents.
//
// ms-swift (swift/utils/tb_utils.py plot_images, called from swift/llm/train/sft.py with
// images_dir = {output_dir}/images and smooth_key ['train/loss'], weight 0.9) plots every
// tensorboard scalar tag into images/<tag with '/' -> '_'>.png. The tags are HF Trainer's
// TensorBoardCallback's (rewrite_logs): a key "eval_x" becomes "eval/x", any other "train/x",
// over the lines of the trainer's log_history. So: images/train_loss.png,
// train_learning_rate.png, train_grad_norm.png, train_token_acc.png, train_epoch.png,
// eval_loss.png, eval_token_acc.png ... and the summary line's train_train_runtime.png etc.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "fleet/provider.h"
#include "fleet/report.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"
#include "view/plots.h"

namespace baton::view {

// Where a run's plots go, relative to the run's folder (or report folder): ms-swift's.
inline constexpr char kImagesDir[] = "images";
// The instance timeline with its cost, beside ms-swift's plots.
inline constexpr char kCostPlotName[] = "cost.png";
// At most this many scalar plots are drawn (a log with more keys is not Baton's).
inline constexpr size_t kMaxLogPlots = 64;

// One logged scalar: its tensorboard tag, its file name and its (step, value) points in order.
struct LogScalarSeries {
  std::string tag;        // "train/loss"
  std::string file_name;  // "train_loss.png"
  std::vector<PlotPoint> points;
};

// The scalars of logging.jsonl's text (ms-swift's lines; train/run_log.h LogHistory: the
// progress keys ms-swift's printer adds are not scalars of the log history), in the order their
// keys first appear. Values that are not numbers are skipped; a second value of a tag at the
// same step replaces the first. (The ui's ReadLogSeries in view/run_view.h reads the same lines
// for the web page; one may replace the other.)
std::vector<LogScalarSeries> ReadLogScalarSeries(const std::string& log_text);

// Writes one PNG per series through `put(file_name, png)` (e.g. into <dir>/images/), train/loss
// smoothed as ms-swift does. Returns the file names written. A name that is not a safe file
// name (a key of a tampered log) or a series that cannot be drawn is skipped with a warning
// through `warn`; an error of `put` is returned.
using PutFile = std::function<Status(const std::string& name, const std::string& data)>;
Result<std::vector<std::string>> WriteLogPlots(const std::vector<LogScalarSeries>& series,
                                               const PutFile& put,
                                               const std::function<void(const std::string&)>& warn);

// The timeline of a fleet's instances, billed as `report` bills them (BuildReport's ledger
// lines are the instances' in order).
CostTimeline CostTimelineFromFleet(const fleet::FleetSpec& spec,
                                   const std::vector<fleet::Instance>& instances,
                                   const fleet::FleetReport& report, double now);

// The timeline of a cloud fleet's ledger (fleet/ledger.json): to `now_unix_ms` while an instance
// is alive, else to the last end. With the job's fleet spec, instances are billed as `baton fleet
// status` bills them (their offer's price unless the cloud billed them) and compared with all
// on-demand using `progress` (max_steps and the steps per second of the log); an offer the spec
// does not list is an error naming it. Without a spec only what the cloud billed is known.
Result<CostTimeline> CostTimelineFromLedger(const FleetLedger& ledger, const fleet::FleetSpec* spec,
                                            const fleet::RunProgress& progress,
                                            int64_t now_unix_ms);

// The text of the run's logging.jsonl; NotFound naming its URL when the run has none.
Result<std::string> ReadRunLogText(Store* store);

// Writes into <out_dir>/images/ the plots of the run in `store` (its logging.jsonl) and, given
// `cost`, cost.png; returns the paths written. A run without a log is NotFound (ReadRunLogText),
// unless there is a `cost` to draw (a warning then); a plot that cannot be drawn is skipped with
// a warning through `warn`.
Result<std::vector<std::string>> WriteRunImages(
    Env* env, Store* store, const std::string& out_dir, const CostTimeline* cost,
    const std::function<void(const std::string&)>& warn);

// The run's max_steps and steps per second as its log last said (for the on-demand baseline);
// zeros when the log says nothing.
fleet::RunProgress ProgressFromLog(const std::string& log_text);

}  // namespace baton::view
