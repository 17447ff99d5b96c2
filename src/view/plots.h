// PNG plots of a run, drawn with cairo: a line plot per logged scalar (ms-swift's
// images/train_loss.png ...) and the fleet's instance timeline with its cost (cost.png).
//
// Each renderer returns the PNG's bytes; the caller writes them (through Env or a Store). The
// data->pixel mapping a renderer uses is public (LinePlotFrame, TimelineFrame), so a test can
// decode the PNG and look for the curve where the data puts it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace baton::view {

struct PlotPoint {
  double x = 0;  // the step
  double y = 0;
};

// ms-swift's colours (swift/utils/tb_utils.py): TB_COLOR_SMOOTH for a curve (and the smoothed
// one), TB_COLOR for the raw values under a smoothed curve. 0xRRGGBB.
inline constexpr uint32_t kCurveColour = 0xFF7043;
inline constexpr uint32_t kRawCurveColour = 0xFFE2D9;

struct LinePlotOptions {
  std::string title;  // the tensorboard tag, "train/loss", as ms-swift titles it
  std::string x_label = "step";
  bool integer_x = true;  // x ticks at whole numbers (steps)
  bool smooth = false;    // the raw curve light, its smoothed curve on top (ms-swift: train/loss)
  double smooth_weight = 0.9;
  int width = 800;  // ms-swift: figsize (8, 5) at dpi 100
  int height = 500;
};

// Where a plot's data lands in its image: the plot area in pixels and the data range it shows.
struct PlotFrame {
  int width = 0, height = 0;
  double left = 0, top = 0, right = 0, bottom = 0;  // the plot area, pixels
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  double PixelX(double x) const;
  double PixelY(double y) const;
};

// Tensorboard's debiased exponential moving average, as ms-swift's tensorboard_smoothing.
std::vector<double> TensorboardSmoothing(const std::vector<double>& values, double weight);

// The frame RenderLinePlotPng draws `points` in: their range plus 5% on each side (a single
// value gets a range around it).
PlotFrame LinePlotFrame(const std::vector<PlotPoint>& points, const LinePlotOptions& options);
// Title, axes with ticks and numbers, the curve with a mark on every point (one point: the mark
// alone), and with options.smooth the smoothed curve over it. Points must be finite (they are
// InvalidArgument otherwise) and at least one.
Result<std::string> RenderLinePlotPng(const std::vector<PlotPoint>& points,
                                      const LinePlotOptions& options);

// --- the instance timeline (cost.png) --------------------------------------------------------

// One instance of the run: a bar from launch to end. Times in seconds since the run began.
struct TimelineBar {
  std::string instance;
  std::string offer;  // "type@zone/spot"
  bool spot = true;
  double launched = 0;
  double running = -1;  // began training (-1: never)
  double notice = -1;   // a reclaim notice or the fleet's stop (-1: none)
  double ended = -1;    // -1: still running at CostTimeline::end
  std::string end;      // how it ended: "preempted", "completed", ...; "" while alive
  double cost = -1;     // -1: unknown
};

struct CostTimeline {
  std::string title;
  double end = 0;  // the time the picture reaches (the run's end, or now)
  std::vector<TimelineBar> bars;
  double total_cost = -1;      // -1: unknown (an instance's cost is unknown)
  double on_demand_cost = -1;  // the same work all on-demand; -1: unknown
  std::string currency;        // shown after amounts; "" for none
};

// Colours of the bars: spot, on-demand (training), and the light shade for booting/loading.
inline constexpr uint32_t kSpotColour = 0x1E88E5;
inline constexpr uint32_t kOnDemandColour = 0xF4511E;

struct TimelineFrame {
  int width = 0, height = 0;
  double left = 0, right = 0;  // the time axis, pixels
  double top = 0;              // the first row's top
  double row_height = 0, bar_height = 0;
  double t_min = 0, t_max = 1;
  double PixelX(double t) const;
  double RowCenterY(size_t row) const;
};

TimelineFrame CostTimelineFrame(const CostTimeline& timeline);
// One row per instance: its offer, a bar in the spot or on-demand colour (light while booting
// and loading, full while training, hatched from a notice or stop to its end), how it ended and
// its cost; below, the total against all on-demand. Times must be finite; at most 200 bars.
Result<std::string> RenderCostTimelinePng(const CostTimeline& timeline);

}  // namespace baton::view
