// The run's plots and `baton train`'s progress bar through the `baton` binary (issue 18): a
// finished `baton train` leaves ms-swift's images/*.png in its output_dir, `baton report RUN
// --out DIR` draws them (and cost.png from a fleet ledger) again, and on a terminal the trainer
// keeps a progress bar redrawn in place below its log lines. The PNGs are decoded and checked
// by their pixels: the curve is where the log's numbers put it.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>

#include <string>
#include <vector>

#include "base/env.h"
#include "base/json.h"
#include "cli_process.h"
#include "png_test_util.h"
#include "run/layout.h"
#include "store/store.h"
#include "test_paths.h"
#include "test_util.h"
#include "tiny_model.h"
#include "view/plots.h"
#include "view/run_plots.h"

namespace baton::testing {
namespace {

std::vector<std::string> TrainArgv(const std::string& model, const std::string& out) {
  return {BATON_BINARY,
          "train",
          "--model",
          model,
          "--dataset",
          SourcePath("examples/data/self_cognition.jsonl") + "#8",
          "--model_name",
          "小巴",
          "Baton",
          "--model_author",
          "巴顿团队",
          "Baton Team",
          "--output_dir",
          out,
          "--max_steps",
          "3",
          "--gradient_accumulation_steps",
          "1",
          "--logging_steps",
          "1",
          "--save_steps",
          "3",
          "--split_dataset_ratio",
          "0.25",
          "--eval_steps",
          "3",
          "--max_length",
          "96",
          "--template",
          "chatml"};
}

// The points of `tag` in the run's log, as the report reads them.
std::vector<view::PlotPoint> LoggedPoints(const std::string& run, const std::string& tag) {
  Result<std::string> log = Env::Default()->ReadFile(run + "/" + kRunLogName);
  EXPECT_TRUE(log.ok());
  for (const view::LogScalarSeries& s : view::ReadLogScalarSeries(log.ok() ? *log : "")) {
    if (s.tag == tag) return s.points;
  }
  ADD_FAILURE() << "no " << tag << " in the log";
  return {};
}

// The PNG at `path` is ms-swift's size, not blank, and has `colour` at every point's pixel
// (with `marks`, a point's mark centred there).
void ExpectCurve(const std::string& path, const std::vector<view::PlotPoint>& points,
                 const std::vector<view::PlotPoint>& drawn, uint32_t colour, bool marks) {
  Result<std::string> bytes = Env::Default()->ReadFile(path);
  ASSERT_TRUE(bytes.ok()) << path;
  DecodedPng png = DecodePng(*bytes);
  ASSERT_TRUE(png.ok) << path << " is not a PNG";
  EXPECT_EQ(png.width, 800);
  EXPECT_EQ(png.height, 500);
  EXPECT_LT(CountPixels(png, 0xFFFFFF, 0), png.pixels.size() * 98 / 100) << path << " is blank";
  view::LinePlotOptions o;
  const view::PlotFrame f = view::LinePlotFrame(points, o);
  ASSERT_FALSE(drawn.empty());
  for (const view::PlotPoint& p : drawn) {
    EXPECT_TRUE(marks ? MarkAt(png, f.PixelX(p.x), f.PixelY(p.y), colour)
                      : ColourAround(png, f.PixelX(p.x), f.PixelY(p.y), colour, 1))
        << path << ": (" << p.x << ", " << p.y << ") not drawn at " << f.PixelX(p.x) << ","
        << f.PixelY(p.y);
  }
}

class ReportCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(WriteTinyModel(tmp_.Sub("model"))); }
  ScopedTempDir tmp_;
};

// The view a report.html carries (its <script id="baton-data"> element).
Result<Json> InlinedView(const std::string& path) {
  BATON_ASSIGN_OR_RETURN(std::string html, Env::Default()->ReadFile(path));
  const std::string tag = "<script id=\"baton-data\" type=\"application/json\">";
  size_t open = html.find(tag);
  if (open == std::string::npos) return NotFound("{}: no inlined data", path);
  open += tag.size();
  size_t close = html.find("</script>", open);
  if (close == std::string::npos) return Corruption("{}: the data element does not end", path);
  return ParseJson(html.substr(open, close - open), path);
}

