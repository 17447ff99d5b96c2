// baton ckpt ls|verify|gc DIR_OR_URL: inspect and clean a run's checkpoints.
//   ls      one line per checkpoint (sizes checked), leftovers, whether the run is COMPLETE
//   verify  re-reads every file against its digest and checks that the files agree with each
//           other (train/checkpoint_io.h); exit 1 if any checkpoint is not valid
//   gc      deletes invalid/incomplete checkpoints and leftovers (--dry-run to only show them)
// A hidden `commit` writes a checkpoint from local files through the same code the trainer
// uses, so end-to-end tests can build runs without a trainer.
#include <cstdio>
#include <limits>

#include "base/env.h"
#include "ckpt/checkpoint_manager.h"
#include "cli/commands.h"
#include "run/layout.h"
#include "store/store.h"
#include "train/checkpoint_io.h"

namespace baton::cli {
namespace {

struct CkptArgs {
  std::string url;
  std::optional<int64_t> step;
  bool dry_run = false;
  bool all = false;
  std::vector<std::string> files;
};

std::string LastComponent(std::string_view url) {
  while (url.size() > 1 && url.back() == '/') url.remove_suffix(1);
  size_t slash = url.find_last_of('/');
  return std::string(slash == std::string_view::npos ? url : url.substr(slash + 1));
}

void PrintTable(const std::vector<CheckpointInfo>& infos) {
  std::printf("%-12s %-11s %14s %6s  %s\n", "step", "state", "bytes", "files", "reason");
  for (const CheckpointInfo& info : infos) {
    std::printf("%-12lld %-11s %14llu %6lld  %s\n", static_cast<long long>(info.step),
                CheckpointStateName(info.state), static_cast<unsigned long long>(info.total_bytes),
                static_cast<long long>(info.num_files), info.reason.c_str());
  }
}

// A manager whose digest checks also check what the files say (train/checkpoint_io.h): a
// checkpoint whose trainer state, adapter and optimizer disagree is not valid, with the reason,
// just as a resume would skip it. Without a model, shapes are checked against the adapter's
// own config.
std::unique_ptr<CheckpointManager> TrainingCheckpoints(Store* store) {
  auto manager = std::make_unique<CheckpointManager>(store, "");
  manager->SetContentCheck([](int64_t step, const std::map<std::string, std::string>& files) {
    return ValidateCheckpoint(files, CheckpointDir(step), step);
  });
  return manager;
}

// Says so when the user pointed at one checkpoint instead of the run that holds it.
void HintIfCheckpointFolder(const std::string& url) {
  if (ParseCheckpointDir(LastComponent(url)).has_value()) {
    std::fprintf(stderr,
                 "baton: note: %s looks like a single checkpoint; pass the run folder that "
                 "holds it (and --step for verify)\n",
                 url.c_str());
  }
}

int RunLs(const CkptArgs& args) {
  Result<std::unique_ptr<Store>> store = OpenStore(args.url, OpenMode::kMustExist);
  if (!store.ok()) return ReportError(store.status());
  CheckpointManager manager(store->get(), "");
  Result<std::vector<CheckpointInfo>> infos = manager.List(Verify::kSizes);
  if (!infos.ok()) return ReportError(infos.status());
  Result<std::vector<LeftoverInfo>> leftovers = manager.ListLeftovers();
  if (!leftovers.ok()) return ReportError(leftovers.status());
  Result<bool> complete = IsComplete(store->get());
  if (!complete.ok()) return ReportError(complete.status());

  std::printf("run %s: %s\n", (*store)->Url().c_str(),
              *complete ? std::string(kCompleteMarkerName).c_str()
                        : fmt::format("not complete (no {} marker)", kCompleteMarkerName).c_str());
  if (infos->empty()) {
    std::printf("no checkpoints\n");
    HintIfCheckpointFolder(args.url);
  } else {
    PrintTable(*infos);
  }
  for (const LeftoverInfo& left : *leftovers) {
    std::printf("leftover %s (%llu bytes): an interrupted commit; `baton ckpt gc` removes it\n",
                left.prefix.c_str(), static_cast<unsigned long long>(left.total_bytes));
  }
  std::optional<int64_t> newest;
  for (const CheckpointInfo& info : *infos) {
    if (info.state == CheckpointState::kValid) newest = info.step;
  }
  if (newest.has_value()) {
    std::printf("newest valid (sizes checked; `baton ckpt verify` checks digests): %lld\n",
                static_cast<long long>(*newest));
  }
  return 0;
}

int RunVerify(const CkptArgs& args) {
  Result<std::unique_ptr<Store>> store = OpenStore(args.url, OpenMode::kMustExist);
  if (!store.ok()) return ReportError(store.status());
  std::unique_ptr<CheckpointManager> checked = TrainingCheckpoints(store->get());
  CheckpointManager& manager = *checked;
  std::vector<CheckpointInfo> infos;
  if (args.step.has_value()) {
    Result<CheckpointInfo> info = manager.Check(*args.step, Verify::kDigests);
    if (!info.ok()) return ReportError(info.status());
    infos.push_back(*info);
  } else {
    Result<std::vector<CheckpointInfo>> all = manager.List(Verify::kDigests);
    if (!all.ok()) return ReportError(all.status());
    infos = std::move(all).value();
  }
  if (infos.empty()) {
    std::printf("%s: no checkpoints\n", (*store)->Url().c_str());
    HintIfCheckpointFolder(args.url);
    return 1;
  }
  PrintTable(infos);
  int bad = 0;
  for (const CheckpointInfo& info : infos) {
    if (info.state == CheckpointState::kValid) continue;
    ++bad;
    std::fprintf(stderr, "NOT VALID: %s (%s): %s\n", CheckpointDir(info.step).c_str(),
                 CheckpointStateName(info.state), info.reason.c_str());
  }
  std::printf("%zu checkpoint(s) checked, %d not valid\n", infos.size(), bad);
  return bad == 0 ? 0 : 1;
}

int RunGc(const CkptArgs& args) {
  Result<std::unique_ptr<Store>> store = OpenStore(args.url, OpenMode::kMustExist);
  if (!store.ok()) return ReportError(store.status());
  std::unique_ptr<CheckpointManager> checked = TrainingCheckpoints(store->get());
  CheckpointManager& manager = *checked;
  // Without --all, anything at or after the newest valid step may be a commit in flight.
  int64_t older_than = std::numeric_limits<int64_t>::max();
  if (!args.all) {
    Result<std::optional<int64_t>> newest = manager.LatestValid();
    if (!newest.ok()) return ReportError(newest.status());
    older_than = newest->value_or(0);
  }
  Result<std::vector<std::string>> doomed =
      manager.DeleteInvalid(older_than, Verify::kDigests, args.dry_run);
  if (!doomed.ok()) return ReportError(doomed.status());
  for (const std::string& prefix : *doomed) {
    std::printf("%s %s\n", args.dry_run ? "would delete" : "deleted", prefix.c_str());
  }
  std::printf("%zu folder(s) %s\n", doomed->size(), args.dry_run ? "to delete" : "deleted");
  if (!args.all) {
    Result<std::vector<CheckpointInfo>> infos = manager.List(Verify::kSizes);
    if (!infos.ok()) return ReportError(infos.status());
    Result<std::vector<LeftoverInfo>> leftovers = manager.ListLeftovers();
    if (!leftovers.ok()) return ReportError(leftovers.status());
    size_t kept = leftovers->size();
    for (const CheckpointInfo& info : *infos) kept += info.state != CheckpointState::kValid;
    if (!args.dry_run && kept > 0) {
      std::printf(
          "kept %zu not-valid folder(s) at or after step %lld: they may be a commit in "
          "progress; --all deletes them when no trainer is running\n",
          kept, static_cast<long long>(older_than));
    }
  }
  return 0;
}

int RunCommit(const CkptArgs& args) {
  if (!args.step.has_value()) return ReportError(InvalidArgument("commit needs --step"));
  Result<std::unique_ptr<Store>> store = OpenStore(args.url, OpenMode::kCreateIfMissing);
  if (!store.ok()) return ReportError(store.status());
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& path : args.files) {
    Result<std::string> data = Env::Default()->ReadFile(path);
    if (!data.ok()) return ReportError(data.status());
    files.emplace_back(LastComponent(path), std::move(data).value());
  }
  CheckpointManager manager(store->get(), "");
  Status s = manager.Commit(*args.step, files);
  if (!s.ok()) return ReportError(s);
  std::printf("committed %s%s\n", (*store)->Url().c_str(),
              ("/" + CheckpointDir(*args.step)).c_str());
  return 0;
}

}  // namespace

