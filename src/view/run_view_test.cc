// The run's view (run_view.h), its page (ui_page.h) and its server (ui_server.h), on a run
// folder written through the layout as the trainer, the agents and `baton run` write it.
#include "view/run_view.h"

#include <gtest/gtest.h>

#include <regex>

#include "base/spec_node.h"
#include "ckpt/checkpoint_manager.h"
#include "fleet/event_log.h"
#include "fleet/spec.h"
#include "net/http_client.h"
#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"
#include "view/ui_page.h"
#include "view/ui_server.h"

namespace baton::view {
namespace {

constexpr char kFleet[] = R"({"provider": "local", "policy": "spot-first", "time_scale": 60,
  "offers": [{"instance_type": "t", "zone": "z1", "spot": 3.5, "on_demand": 10}],
  "overheads": {"boot_minutes": 1, "notice_minutes": 5}})";

std::string LogLine(int step, double loss, double lr) {
  return fmt::format(
      R"x({{"loss": {}, "grad_norm": 1.5, "learning_rate": {}, "token_acc": 0.5, "epoch": 0.1, )x"
      R"x("global_step/max_steps": "{}/40", "percentage": "x", "elapsed_time": "1s", )x"
      R"x("remaining_time": "9s", "train_speed(iter/s)": 2.0}})x"
      "\n",
      loss, lr, step);
}

TEST(LogSeriesTest, EveryNumberAtItsStepTheLaterLineWinsATornLastLineWaits) {
  std::string text =
      LogLine(10, 2.0, 0.1) + LogLine(20, 1.5, 0.2) +
      // A resumed run logs step 20 again: its value is the one kept.
      LogLine(20, 1.25, 0.2) +
      R"({"eval_loss": 1.75, "eval_token_acc": 0.6, "global_step/max_steps": "20/40"})"
      "\n" +
      // The final line has no step/max: not a point.
      R"({"last_model_checkpoint": "checkpoint-40", "global_step": 40})"
      "\n" +
      R"({"loss": 9, "global_step/max_)";  // being written
  Result<LogSeries> s = ParseLogSeries(text, "run/logging.jsonl");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->at("loss").size(), 2u);
  EXPECT_EQ(s->at("loss")[0].step, 10);
  EXPECT_EQ(s->at("loss")[1].value, 1.25);
  EXPECT_EQ(s->at("eval_loss").size(), 1u);
  EXPECT_EQ(s->at("eval_loss")[0].step, 20);
  EXPECT_EQ(s->at("train_speed(iter/s)").size(), 2u);
  EXPECT_EQ(s->count("percentage"), 0u);  // a string, not a number
  EXPECT_EQ(s->count("global_step"), 0u);

  Result<LogSeries> bad =
      ParseLogSeries(LogLine(10, 2, 0.1) + "[1, 2]\n" + LogLine(20, 1, 0.1), "run/logging.jsonl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("run/logging.jsonl:2"), std::string::npos)
      << bad.status().ToString();
  Result<LogSeries> bad_step = ParseLogSeries(R"({"loss": 1, "global_step/max_steps": "ten/40"})"
                                              "\n",
                                              "log");
  ASSERT_FALSE(bad_step.ok());
  EXPECT_NE(bad_step.status().message().find("log:1"), std::string::npos);
}