TEST_F(ReportCliTest, TrainWritesMsSwiftsPlotsAndReportDrawsThemAgain) {
  const std::string run = tmp_.Sub("run");
  ProcessResult train = RunProcess(TrainArgv(tmp_.Sub("model"), run), {}, tmp_.Sub("train.log"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  // Not a terminal: the lines as before, no bar and no escape sequences.
  EXPECT_EQ(train.output.find('\033'), std::string::npos) << train.output;
  EXPECT_NE(train.output.find("images_dir: " + run + "/images"), std::string::npos) << train.output;
  const std::vector<std::string> names = {
      "train_loss.png",  "train_grad_norm.png", "train_learning_rate.png", "train_token_acc.png",
      "train_epoch.png", "eval_loss.png",       "eval_token_acc.png"};
  for (const std::string& n : names) {
    EXPECT_TRUE(Env::Default()->FileExists(run + "/images/" + n)) << n;
  }

  const std::string out = tmp_.Sub("report");
  ProcessResult report =
      RunProcess({BATON_BINARY, "report", run, "--out", out}, {}, tmp_.Sub("report.log"));
  ASSERT_EQ(report.exit_code, 0) << report.output;
  for (const std::string& n : names) {
    EXPECT_NE(report.output.find("wrote " + out + "/images/" + n), std::string::npos)
        << n << ": " << report.output;
    EXPECT_EQ(*Env::Default()->ReadFile(out + "/images/" + n),
              *Env::Default()->ReadFile(run + "/images/" + n))
        << n << ": the report and the run drew it differently";
  }
  EXPECT_FALSE(Env::Default()->FileExists(out + "/images/cost.png"));  // no fleet ran it
  // report.html, in the run's folder (train) and in --out (report): the run's page with the
  // run's own curves inlined.
  for (const std::string& html : {run + "/report.html", out + "/report.html"}) {
    Result<Json> data = InlinedView(html);
    ASSERT_TRUE(data.ok()) << html << ": " << data.status().ToString();
    ASSERT_TRUE((*data)["curves"].contains("loss")) << html;
    const Json& curve = (*data)["curves"]["loss"];
    std::vector<view::PlotPoint> logged = LoggedPoints(run, "train/loss");
    ASSERT_EQ(curve.size(), logged.size()) << html;
    EXPECT_EQ(curve.back()[1].get<double>(), logged.back().y) << html;
  }
  EXPECT_NE(report.output.find("wrote " + out + "/report.html"), std::string::npos)
      << report.output;

  std::vector<view::PlotPoint> grad = LoggedPoints(run, "train/grad_norm");
  ASSERT_EQ(grad.size(), 3u);
  ExpectCurve(out + "/images/train_grad_norm.png", grad, grad, view::kCurveColour, true);
  // The loss is smoothed (ms-swift's smooth_key): the smoothed values are the curve.
  std::vector<view::PlotPoint> loss = LoggedPoints(run, "train/loss");
  std::vector<double> ys;
  for (const view::PlotPoint& p : loss) ys.push_back(p.y);
  std::vector<view::PlotPoint> smoothed = loss;
  std::vector<double> s = view::TensorboardSmoothing(ys, 0.9);
  for (size_t i = 0; i < s.size(); ++i) smoothed[i].y = s[i];
  ExpectCurve(out + "/images/train_loss.png", loss, smoothed, view::kCurveColour, false);
}

TEST_F(ReportCliTest, ARunWithoutALogIsAClearError) {
  const std::string empty = tmp_.Sub("empty");
  ASSERT_TRUE(Env::Default()->CreateDirs(empty).ok());
  ProcessResult r =
      RunProcess({BATON_BINARY, "report", empty, "--out", tmp_.Sub("x")}, {}, tmp_.Sub("r.log"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no logging.jsonl in file://" + empty), std::string::npos) << r.output;
  r = RunProcess({BATON_BINARY, "report", tmp_.Sub("missing")}, {}, tmp_.Sub("m.log"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(tmp_.Sub("missing")), std::string::npos) << r.output;
}

TEST_F(ReportCliTest, AFleetLedgerDrawsCostPng) {
  const std::string run = tmp_.Sub("bucket/run");
  Result<std::unique_ptr<Store>> store = OpenStore(run);
  ASSERT_TRUE(store.ok());
  const int64_t t0 = 1700000000000;
  FleetLedger l{.run = "run", .provider = "aliyun", .region = "cn-hangzhou", .started_unix_ms = t0};
  l.instances = {{.id = "i-spot",
                  .offer = "ecs.t@cn-hangzhou-h/spot",
                  .launched_unix_ms = t0,
                  .running_unix_ms = t0 + 120000,
                  .notice_unix_ms = t0 + 1800000,
                  .ended_unix_ms = t0 + 1920000,
                  .end_reason = "preempted",
                  .billed_cost = 0.31},
                 {.id = "i-od",
                  .offer = "ecs.t@cn-hangzhou-h/on-demand",
                  .launched_unix_ms = t0 + 1920000,
                  .running_unix_ms = t0 + 2040000,
                  .ended_unix_ms = t0 + 5520000,
                  .end_reason = "completed",
                  .billed_cost = 1.5}};
  ASSERT_TRUE(WriteFleetLedger(store->get(), l).ok());
  ASSERT_TRUE((*store)
                  ->Put(kRunLogName,
                        R"({"loss": 2.0, "global_step/max_steps": "1/2", "percentage": "50.00%"})"
                        "\n")
                  .ok());
  const std::string out = tmp_.Sub("out");
  ProcessResult r = RunProcess({BATON_BINARY, "report", run, "--out", out}, {}, tmp_.Sub("r.log"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + out + "/images/cost.png"), std::string::npos) << r.output;
  Result<std::string> bytes = Env::Default()->ReadFile(out + "/images/cost.png");
  ASSERT_TRUE(bytes.ok());
  DecodedPng png = DecodePng(*bytes);
  ASSERT_TRUE(png.ok);
  Result<view::CostTimeline> t = view::CostTimelineFromLedger(l, nullptr, {}, 0);
  ASSERT_TRUE(t.ok());
  const view::TimelineFrame f = view::CostTimelineFrame(*t);
  EXPECT_EQ(png.width, f.width);
  EXPECT_EQ(png.height, f.height);
  // The spot instance trained from 0:02 to its notice at 0:30; the on-demand one after it.
  EXPECT_TRUE(ColourAround(png, f.PixelX(900), f.RowCenterY(0), view::kSpotColour, 0));
  EXPECT_TRUE(ColourAround(png, f.PixelX(3500), f.RowCenterY(1), view::kOnDemandColour, 0));
  // Before its launch the second row is white (or a light grey grid line): no bar's shade.
  EXPECT_TRUE(NearColour(png.At(f.PixelX(900), f.RowCenterY(1)), 0xFFFFFF, 40));
}

// Runs `argv` under a pseudo-terminal (its stdin, stdout and stderr) to its end: its exit code
// and everything it wrote.
ProcessResult RunUnderTerminal(const std::vector<std::string>& argv) {
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (std::string& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    execv(args[0], args.data());
    _exit(127);
  }
  ProcessResult r;
  if (pid < 0) return r;
  char buf[4096];
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    ssize_t n = read(master, buf, sizeof(buf));
    if (n <= 0) break;  // EIO: the child closed the terminal
    r.output.append(buf, static_cast<size_t>(n));
  }
  int status = WaitChild(pid, 10000);
  close(master);
  r.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_F(ReportCliTest, TrainKeepsAProgressBarOnATerminal) {
  const std::string run = tmp_.Sub("run");
  ProcessResult r = RunUnderTerminal(TrainArgv(tmp_.Sub("model"), run));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The bar is drawn at the start and after every step, each time over the last ("\r\033[K").
  EXPECT_NE(r.output.find("\r\033[Kstep 0/3 [--------------------] 0% | 0:00<?"), std::string::npos)
      << r.output;
  for (const char* step : {"\r\033[Kstep 1/3 [######--------------] 33% | ",
                           "\r\033[Kstep 2/3 [#############-------] 66% | ",
                           "\r\033[Kstep 3/3 [####################] 100% | "}) {
    size_t at = r.output.find(step);
    ASSERT_NE(at, std::string::npos) << step << " in " << r.output;
    std::string bar = r.output.substr(at + 3, r.output.find_first_of("\r\n", at + 3) - at - 3);
    EXPECT_NE(bar.find(" | loss "), std::string::npos) << bar;
    EXPECT_NE(bar.find(" tokens/s"), std::string::npos) << bar;
    EXPECT_NE(bar.find("<"), std::string::npos) << bar;  // elapsed<remaining
  }
  // Log lines clear the bar, print, and draw it again below them.
  size_t line = r.output.find("\r\033[K{\"loss\":");
  ASSERT_NE(line, std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\r\033[Kstep ", line), std::string::npos);
  // logging.jsonl is as before: ms-swift's lines, no terminal sequences.
  Result<std::string> log = Env::Default()->ReadFile(run + "/" + kRunLogName);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->find('\033'), std::string::npos);
  EXPECT_EQ(log->find('\r'), std::string::npos);
  EXPECT_EQ(LoggedPoints(run, "train/loss").size(), 3u);
}

}  // namespace
}  // namespace baton::testing
