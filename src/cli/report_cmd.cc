// baton report RUN [--out DIR]: a run's plots, from its bucket. RUN is the run's store URL or
// folder (a `baton train --output_dir`), or a job file (its store, and its fleet's prices).
// Writes DIR/images/<tag>.png for every scalar of logging.jsonl, named as ms-swift names them
// (train_loss.png, train_learning_rate.png, eval_loss.png, ...; view/run_plots.h), and
// DIR/images/cost.png, the instance timeline with its cost, when the run has a fleet ledger, and
// DIR/report.html: `baton ui`'s page with the run's view inlined, to keep or send (view/ui_page.h).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/strings.h"
#include "cli/agent_job.h"
#include "cli/commands.h"
#include "fleet/spec.h"
#include "job/job_spec.h"
#include "run/layout.h"
#include "store/cache.h"
#include "store/store.h"
#include "view/run_plots.h"
#include "view/run_view.h"
#include "view/ui_page.h"

namespace baton::cli {
namespace {

struct ReportFlags {
  std::string run;
  std::string out;
};

bool IsJobFile(Env* env, const std::string& run) {
  if (run.ends_with(".yaml") || run.ends_with(".yml")) return true;
  return env->FileExists(run) && !env->IsDirectory(run);
}

// The last segment of a URL or path ("s3://b/runs/r1/" -> "r1"), for the default --out.
std::string LastSegment(std::string url) {
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  size_t q = url.find('?');
  if (q != std::string::npos) url.resize(q);
  size_t slash = url.find_last_of('/');
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

int Report(const ReportFlags& flags) {
  Env* env = Env::Default();
  std::string store_url = flags.run;
  std::string name;
  std::optional<fleet::FleetSpec> spec;
  bool local_fleet = false;
  if (IsJobFile(env, flags.run)) {
    Result<JobSpec> job = LoadJobSpec(flags.run, env);
    if (!job.ok()) return ReportError(job.status());
    // As `baton run`: the job's relative paths are taken from the folder baton runs in.
    store_url = IsRemoteUrl(job->train.output_dir) ? job->train.output_dir
                                                   : Absolute(job->train.output_dir);
    name = job->name;
    if (!job->fleet.IsNull()) {
      Result<fleet::FleetSpec> s = fleet::ParseFleetSpec(job->fleet);
      if (!s.ok()) return ReportError(s.status());
      local_fleet = s->provider == "local";
      spec = std::move(*s);
    }
  } else {
    name = LastSegment(store_url);
  }
  const std::string shown = RedactUrl(store_url);
  Result<std::unique_ptr<Store>> store = OpenStore(store_url, OpenMode::kMustExist, env);
  if (!store.ok()) return ReportError(store.status());

  std::string out = flags.out;
  if (out.empty()) {
    if (Status s = ValidatePathSegment(name, "the run's name (give --out DIR)"); !s.ok()) {
      return ReportError(s);
    }
    out = "report-" + name;
  }

  // The fleet's ledger, when a cloud fleet ran the run.
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store->get());
  if (!ledger.ok()) return ReportError(ledger.status());
  std::optional<view::CostTimeline> cost;
  if (*ledger) {
    Result<std::string> log = view::ReadRunLogText(store->get());
    fleet::RunProgress progress = log.ok() ? view::ProgressFromLog(*log) : fleet::RunProgress();
    const int64_t now_ms = static_cast<int64_t>(env->NowMicros() / 1000);
    Result<view::CostTimeline> t =
        view::CostTimelineFromLedger(**ledger, spec ? &*spec : nullptr, progress, now_ms);
    if (!t.ok() && spec) {  // the ledger names an offer the job lost: what the cloud billed
      std::fprintf(stderr, "baton report: warning: %s: %s\n",
                   JoinKey(shown, kFleetLedgerKey).c_str(), t.status().message().c_str());
      spec.reset();
      t = view::CostTimelineFromLedger(**ledger, nullptr, progress, now_ms);
    }
    if (!t.ok()) return ReportError(t.status().WithContext(JoinKey(shown, kFleetLedgerKey)));
    cost = std::move(*t);
  }
  auto warn = [](const std::string& w) {
    std::fprintf(stderr, "baton report: warning: %s\n", w.c_str());
  };
  Result<std::vector<std::string>> written =
      view::WriteRunImages(env, store->get(), out, cost ? &*cost : nullptr, warn);
  if (!written.ok()) return ReportError(written.status());
  for (const std::string& path : *written) std::printf("wrote %s\n", path.c_str());
  view::RunViewOptions view_options;
  view_options.spec = spec;
  const Json run_view = view::BuildRunView(store->get(), view_options);
  for (const Json& w : run_view.value("warnings", Json::array())) {
    if (w.is_string()) warn(w.get<std::string>());
  }
  const std::string html_path = JoinPath(out, view::kReportHtmlName);
  if (Status s = env->WriteFileAtomic(html_path, view::RenderReportHtml(run_view)); !s.ok()) {
    return ReportError(s);
  }
  std::printf("wrote %s\n", html_path.c_str());
  if (!cost) {
    std::fprintf(stderr, "baton report: no %s in %s: no %s%s\n", kFleetLedgerKey, shown.c_str(),
                 view::kCostPlotName,
                 local_fleet ? " (`baton run` draws it into its work folder's images/)" : "");
  } else if (!spec) {
    std::fprintf(stderr,
                 "baton report: %s shows what the cloud billed; give the job file for the "
                 "offers' prices and the all-on-demand comparison\n",
                 view::kCostPlotName);
  }
  std::printf("baton report: %zu plot%s of %s in %s\n", written->size(),
              written->size() == 1 ? "" : "s", shown.c_str(),
              JoinPath(out, view::kImagesDir).c_str());
  return 0;
}

}  // namespace

void AddReportCommand(CLI::App& root, Action& action) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = root.add_subcommand(
      "report",
      "a run's report: DIR/report.html (the run's page, self-contained) and its plots: "
      "DIR/images/<scalar>.png for every scalar of logging.jsonl (ms-swift's "
      "names: train_loss.png, train_learning_rate.png, eval_loss.png, ...) and cost.png (the "
      "fleet's instances and cost) when the run has a fleet ledger");
  cmd->add_option("run", flags->run,
                  "the run: its store URL or folder (baton train --output_dir), or a job file")
      ->required();
  cmd->add_option("--out", flags->out, "where to write (default ./report-<run name>)");
  cmd->callback([&action, flags] { action = [flags] { return Report(*flags); }; });
}

}  // namespace baton::cli
