// report.html (view/ui_page.h RenderReportHtml) in a real browser: Debian's headless Chromium
// opens the file with no server and no network, and the page draws the inlined run: every
// point of the log on its curve, one timeline row per instance, no console error.
#include <gtest/gtest.h>

#include <regex>

#include "base/env.h"
#include "cli_process.h"
#include "run/layout.h"
#include "store/file_store.h"
#include "test_util.h"
#include "view/run_view.h"
#include "view/ui_page.h"

namespace baton {
namespace {

std::string FindChromium() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (Env::Default()->FileExists(path)) return path;
  }
  return "";
}

TEST(UiReportBrowserTest, TheReportDrawsTheInlinedRunOffline) {
  std::string chromium = FindChromium();
  ASSERT_FALSE(chromium.empty())
      << "no chromium: scripts/setup.sh --test-servers installs Debian's chromium";
  testing::ScopedTempDir dir;
  FileStore store(Env::Default(), dir.Sub("run"));
  std::string log;
  for (int step = 1; step <= 7; ++step) {
    log +=
        fmt::format(R"({{"loss": {}, "grad_norm": 0.5, "learning_rate": 0.001, "token_acc": 0.25, )"
                    R"x("global_step/max_steps": "{}/7", "train_speed(iter/s)": 1.0}})x"
                    "\n",
                    10.0 / step, step);
  }
  ASSERT_TRUE(store.Put(kRunLogName, log).ok());
  FleetLedger ledger;
  ledger.run = "r";
  ledger.provider = "local";
  ledger.started_unix_ms = 1'700'000'000'000;
  for (const char* id : {"i-1", "i-2"}) {
    LedgerInstance i;
    i.id = id;
    i.offer = "t@z/spot";
    i.launched_unix_ms = ledger.started_unix_ms + (id[2] - '0') * 1000;
    i.running_unix_ms = i.launched_unix_ms + 500;
    i.ended_unix_ms = i.launched_unix_ms + 900;
    i.end_reason = id[2] == '1' ? "preempted" : "completed";
    ledger.instances.push_back(i);
  }
  ASSERT_TRUE(WriteFleetLedger(&store, ledger).ok());
  ASSERT_TRUE(WriteCompleteMarker(&store, CompleteMarker{}).ok());
  Json view = view::BuildRunView(&store, {});
  std::string page = dir.Sub("report.html");
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(page, view::RenderReportHtml(view)).ok());

  testing::ProcessResult r =
      testing::RunProcess({chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--user-data-dir=" + dir.Sub("profile"),
                           "--virtual-time-budget=5000", "--dump-dom", "file://" + page},
                          {}, dir.Sub("chromium.log"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.output, m, std::regex(R"(<pre id="baton-state"[^>]*>([^<]*)</pre>)")))
      << r.output.substr(0, 2000);
  std::string text = m[1].str();
  // The DOM's serialisation escapes a text node's '&', '<' and '>'; '&amp;' last.
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + 1)) {
      text.replace(at, from.size(), to);
    }
  }
  Result<Json> state = ParseJson(text, "#baton-state");
  ASSERT_TRUE(state.ok()) << state.status().ToString() << ": " << text;
  EXPECT_EQ((*state)["loaded"], true);
  EXPECT_EQ((*state)["live"], false);  // it read the inlined view, fetched nothing
  EXPECT_EQ((*state)["errors"], Json::array());
  const Json& loss = (*state)["curves"]["loss"];
  EXPECT_EQ(loss["points"], 7);
  EXPECT_EQ(loss["last_step"], 7);
  EXPECT_DOUBLE_EQ(loss["last_value"].get<double>(), 10.0 / 7);
  EXPECT_EQ((*state)["curves"]["learning_rate"]["points"], 7);
  ASSERT_EQ((*state)["timeline"].size(), 2u);
  EXPECT_EQ((*state)["timeline"][0]["end_reason"], "preempted");
  EXPECT_EQ((*state)["timeline"][1]["end_reason"], "completed");
  EXPECT_GE((*state)["timeline"][1]["bars"].get<int>(), 2);  // booting and training
}

}  // namespace
}  // namespace baton
