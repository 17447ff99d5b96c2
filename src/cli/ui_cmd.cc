// baton ui RUN: the run's live page and JSON API (src/view/ui_server.h), read from the run's
// bucket alone, so it works for local, simulated and cloud runs alike and survives restarts of
// everything else. RUN is a store URL (a folder, s3://, oss://) or a job file (its store).
//
//   baton ui .cache/demo/bucket/self-cognition-demo [--port N] [--host H]
//
// It listens on 127.0.0.1 (any free port unless --port) and prints the address; --host widens
// it, with a warning: the page shows the run to whoever reaches the port. Ctrl-C stops it.
#include <chrono>
#include <cstdio>
#include <thread>

#include "base/env.h"
#include "base/strings.h"
#include "cli/agent_job.h"
#include "cli/commands.h"
#include "cli/ui_flag.h"
#include "job/job_spec.h"
#include "train/trainer.h"

namespace baton::cli {
namespace {

struct UiFlags {
  std::string run;
  int port = 0;
  std::string host = "127.0.0.1";
};

void PrintUrl(const view::UiServer& ui, const std::string& host, const std::string& shown) {
  if (!view::IsLoopbackHost(host)) {
    std::fprintf(stderr,
                 "baton ui: warning: listening on %s: anyone who reaches this machine's port %d "
                 "sees the run's page (checkpoints, costs, events)\n",
                 host.c_str(), ui.port());
  }
  std::fprintf(stderr, "baton ui: %s shows %s (Ctrl-C stops it)\n", ui.url().c_str(),
               shown.c_str());
  std::fflush(stderr);
}

// The signal handler only sets the flag: look at it a few times a second.
void WaitForStop(std::atomic<bool>* stop) {
  while (!stop->load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

// A job file (its store; its fleet section bills the run) or the run's store URL.
struct Target {
  std::string store_url;
  std::optional<fleet::FleetSpec> spec;
};

Result<Target> ResolveRun(const std::string& run) {
  Env* env = Env::Default();
  bool local_file = env->FileExists(run) && !env->IsDirectory(run);
  bool yaml = run.ends_with(".yaml") || run.ends_with(".yml");
  if (!local_file && !yaml) {
    // A typo would show an empty run forever: a folder given by path must exist.
    if (run.find("://") == std::string::npos && !env->IsDirectory(run)) {
      return NotFound(
          "{}: no such folder: give the run's store (a job's `store`, `baton "
          "train --output_dir`) or a job file",
          run);
    }
    return Target{Absolute(run), std::nullopt};
  }
  BATON_ASSIGN_OR_RETURN(JobSpec job, LoadJobSpec(run));
  Target t{Absolute(job.train.output_dir), std::nullopt};
  if (!job.fleet.IsNull()) {
    BATON_ASSIGN_OR_RETURN(fleet::FleetSpec spec, fleet::ParseFleetSpec(job.fleet));
    t.spec = std::move(spec);
  }
  return t;
}

int RunUi(const UiFlags& flags) {
  Result<Target> target = ResolveRun(flags.run);
  if (!target.ok()) return ReportError(target.status());
  Result<std::unique_ptr<Store>> store = OpenStore(target->store_url);
  if (!store.ok()) return ReportError(store.status());
  view::UiServerOptions o;
  o.host = flags.host == "localhost" ? "127.0.0.1" : flags.host;
  o.port = flags.port;
  o.spec = target->spec;
  Result<std::unique_ptr<view::UiServer>> ui = view::UiServer::Start(std::move(*store), o);
  if (!ui.ok()) return ReportError(ui.status());
  PrintUrl(**ui, o.host, RedactUrl(target->store_url));
  WaitForStop(InstallStopSignalHandlers());
  return 0;
}

}  // namespace

void AddUiFlag(CLI::App* cmd, UiFlag* flag) {
  flag->option = cmd->add_option("--ui", flag->port,
                                 "serve the run's live page on 127.0.0.1 (any free port, or "
                                 "PORT) while this runs and after it, until Ctrl-C (`baton ui`)")
                     ->expected(0, 1)
                     ->check(CLI::Range(0, 65535));
}

Result<std::unique_ptr<view::UiServer>> StartUiIfAsked(const UiFlag& flag,
                                                       const std::string& store_url,
                                                       std::optional<fleet::FleetSpec> spec) {
  if (!flag.given()) return std::unique_ptr<view::UiServer>();
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(store_url));
  view::UiServerOptions o;
  o.port = flag.port.empty() ? 0 : flag.port.front();
  o.spec = std::move(spec);
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<view::UiServer> ui,
                         view::UiServer::Start(std::move(store), o));
  PrintUrl(*ui, o.host, RedactUrl(store_url));
  return ui;
}

void ServeUntilStopped(view::UiServer* ui, std::atomic<bool>* stop) {
  if (ui == nullptr || stop->load()) return;
  std::fprintf(stderr, "baton ui: the page stays at %s until Ctrl-C\n", ui->url().c_str());
  std::fflush(stderr);
  WaitForStop(stop);
}

void AddUiCommand(CLI::App& root, Action& action) {
  auto flags = std::make_shared<UiFlags>();
  CLI::App* cmd = root.add_subcommand(
      "ui",
      "the run's live page: progress, curves, instances, cost, checkpoints, events, and its "
      "JSON API (/api/run), read from the run's bucket alone");
  cmd->add_option("run", flags->run, "the run's store URL (folder, s3://, oss://) or a job file")
      ->required();
  cmd->add_option("--port", flags->port, "port (0: any free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--host", flags->host,
                  "address to listen on (IPv4); anything but 127.0.0.1 shows the run to others")
      ->capture_default_str();
  cmd->callback([&action, flags] { action = [flags] { return RunUi(*flags); }; });
}

}  // namespace baton::cli