// A run as `baton run` leaves it: its ledger (with the fleet section), heartbeats, log, events
// and checkpoints, and one checkpoint folder without a manifest.
class RunViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<FileStore>(Env::Default(), dir_.path());
    ledger_.run = "demo";
    ledger_.provider = "local";
    ledger_.started_unix_ms = kT0;
    ledger_.fleet_spec = *ParseJson(kFleet, "fleet");
    LedgerInstance a;
    a.id = "i-001-z1-spot";
    a.offer = "t@z1/spot";
    a.launched_unix_ms = kT0;
    a.running_unix_ms = kT0 + 3000;
    a.notice_unix_ms = kT0 + 10000;
    a.ended_unix_ms = kT0 + 12000;
    a.end_reason = "preempted";
    LedgerInstance b;
    b.id = "i-002-z1-od";
    b.offer = "t@z1/on-demand";
    b.launched_unix_ms = kT0 + 12000;
    b.running_unix_ms = kT0 + 15000;
    ledger_.instances = {a, b};
    ASSERT_TRUE(WriteFleetLedger(store_.get(), ledger_).ok());
    Heartbeat hb;
    hb.run = "demo";
    hb.instance = b.id;
    hb.billing = "on-demand";
    hb.state = AgentState::kTraining;
    hb.started_unix_ms = kT0 + 13000;
    hb.updated_unix_ms = kT0 + 20000;
    hb.global_step = 25;
    hb.resumed_step = 10;
    hb.max_steps = 40;
    hb.tokens_per_second = 1234.5;
    hb.cold_start =
        ColdStart{.total = 9.5, .download = 6, .digest = 0, .load = 2, .data = 0.5, .resume = 0.25};
    ASSERT_TRUE(WriteHeartbeat(store_.get(), hb).ok());
    // The killed instance's last heartbeat says "training" for ever: it is not what runs now.
    Heartbeat stale = hb;
    stale.instance = a.id;
    stale.billing = "spot";
    stale.started_unix_ms = kT0 + 1000;
    stale.updated_unix_ms = kT0 + 11000;
    stale.global_step = 12;
    stale.tokens_per_second = 999;
    stale.cold_start.reset();  // its agent never reported one
    ASSERT_TRUE(WriteHeartbeat(store_.get(), stale).ok());
    ASSERT_TRUE(store_->Put(kRunLogName, LogLine(10, 2.0, 0.1) + LogLine(20, 1.5, 0.2)).ok());
    CheckpointManager manager(store_.get(), "");
    ASSERT_TRUE(manager.Commit(20, {{"adapter_config.json", "{}"}}).ok());
    ASSERT_TRUE(store_->Put("checkpoint-30/adapter_config.json", "{}").ok());
    fleet::EventLog events(store_.get(), nullptr);
    events.Add("launching i-001", kT0);
    events.Add("notice for i-001", kT0 + 10000);
  }

  static constexpr int64_t kT0 = 1'700'000'000'000;
  testing::ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
  FleetLedger ledger_;
};

