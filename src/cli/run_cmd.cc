// baton run JOB.yaml: the whole system on this machine. The fleet controller runs here with the
// local provider: every instance is a `baton agent` process with its own work folder and fake
// metadata server; the job's spot market (scripted, random or a trace) is played back with time
// compressed, with preemption notices and SIGKILLs; the run's store is the hand-off between them.
// At the end it prints the cost report (and writes it as JSON and CSV into the work folder).
//
//   baton run examples/demo.yaml [--work_dir DIR] [--fresh] [--max_minutes N] [--ui [PORT]]
//
// Relative paths in the job (model, datasets, store) are taken from the folder `baton run` runs
// in. Ctrl-C stops the instances with a checkpoint; run it again to carry on. A completed run
// launches nothing and shows the report it kept. --fresh first checks the whole job, then
// deletes only the run's own objects (run/layout.h IsRunKey) and a work folder `baton run` made.
// The local fleet's ledger and the controller's events go into the run's store too
// (fleet/ledger.json, fleet/events.json), so `baton ui` (or --ui) shows the run from the bucket.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "base/env.h"
#include "base/json.h"
#include "base/strings.h"
#include "ckpt/checkpoint_manager.h"
#include "cli/agent_job.h"
#include "cli/commands.h"
#include "cli/status_line.h"
#include "cli/ui_flag.h"
#include "fleet/controller.h"
#include "fleet/event_log.h"
#include "fleet/local_provider.h"
#include "fleet/market.h"
#include "fleet/report.h"
#include "fleet/spec.h"
#include "job/job_spec.h"
#include "run/layout.h"
#include "store/cache.h"
#include "store/store.h"
#include "train/trainer.h"
#include "view/run_plots.h"
#include "view/run_view.h"
#include "view/ui_page.h"