void AddCkptCommand(CLI::App& root, Action& action) {
  auto args = std::make_shared<CkptArgs>();
  CLI::App* cmd = root.add_subcommand("ckpt", "Inspect and clean a run's checkpoints");
  cmd->require_subcommand(1);

  CLI::App* ls = cmd->add_subcommand("ls", "List checkpoints (step, state, size, files, reason)");
  ls->add_option("url", args->url, "run folder or file:// URL")->required();
  ls->callback([&action, args] { action = [args] { return RunLs(*args); }; });

  CLI::App* verify = cmd->add_subcommand(
      "verify", "Re-check every file's digest; exit 1 if any checkpoint is not valid");
  verify->add_option("url", args->url, "run folder or file:// URL")->required();
  verify->add_option("--step", args->step, "check only this checkpoint")
      ->check(CLI::NonNegativeNumber);
  verify->callback([&action, args] { action = [args] { return RunVerify(*args); }; });

  CLI::App* gc = cmd->add_subcommand(
      "gc",
      "Delete invalid and incomplete checkpoints and leftovers of interrupted commits older "
      "than the newest valid checkpoint");
  gc->add_option("url", args->url, "run folder or file:// URL")->required();
  gc->add_flag("--dry-run", args->dry_run, "only print what would be deleted");
  gc->add_flag("--all", args->all,
               "also delete those newer than the newest valid checkpoint (only when no trainer "
               "is writing to the run)");
  gc->callback([&action, args] { action = [args] { return RunGc(*args); }; });

  CLI::App* commit = cmd->add_subcommand(
      "commit",
      "Test helper: commit local files as checkpoint --step (through the trainer's code)");
  commit->group("");  // hidden from --help
  commit->add_option("url", args->url, "run folder or file:// URL")->required();
  commit->add_option("--step", args->step, "step")->required()->check(CLI::NonNegativeNumber);
  commit->add_option("files", args->files, "files (stored under their base names)")->required();
  commit->callback([&action, args] { action = [args] { return RunCommit(*args); }; });
}

}  // namespace baton::cli
