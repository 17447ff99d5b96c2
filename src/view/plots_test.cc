#include "view/plots.h"

#include <gtest/gtest.h>

#include <limits>

#include "png_test_util.h"
#include "run/layout.h"
#include "view/run_plots.h"

namespace baton::view {
namespace {

using testing::ColourAround;
using testing::CountPixels;
using testing::DecodedPng;
using testing::DecodePng;
using testing::MarkAt;

const std::vector<PlotPoint> kLoss = {{1, 3.2}, {2, 2.9}, {3, 2.95}, {4, 2.1},  {5, 1.4},
                                      {6, 1.5}, {7, 0.9}, {8, 0.8},  {9, 0.85}, {10, 0.5}};

TEST(LinePlotTest, EveryPointIsDrawnWhereTheFrameMapsIt) {
  LinePlotOptions o;
  o.title = "train/grad_norm";
  Result<std::string> png = RenderLinePlotPng(kLoss, o);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  DecodedPng img = DecodePng(*png);
  ASSERT_TRUE(img.ok);
  EXPECT_EQ(img.width, 800);
  EXPECT_EQ(img.height, 500);
  PlotFrame f = LinePlotFrame(kLoss, o);
  for (const PlotPoint& p : kLoss) {
    EXPECT_TRUE(MarkAt(img, f.PixelX(p.x), f.PixelY(p.y), kCurveColour))
        << "(" << p.x << ", " << p.y << ") at pixel " << f.PixelX(p.x) << "," << f.PixelY(p.y);
  }
  // The data range fills the plot area: the first and last points are near its edges.
  EXPECT_NEAR(f.PixelX(1), f.left + (f.right - f.left) / 22, 2);
  EXPECT_NEAR(f.PixelY(0.5), f.bottom - (f.bottom - f.top) / 22, 2);
  // Where the data is not (the top right: the loss fell), no curve.
  EXPECT_FALSE(ColourAround(img, f.PixelX(9), f.PixelY(3.0), kCurveColour, 10));
  // A line joins the points: far more curve pixels than ten marks make.
  EXPECT_GT(CountPixels(img, kCurveColour), 10 * 40u);
}

TEST(LinePlotTest, SmoothedCurveOverTheRawOneAsMsSwift) {
  LinePlotOptions o;
  o.title = "train/loss";
  o.smooth = true;
  Result<std::string> png = RenderLinePlotPng(kLoss, o);
  ASSERT_TRUE(png.ok());
  DecodedPng img = DecodePng(*png);
  ASSERT_TRUE(img.ok);
  PlotFrame f = LinePlotFrame(kLoss, o);
  std::vector<double> ys;
  for (const PlotPoint& p : kLoss) ys.push_back(p.y);
  std::vector<double> smooth = TensorboardSmoothing(ys, 0.9);
  for (size_t i = 0; i < kLoss.size(); ++i) {
    EXPECT_TRUE(ColourAround(img, f.PixelX(kLoss[i].x), f.PixelY(smooth[i]), kCurveColour, 1))
        << "smoothed point " << i;
    // A raw point away from the smoothed curve shows in the raw colour.
    if (std::abs(f.PixelY(smooth[i]) - f.PixelY(kLoss[i].y)) > 8) {
      EXPECT_TRUE(MarkAt(img, f.PixelX(kLoss[i].x), f.PixelY(kLoss[i].y), kRawCurveColour))
          << "raw point " << i;
    }
  }
}

TEST(LinePlotTest, TensorboardSmoothingIsMsSwifts) {
  // swift/utils/tb_utils.py tensorboard_smoothing: x = x * w + v; norm = norm * w + 1; x / norm.
  std::vector<double> s = TensorboardSmoothing({1, 2, 3}, 0.9);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0], 1);
  EXPECT_NEAR(s[1], 2.9 / 1.9, 1e-12);
  EXPECT_NEAR(s[2], (2.9 * 0.9 + 3) / (1.9 * 0.9 + 1), 1e-12);
}