TEST_F(RunViewTest, GathersEveryDocumentOfTheBucket) {
  RunViewOptions o;
  o.now_unix_ms = kT0 + 21000;
  Json v = BuildRunView(store_.get(), o);
  EXPECT_EQ(v["warnings"], Json::array()) << v["warnings"].dump();
  EXPECT_EQ(v["name"], "demo");
  EXPECT_EQ(v["complete"], false);
  EXPECT_EQ(v["progress"]["step"], 25);  // the heartbeat is ahead of the log
  EXPECT_EQ(v["progress"]["max_steps"], 40);
  EXPECT_EQ(v["progress"]["tokens_per_second"], 1234.5);
  EXPECT_EQ(v["progress"]["state"], "training on i-002-z1-od");
  // Its pace: 15 steps in the 5 s since it began training (the log's train_speed, 2.0, counts
  // loading too), so 15 steps to go take 5 s.
  EXPECT_DOUBLE_EQ(v["progress"]["steps_per_second"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(v["progress"]["eta_seconds"].get<double>(), 5.0);
  EXPECT_EQ(v["curves"]["loss"], Json::parse("[[10, 2.0], [20, 1.5]]"));
  EXPECT_EQ(v["curves"]["learning_rate"].size(), 2u);

  ASSERT_EQ(v["instances"].size(), 2u);
  const Json& a = v["instances"][0];
  EXPECT_EQ(a["billing"], "spot");
  EXPECT_EQ(a["zone"], "z1");
  EXPECT_EQ(a["state"], "ended");
  EXPECT_EQ(a["end_reason"], "preempted");
  // Simulated time: 60 x the real seconds: booting until its agent's first heartbeat, loading
  // until the fleet saw it train, training until the notice, stopping until it ended.
  EXPECT_EQ(a["segments"], Json::parse(R"([{"state": "booting", "from_s": 0.0, "to_s": 60.0},
      {"state": "loading", "from_s": 60.0, "to_s": 180.0},
      {"state": "training", "from_s": 180.0, "to_s": 600.0},
      {"state": "stopping", "from_s": 600.0, "to_s": 720.0}])"));
  const Json& b = v["instances"][1];
  EXPECT_EQ(b["state"], "training");
  EXPECT_EQ(b["cold_start"], Json::parse(R"({"total": 9.5, "download": 6.0, "digest": 0.0,
      "load": 2.0, "data": 0.5, "resume": 0.25})"));
  EXPECT_TRUE(a["cold_start"].is_null());
  EXPECT_EQ(b["segments"].size(), 3u);  // booting, loading, training up to now
  EXPECT_EQ(b["segments"][1]["state"], "loading");
  EXPECT_DOUBLE_EQ(b["segments"][2]["to_s"].get<double>(), 21 * 60.0);

  // Billed as the report bills: a spot for 12 simulated minutes, on-demand for 9 so far.
  ASSERT_TRUE(v["cost"].is_object()) << v.dump();
  EXPECT_NEAR(v["cost"]["so_far"].get<double>(), 3.5 * 12 / 60 + 10.0 * 9 / 60, 1e-9);
  EXPECT_EQ(v["cost"]["interruptions"], 1);
  EXPECT_GT(v["cost"]["on_demand_baseline"].get<double>(), 0);

  ASSERT_EQ(v["checkpoints"].size(), 2u);
  EXPECT_EQ(v["checkpoints"][0]["step"], 20);
  EXPECT_EQ(v["checkpoints"][0]["state"], "valid");
  EXPECT_TRUE(v["checkpoints"][0]["created_unix_ms"].is_number());
  EXPECT_GT(v["checkpoints"][0]["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(v["checkpoints"][1]["state"], "incomplete");
  EXPECT_FALSE(v["checkpoints"][1]["reason"].get<std::string>().empty());

  ASSERT_EQ(v["events"].size(), 2u);
  EXPECT_EQ(v["events"][1]["text"], "notice for i-001");
}

TEST_F(RunViewTest, AKilledAgentsLastHeartbeatIsNotWhatTrainsNow) {
  // i-001 was killed while its heartbeat said "training"; i-002 is still loading.
  Result<std::optional<Heartbeat>> b = ReadHeartbeat(store_.get(), "i-002-z1-od");
  ASSERT_TRUE(b.ok() && *b);
  Heartbeat loading = **b;
  loading.state = AgentState::kLoading;
  ASSERT_TRUE(WriteHeartbeat(store_.get(), loading).ok());
  Json v = BuildRunView(store_.get(), {});
  EXPECT_EQ(v["progress"]["state"], "waiting");
  EXPECT_EQ(v["instances"][0]["state"], "ended");
  EXPECT_EQ(v["instances"][1]["state"], "loading");
}

TEST_F(RunViewTest, WhatCannotBeReadIsNamedAndTheRestShown) {
  ASSERT_TRUE(store_->Put(kRunLogName, LogLine(10, 2.0, 0.1) + "{oops\n").ok());
  ASSERT_TRUE(store_->Put(kFleetEventsKey, "{\"format\": \"other\", \"version\": 1}").ok());
  Json v = BuildRunView(store_.get(), {});
  std::string warnings = v["warnings"].dump();
  EXPECT_NE(warnings.find("logging.jsonl:2"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("fleet/events.json"), std::string::npos) << warnings;
  EXPECT_EQ(v["instances"].size(), 2u);
  EXPECT_EQ(v["checkpoints"].size(), 2u);
}

TEST_F(RunViewTest, WithoutAFleetSectionThereIsNoBillButEverythingElse) {
  ledger_.fleet_spec = nullptr;
  ASSERT_TRUE(WriteFleetLedger(store_.get(), ledger_).ok());
  Json v = BuildRunView(store_.get(), {});
  EXPECT_TRUE(v["cost"].is_null());
  EXPECT_EQ(v["instances"].size(), 2u);
  // Given one (`baton ui JOB.yaml`), it bills.
  RunViewOptions o;
  Result<SpecNode> node = SpecNode::Parse(kFleet, "job.yaml", "fleet");
  ASSERT_TRUE(node.ok());
  Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(*node);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  o.spec = *spec;
  EXPECT_TRUE(BuildRunView(store_.get(), o)["cost"].is_object());
}

TEST(RunEventsTest, KeepsTheNewestAndCarriesOnAfterARestart) {
  testing::ScopedTempDir dir;
  FileStore store(Env::Default(), dir.path());
  {
    fleet::EventLog log(&store, nullptr);
    for (size_t i = 0; i < RunEvents::kMaxEvents + 5; ++i) log.Add(fmt::format("e{}", i), 1 + i);
  }
  fleet::EventLog restarted(&store, nullptr);
  restarted.Add("after", 9999);
  Result<std::optional<RunEvents>> ev = ReadRunEvents(&store);
  ASSERT_TRUE(ev.ok() && *ev);
  ASSERT_EQ((*ev)->events.size(), RunEvents::kMaxEvents);
  EXPECT_EQ((*ev)->events.front().text, "e6");
  EXPECT_EQ((*ev)->events.back().text, "after");
  EXPECT_TRUE(IsRunKey(kFleetEventsKey));  // `baton run --fresh` deletes it with the run
}

TEST(RunPageTest, IsSelfContainedAndInlinedDataCannotEndItsScript) {
  std::string live = RenderLivePage();
  // Chart.js and the page's own script are in the document; nothing is loaded from elsewhere.
  EXPECT_NE(live.find("Chart.js v3"), std::string::npos);
  EXPECT_NE(live.find("api/run"), std::string::npos);
  std::regex external(R"re((src|href)\s*=\s*["']?\s*(https?:)?//)re", std::regex::icase);
  EXPECT_FALSE(std::regex_search(live, external));
  EXPECT_EQ(live.find("/*BATON:"), std::string::npos);  // every marker filled
  EXPECT_EQ(live.find("@import"), std::string::npos);

  Json view = {{"run", "</script><script>alert(1)</script><!--"}, {"curves", Json::object()}};
  std::string report = RenderReportHtml(view);
  EXPECT_EQ(report.find("</script><script>alert"), std::string::npos);
  EXPECT_EQ(report.find("<!--"), std::string::npos);
  // The data element holds the view, read back as JSON it is the same.
  size_t open = report.find("<script id=\"baton-data\" type=\"application/json\">");
  ASSERT_NE(open, std::string::npos);
  open = report.find('>', open) + 1;
  size_t close = report.find("</script>", open);
  Result<Json> back = ParseJson(report.substr(open, close - open), "report.html");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, view);
}

TEST_F(RunViewTest, ServerAnswersThePageAndTheApiFromTheBucket) {
  UiServerOptions o;
  Result<std::unique_ptr<UiServer>> ui =
      UiServer::Start(std::make_unique<FileStore>(Env::Default(), dir_.path()), o);
  ASSERT_TRUE(ui.ok()) << ui.status().ToString();
  EXPECT_EQ((*ui)->url(), fmt::format("http://127.0.0.1:{}/", (*ui)->port()));
  HttpClient http;
  auto get = [&](const std::string& path) {
    HttpRequest r;
    r.url = (*ui)->url() + path;
    return http.Send(r);
  };
  Result<HttpResponse> page = get("");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->Header("content-type").find("text/html"), std::string::npos);
  Result<HttpResponse> run = get("api/run");
  ASSERT_TRUE(run.ok());
  Result<Json> j = ParseJson(run->body, "api/run");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["curves"]["loss"].size(), 2u);
  // What the bucket holds now, on every request.
  ASSERT_TRUE(
      store_
          ->Put(kRunLogName, LogLine(10, 2.0, 0.1) + LogLine(20, 1.5, 0.2) + LogLine(30, 1.0, 0.3))
          .ok());
  Result<HttpResponse> curves = get("api/curves");
  ASSERT_TRUE(curves.ok());
  EXPECT_EQ((*ParseJson(curves->body, "api/curves"))["loss"].size(), 3u);
  // Another site's name for 127.0.0.1 (DNS rebinding) is refused; localhost is this machine.
  for (const auto& [host, status] : {std::pair<std::string, long>{"evil.example:80", 403},
                                     {"evil.example", 403},
                                     {"127.0.0.1.evil.example", 403},
                                     {fmt::format("localhost:{}", (*ui)->port()), 200}}) {
    HttpRequest r;
    r.url = (*ui)->url() + "api/run";
    r.headers.emplace_back("Host", host);
    Result<HttpResponse> answer = http.Send(r);
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer->status, status) << host;
  }
  // A report to keep: the page with the view of now inlined.
  Result<HttpResponse> report = get("report.html");
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->status, 200);
  EXPECT_NE(report->body.find("[30,1.0]"), std::string::npos);
  EXPECT_NE(report->Header("content-disposition").find("report.html"), std::string::npos);
  Result<HttpResponse> missing = get("api/nothing");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  // Only IPv4 addresses: a name is refused with what to give instead.
  o.host = "my-laptop";
  Result<std::unique_ptr<UiServer>> bad =
      UiServer::Start(std::make_unique<FileStore>(Env::Default(), dir_.path()), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("my-laptop"), std::string::npos);
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
}

}  // namespace
}  // namespace baton::view