namespace baton::cli {
namespace {

struct RunFlags {
  std::string job;
  std::string work_dir;
  bool fresh = false;
  double max_minutes = 60;
  UiFlag ui;
};

// `baton run`'s mark on a work folder it made: --fresh deletes a folder named by --work_dir only
// when it carries this (or is empty), never a folder of the user's given by mistake.
constexpr char kWorkMarker[] = ".baton-run-work.json";

bool IsEmptyFolder(Env* env, const std::string& dir) {
  Result<std::vector<std::string>> names = env->ListDir(dir);
  return names.ok() && names->empty();
}

// The work folder --fresh may delete: ours by name (the default, under .cache/baton-run) or by
// its mark; an empty one holds nothing to lose. Anything else is refused before anything is
// deleted.
Status CheckWorkFolderIsOurs(Env* env, const std::string& work_dir, bool default_dir) {
  if (!env->FileExists(work_dir) || default_dir) return Status::Ok();
  if (!env->IsDirectory(work_dir)) {
    return InvalidArgument("--fresh: the work folder {} is a file", work_dir);
  }
  if (env->FileExists(JoinPath(work_dir, kWorkMarker)) || IsEmptyFolder(env, work_dir)) {
    return Status::Ok();
  }
  return InvalidArgument(
      "--fresh: {} was not made by `baton run` (no {}): not deleting it; give a new or empty "
      "--work_dir, or delete it yourself",
      work_dir, kWorkMarker);
}

// Creates the work folder, marking it as `baton run`'s when it is made now (or was empty).
Status MakeWorkFolder(Env* env, const std::string& work_dir, const std::string& run) {
  bool ours = !env->FileExists(work_dir) || IsEmptyFolder(env, work_dir);
  BATON_RETURN_IF_ERROR(env->CreateDirs(work_dir));
  if (!ours) return Status::Ok();
  Json mark = {{"format", "baton-run-work"}, {"version", 1}, {"run", run}};
  return env->WriteFileAtomic(JoinPath(work_dir, kWorkMarker), DumpJson(mark, 2) + "\n");
}

// "<store>/checkpoint-<step>": the COMPLETE marker's last checkpoint, else the newest valid one.
std::string FinalAdapter(Store* store, const std::string& shown_store) {
  Result<std::optional<CompleteMarker>> marker = ReadCompleteMarker(store);
  if (marker.ok() && *marker && (*marker)->last_model_checkpoint) {
    return JoinKey(shown_store, *(*marker)->last_model_checkpoint);
  }
  CheckpointManager manager(store, "");
  Result<std::optional<int64_t>> newest = manager.LatestValid();
  if (newest.ok() && *newest) return JoinKey(shown_store, CheckpointDir(**newest));
  return "none (no valid checkpoint)";
}

// A completed run launches nothing: it says so, and shows the report it kept (never a new one
// built from nothing).
int ShowCompleteRun(Env* env, const JobSpec& job, Store* store, const std::string& shown_store,
                    const std::string& work_dir,
                    const std::function<void(const std::string&)>& print) {
  print(fmt::format("baton run: run '{}' is complete ({}): nothing to launch", job.name,
                    shown_store));
  std::string json_path = JoinPath(work_dir, "report.json");
  std::string csv_path = JoinPath(work_dir, "report.csv");
  if (env->FileExists(json_path)) {
    Result<std::string> text = env->ReadFile(json_path);
    Result<Json> j = text.ok() ? ParseJson(*text, json_path) : Result<Json>(text.status());
    Result<fleet::FleetReport> report =
        j.ok() ? fleet::ParseReportJson(*j, json_path) : Result<fleet::FleetReport>(j.status());
    if (report.ok()) {
      std::fputs(fleet::ReportTable(*report).c_str(), stdout);
      std::printf("report: %s, %s (kept from the run)\n", json_path.c_str(), csv_path.c_str());
    } else {
      print("baton run: warning: the run's report: " + report.status().ToString());
    }
  } else {
    print(fmt::format(
        "baton run: no report in {} (the run completed with another work folder, or it was "
        "removed)",
        work_dir));
  }
  std::printf("final adapter: %s\n", FinalAdapter(store, shown_store).c_str());
  return 0;
}

int RunJob(const RunFlags& flags) {
  Env* env = Env::Default();
  // Everything is read and checked first -- the job, the fleet section, the market, the store,
  // the work folder -- and only then does --fresh delete: a typo never costs the run.
  Result<std::string> text = env->ReadFile(flags.job);
  if (!text.ok()) return ReportError(text.status());
  Result<JobSpec> job = ParseJobSpec(*text, flags.job);
  if (!job.ok()) return ReportError(job.status());
  if (job->fleet.IsNull()) {
    return ReportError(job->fleet.Error("`baton run` needs a fleet section"));
  }
  Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(job->fleet);
  if (!spec.ok()) return ReportError(spec.status());
  if (spec->provider != "local") {
    return ReportError(job->fleet.Error(
        "provider", fmt::format("`baton run` runs the local provider; '{}' is for `baton sim`",
                                spec->provider)));
  }
  std::string job_dir = flags.job.find('/') == std::string::npos
                            ? "."
                            : flags.job.substr(0, flags.job.find_last_of('/'));
  Result<std::unique_ptr<fleet::Market>> market = fleet::MakeMarket(*spec, job_dir);
  if (!market.ok()) return ReportError(market.status());

  // The agents run in their own folders: give them a copy of the job with absolute paths.
  std::string store_url = Absolute(job->train.output_dir);
  const std::string shown_store = RedactUrl(store_url);
  std::string cloud = job->cloud == "none" ? "alibaba" : job->cloud;
  Result<Json> doc = AgentJobDocument(*text, flags.job, *job, store_url, cloud);
  if (!doc.ok()) return ReportError(doc.status());
  Json& agent = (*doc)["agent"];
  agent.erase("metadata_url");  // each instance has its own fake
  if (!agent.contains("heartbeat_seconds")) agent["heartbeat_seconds"] = 1;
  Result<std::unique_ptr<Store>> store = OpenStore(store_url);
  if (!store.ok()) return ReportError(store.status());

  // The job's name is one path segment (ParseJobSpec checks it); checked again where it
  // becomes a folder.
  if (Status s = ValidatePathSegment(job->name, "job name"); !s.ok()) return ReportError(s);
  const bool default_dir = flags.work_dir.empty();
  std::string work_dir =
      default_dir ? JoinPath(Absolute(".cache/baton-run"), job->name) : Absolute(flags.work_dir);
  StatusLine term(isatty(2) != 0, /*plain_every_s=*/10);  // a log file: a line every 10 s
  auto print = [&term](const std::string& s) { term.Line(s); };
  if (flags.fresh) {
    if (Status s = CheckWorkFolderIsOurs(env, work_dir, default_dir); !s.ok()) {
      return ReportError(s);
    }
    print(fmt::format("baton run: --fresh: deleting the run's objects in {} and work folder {}",
                      shown_store, work_dir));
    Result<size_t> kept = DeleteRunObjects(store->get());
    if (!kept.ok()) return ReportError(kept.status());
    if (*kept > 0) {
      print(fmt::format("baton run: --fresh: left {} object(s) in {} that are not the run's", *kept,
                        shown_store));
    }
    if (Status s = env->DeleteRecursively(work_dir); !s.ok()) return ReportError(s);
  } else {
    Result<bool> complete = IsComplete(store->get());
    if (!complete.ok()) return ReportError(complete.status());
    if (*complete) {
      int rc = ShowCompleteRun(env, *job, store->get(), shown_store, work_dir, print);
      Result<std::unique_ptr<view::UiServer>> ui = StartUiIfAsked(flags.ui, store_url, *spec);
      if (!ui.ok()) return ReportError(ui.status());
      ServeUntilStopped(ui->get(), InstallStopSignalHandlers());
      return rc;
    }
  }
  if (Status s = MakeWorkFolder(env, work_dir, job->name); !s.ok()) return ReportError(s);
  std::string agent_job = JoinPath(work_dir, "job.yaml");
  // The copy may hold webhook tokens: the owner's only.
  if (Status s = env->WritePrivateFileAtomic(agent_job, DumpJson(*doc, 2) + "\n"); !s.ok()) {
    return ReportError(s);
  }

  // From here on the controller's lines are the run's events too (fleet/events.json).
  fleet::EventLog events(store->get(), print);
  auto fleet_print = [&term, &events](const std::string& s) {
    term.Line(s);
    events.Add(s, static_cast<int64_t>(Env::Default()->NowMicros() / 1000));
  };
  fleet::LocalProviderOptions lo;
  lo.run = job->name;
  lo.fleet_spec = job->fleet.ToJson();
  lo.baton_binary = SelfExe();
  lo.job_path = agent_job;
  lo.store_url = store_url;
  lo.work_dir = work_dir;
  lo.cloud = cloud;
  lo.print = fleet_print;
  Result<std::unique_ptr<fleet::LocalProvider>> provider =
      fleet::LocalProvider::Open(*spec, std::move(*market), lo);
  if (!provider.ok()) return ReportError(provider.status());
  fleet::LocalProvider* local = provider->get();

  fleet_print(fmt::format(
      "baton run: '{}' on the local fleet: policy {}, {} offers, time x{:g} (1 s = {:g} simulated "
      "s); store {}; instance folders and agent logs in {}/instances",
      job->name, fleet::PolicyName(spec->policy), spec->offers.size(), spec->time_scale,
      spec->time_scale, shown_store, work_dir));
  for (const fleet::Offer& o : spec->offers) {
    print(fmt::format("  offer {:<48} {:>8.2f}/h", o.Name(), o.price_per_hour));
  }

  Result<std::unique_ptr<view::UiServer>> ui = StartUiIfAsked(flags.ui, store_url, *spec);
  if (!ui.ok()) return ReportError(ui.status());
  std::atomic<bool>* stop = InstallStopSignalHandlers();
  auto real_start = std::chrono::steady_clock::now();
  auto real_now = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start).count();
  };
  fleet::ControllerOptions co;
  co.tick_seconds = std::max(1.0, spec->time_scale);  // about one real second
  co.max_seconds = flags.max_minutes * 60 * spec->time_scale;
  co.print = fleet_print;
  co.should_stop = [stop] { return stop->load(); };
  co.progress = [&](const fleet::FleetReport& r) {
    fleet::RunProgress p = local->Progress();
    std::string on = "no instance";
    for (const fleet::Instance& i : local->Instances()) {
      if (i.state == fleet::InstanceState::kEnded) continue;
      on = fmt::format("{} {}", i.id, fleet::InstanceStateName(i.state));
      if (i.state == fleet::InstanceState::kRunning) break;
    }
    term.Status(fmt::format("[t={} sim] {} | {} | cost {:.2f} | {} interruptions",
                            fleet::FormatHours(local->Now()), StepBar(p.done, p.total), on, r.cost,
                            r.interruptions),
                real_now());
  };
  fleet::Controller controller(*spec, local, co);
  Result<fleet::FleetReport> report = controller.Run();
  term.Done();
  if (!report.ok()) {
    double grace = spec->overheads.notice / spec->time_scale + 60;
    print(
        fmt::format("baton run: stopping the instances (they checkpoint; up to {:.0f} s)", grace));
    local->Shutdown(grace);
    if (stop->load()) {
      print("baton run: stopped. Run the same command again to carry on from the checkpoint.");
      return 130;
    }
    return ReportError(report.status());
  }
  std::fputs(fleet::ReportTable(*report).c_str(), stdout);
  std::string json_path = JoinPath(work_dir, "report.json");
  std::string csv_path = JoinPath(work_dir, "report.csv");
  Status s = env->WriteFileAtomic(json_path, DumpJson(fleet::ReportJson(*report), 2) + "\n");
  if (s.ok()) s = env->WriteFileAtomic(csv_path, fleet::ReportCsv({*report}));
  if (!s.ok()) return ReportError(s);
  std::printf("report: %s, %s\n", json_path.c_str(), csv_path.c_str());
  // The plots beside the report: the log's scalars as ms-swift names them, and cost.png. A run
  // that finished stays finished when one cannot be drawn.
  view::CostTimeline cost =
      view::CostTimelineFromFleet(*spec, local->Instances(), *report, local->Now());
  cost.title = fmt::format("run '{}' on the local fleet (policy {}): instances and cost", job->name,
                           report->policy);
  auto warn = [](const std::string& w) {
    std::fprintf(stderr, "baton run: warning: %s\n", w.c_str());
  };
  Result<std::vector<std::string>> images =
      view::WriteRunImages(env, store->get(), work_dir, &cost, warn);
  if (images.ok()) {
    std::printf("plots: %zu in %s\n", images->size(), JoinPath(work_dir, view::kImagesDir).c_str());
  } else {
    warn("the run's plots: " + images.status().ToString());
  }
  // report.html beside them: the run's page with its view inlined (view/ui_page.h).
  view::RunViewOptions view_options;
  view_options.spec = *spec;
  const std::string html_path = JoinPath(work_dir, view::kReportHtmlName);
  Status html = env->WriteFileAtomic(
      html_path, view::RenderReportHtml(view::BuildRunView(store->get(), view_options)));
  if (html.ok()) {
    std::printf("report page: %s\n", html_path.c_str());
  } else {
    warn("the run's report.html: " + html.ToString());
  }
  std::printf("final adapter: %s (real time %.0f s)\n",
              FinalAdapter(store->get(), shown_store).c_str(), real_now());
  std::fflush(stdout);
  ServeUntilStopped(ui->get(), stop);
  return report->complete ? 0 : 1;
}

}  // namespace

void AddRunCommand(CLI::App& root, Action& action) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = root.add_subcommand(
      "run",
      "run a job's whole fleet on this machine: controller, local spot market, agents, report");
  cmd->add_option("job", flags->job, "job spec (YAML) with a fleet section")->required();
  cmd->add_option("--work_dir", flags->work_dir,
                  "instance folders, agent logs, fleet state and the report "
                  "(default .cache/baton-run/<job name>)");
  cmd->add_flag("--fresh", flags->fresh,
                "delete the run's checkpoints, logs and markers and the work folder first (start "
                "over); other objects in the store stay");
  cmd->add_option("--max_minutes", flags->max_minutes, "give up after this much real time")
      ->check(CLI::PositiveNumber & CLI::Range(0.0, 1e6))
      ->capture_default_str();
  AddUiFlag(cmd, &flags->ui);
  cmd->callback([&action, flags] { action = [flags] { return RunJob(*flags); }; });
}

}  // namespace baton::cli