TEST(LinePlotTest, OnePointIsAMarkAndAFlatSeriesHasARange) {
  LinePlotOptions o;
  std::vector<PlotPoint> one = {{5, 2.0}};
  Result<std::string> png = RenderLinePlotPng(one, o);
  ASSERT_TRUE(png.ok());
  DecodedPng img = DecodePng(*png);
  PlotFrame f = LinePlotFrame(one, o);
  EXPECT_LT(f.x_min, 5);
  EXPECT_GT(f.x_max, 5);
  EXPECT_TRUE(MarkAt(img, f.PixelX(5), f.PixelY(2), kCurveColour));
  std::vector<PlotPoint> flat = {{1, 0}, {2, 0}, {3, 0}};
  png = RenderLinePlotPng(flat, o);
  ASSERT_TRUE(png.ok());
  img = DecodePng(*png);
  f = LinePlotFrame(flat, o);
  EXPECT_LT(f.y_min, 0);
  EXPECT_GT(f.y_max, 0);
  for (const PlotPoint& p : flat) {
    EXPECT_TRUE(MarkAt(img, f.PixelX(p.x), f.PixelY(p.y), kCurveColour));
  }
}

TEST(LinePlotTest, RefusesWhatCannotBeDrawn) {
  LinePlotOptions o;
  o.title = "train/loss";
  Result<std::string> r = RenderLinePlotPng({}, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = RenderLinePlotPng({{1, 1}, {2, std::nan("")}}, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("train/loss"), std::string::npos) << r.status().message();
  r = RenderLinePlotPng({{1, 1}, {2, 1e308}, {3, -1e308}}, o);  // a span beyond a double
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  o.width = 100000;
  r = RenderLinePlotPng({{1, 1}}, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(CostTimelineTest, BarsInTheirColoursFromLaunchToEnd) {
  CostTimeline t;
  t.title = "cost";
  t.end = 3600;
  const TimelineBar spot{.instance = "i-1",
                         .offer = "t@z1/spot",
                         .launched = 0,
                         .running = 300,
                         .notice = 1200,
                         .ended = 1320,
                         .end = "preempted",
                         .cost = 0.4};
  const TimelineBar od{.instance = "i-2",
                       .offer = "t@z1/on-demand",
                       .spot = false,
                       .launched = 1320,
                       .running = 1600,
                       .ended = 3600,
                       .end = "completed",
                       .cost = 2.5};
  t.bars = {spot, od};
  t.total_cost = 2.9;
  t.on_demand_cost = 4.0;
  Result<std::string> png = RenderCostTimelinePng(t);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  DecodedPng img = DecodePng(*png);
  ASSERT_TRUE(img.ok);
  TimelineFrame f = CostTimelineFrame(t);
  EXPECT_EQ(img.width, f.width);
  EXPECT_EQ(img.height, f.height);
  // Training: full colour; booting: the light shade, not the full one.
  EXPECT_TRUE(ColourAround(img, f.PixelX(800), f.RowCenterY(0), kSpotColour, 0));
  EXPECT_FALSE(ColourAround(img, f.PixelX(150), f.RowCenterY(0), kSpotColour, 0));
  EXPECT_FALSE(ColourAround(img, f.PixelX(150), f.RowCenterY(0), 0xFFFFFF, 0));
  EXPECT_TRUE(ColourAround(img, f.PixelX(2600), f.RowCenterY(1), kOnDemandColour, 0));
  // Before its launch, the second row is empty; after its end, the first.
  // (white, or a grid line's light grey: no bar's shade)
  EXPECT_TRUE(testing::NearColour(img.At(f.PixelX(600), f.RowCenterY(1)), 0xFFFFFF, 40));
  EXPECT_FALSE(ColourAround(img, f.PixelX(3000), f.RowCenterY(0), kSpotColour, 3));
  EXPECT_FALSE(ColourAround(img, f.PixelX(3000), f.RowCenterY(0), kOnDemandColour, 3));
}

TEST(CostTimelineTest, RefusesNonFiniteTimesAndTooManyBars) {
  CostTimeline t;
  t.end = 10;
  TimelineBar b;
  b.instance = "i-bad";
  b.ended = std::nan("");
  t.bars = {b};
  Result<std::string> r = RenderCostTimelinePng(t);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("i-bad"), std::string::npos);
  t.bars = std::vector<TimelineBar>(201);
  EXPECT_EQ(RenderCostTimelinePng(t).status().code(), StatusCode::kInvalidArgument);
  t.bars.clear();
  EXPECT_TRUE(RenderCostTimelinePng(t).ok());  // no instances yet: an empty chart
}

constexpr char kLog[] =
    R"j({"loss": 2.5, "grad_norm": 1.5, "learning_rate": 0.0001, "token_acc": 0.3, "epoch": 0.5, "global_step/max_steps": "1/2", "percentage": "50.00%", "elapsed_time": "1s", "remaining_time": "1s", "memory(GiB)": 0.1, "train_speed(iter/s)": 1.0})j"
    "\n"
    R"j({"eval_loss": 2.4, "eval_token_acc": 0.31, "eval_runtime": 0.1, "epoch": 0.5, "global_step/max_steps": "1/2", "percentage": "50.00%", "elapsed_time": "1s", "remaining_time": "1s"})j"
    "\n"
    R"j({"loss": 2.0, "grad_norm": 1.2, "learning_rate": 0.00005, "token_acc": 0.4, "epoch": 1.0, "global_step/max_steps": "2/2", "percentage": "100.00%", "elapsed_time": "2s", "remaining_time": "0s", "memory(GiB)": 0.1, "train_speed(iter/s)": 1.0})j"
    "\n"
    R"j({"train_runtime": 2.0, "train_loss": 2.25, "epoch": 1.0, "global_step/max_steps": "2/2", "percentage": "100.00%", "elapsed_time": "2s", "remaining_time": "0s"})j"
    "\n"
    R"j({"last_model_checkpoint": "/r/checkpoint-2", "global_step": 2, "log_history": []})j"
    "\n";

TEST(LogScalarSeriesTest, TagsAndFileNamesAreMsSwifts) {
  std::vector<LogScalarSeries> s = ReadLogScalarSeries(kLog);
  std::vector<std::string> files;
  for (const LogScalarSeries& one : s) files.push_back(one.file_name);
  EXPECT_EQ(files,
            (std::vector<std::string>{
                "train_loss.png", "train_grad_norm.png", "train_learning_rate.png",
                "train_token_acc.png", "train_epoch.png", "eval_loss.png", "eval_token_acc.png",
                "eval_runtime.png", "train_train_runtime.png", "train_train_loss.png"}));
  ASSERT_EQ(s[0].tag, "train/loss");
  ASSERT_EQ(s[0].points.size(), 2u);
  EXPECT_EQ(s[0].points[0].x, 1);
  EXPECT_EQ(s[0].points[0].y, 2.5);
  EXPECT_EQ(s[0].points[1].x, 2);
  EXPECT_EQ(s[0].points[1].y, 2.0);
  EXPECT_EQ(s[4].tag, "train/epoch");  // the eval line's epoch at step 1 is the same point
  EXPECT_EQ(s[4].points.size(), 2u);
  EXPECT_EQ(s[5].tag, "eval/loss");
}

TEST(LogScalarSeriesTest, KeysThatAreNoFileNameAreSkippedWithAWarning) {
  std::string log =
      "{\"loss\": 1.0, \"bad\\u0001key\": 2.0, \"../../x\": 3.0, \"global_step/max_steps\": "
      "\"1/1\"}\n";
  std::vector<std::string> warnings;
  std::vector<std::string> names;
  Result<std::vector<std::string>> written = WriteLogPlots(
      ReadLogScalarSeries(log),
      [&](const std::string& name, const std::string&) {
        names.push_back(name);
        return Status::Ok();
      },
      [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(written.ok());
  // "../../x" becomes the one file name "train_.._.._x.png": no folder is climbed.
  EXPECT_EQ(names, (std::vector<std::string>{"train_loss.png", "train_.._.._x.png"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("bad"), std::string::npos) << warnings[0];
}

// A cloud fleet's ledger: i-a on `spot`, noticed at 600 s and preempted at 720 s (the cloud
// billed 0.25), then i-b on `on_demand` from 720 s, running from 780 s and still alive.
FleetLedger TwoInstanceLedger(const std::string& spot, const std::string& on_demand) {
  FleetLedger l{.run = "r", .provider = "aliyun", .started_unix_ms = 1000000};
  l.instances = {
      {.id = "i-a",
       .offer = spot,
       .launched_unix_ms = 1000000,
       .running_unix_ms = 1060000,
       .notice_unix_ms = 1600000,
       .ended_unix_ms = 1720000,
       .end_reason = "preempted",
       .billed_cost = 0.25},
      {.id = "i-b", .offer = on_demand, .launched_unix_ms = 1720000, .running_unix_ms = 1780000}};
  return l;
}

TEST(CostTimelineTest, FromALedgerBilledByTheCloudOrUnknown) {
  FleetLedger l = TwoInstanceLedger("t@z/spot", "t@z/on-demand");
  Result<CostTimeline> t = CostTimelineFromLedger(l, nullptr, {}, 2000000);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->bars.size(), 2u);
  EXPECT_TRUE(t->bars[0].spot);
  EXPECT_FALSE(t->bars[1].spot);
  EXPECT_EQ(t->bars[0].notice, 600);
  EXPECT_EQ(t->bars[0].ended, 720);
  EXPECT_EQ(t->bars[0].cost, 0.25);
  EXPECT_EQ(t->bars[1].cost, -1);
  EXPECT_EQ(t->total_cost, -1);  // one cost is unknown
  EXPECT_EQ(t->end, 1000);       // i-b is alive: to now
  EXPECT_TRUE(RenderCostTimelinePng(*t).ok());
}

TEST(CostTimelineTest, ALedgerOutOfRangeIsRefusedOrKeptInTheFrame) {
  // A ledger is read from the bucket: its times may be anything an int64 holds.
  FleetLedger l{.run = "r", .provider = "aliyun", .started_unix_ms = 1000000};
  l.instances = {{.id = "i-early",
                  .offer = "t@z/spot",
                  .launched_unix_ms = 400000,
                  .running_unix_ms = 460000,
                  .ended_unix_ms = 1600000,
                  .end_reason = "stopped"}};
  Result<CostTimeline> t = CostTimelineFromLedger(l, nullptr, {}, 2000000);
  ASSERT_TRUE(t.ok());
  Result<std::string> png = RenderCostTimelinePng(*t);
  ASSERT_TRUE(png.ok());
  TimelineFrame f = CostTimelineFrame(*t);
  // Launched and running 10 minutes before the run's start: drawn from the start.
  EXPECT_EQ(t->bars[0].launched, 0);
  EXPECT_EQ(t->bars[0].running, 0);
  EXPECT_EQ(f.t_min, 0);
  EXPECT_TRUE(ColourAround(DecodePng(*png), f.PixelX(300), f.RowCenterY(0), kSpotColour, 0));
  l.instances[0].ended_unix_ms = std::numeric_limits<int64_t>::max();
  t = CostTimelineFromLedger(l, nullptr, {}, 2000000);
  ASSERT_TRUE(t.ok());
  Result<std::string> refused = RenderCostTimelinePng(*t);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("i-early"), std::string::npos);
}

TEST(CostTimelineTest, FromALedgerWithTheJobsOffersAsFleetStatusBillsIt) {
  fleet::FleetSpec spec;
  spec.provider = "aliyun";
  spec.offers = {{.instance_type = "t", .zone = "z", .price_per_hour = 0.5},
                 {.instance_type = "t",
                  .zone = "z",
                  .billing = fleet::Billing::kOnDemand,
                  .price_per_hour = 2.0}};
  FleetLedger l = TwoInstanceLedger(spec.offers[0].Name(), spec.offers[1].Name());
  l.instances[1].ended_unix_ms = 5320000;
  l.instances[1].end_reason = "completed";
  fleet::RunProgress progress;
  progress.total = 80;
  progress.rate = 0.1;  // steps per second: 800 s of training
  Result<CostTimeline> t = CostTimelineFromLedger(l, &spec, progress, 9000000);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->bars.size(), 2u);
  EXPECT_EQ(t->bars[0].cost, 0.25);         // what the cloud billed
  EXPECT_NEAR(t->bars[1].cost, 2.0, 1e-9);  // an hour at the offer's price
  EXPECT_NEAR(t->total_cost, 2.25, 1e-9);
  EXPECT_NEAR(t->on_demand_cost, 800.0 / 3600 * 2.0, 1e-9);
  EXPECT_EQ(t->bars[0].end, "preempted");
  EXPECT_EQ(t->bars[0].notice, 600);
  EXPECT_EQ(t->end, 4320);  // all ended: to the last end, not now
  l.instances[1].offer = "gone@z/on-demand";
  t = CostTimelineFromLedger(l, &spec, progress, 9000000);
  EXPECT_EQ(t.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("gone@z/on-demand"), std::string::npos);
}

}  // namespace
}  // namespace baton::view
