// baton train: ms-swift `swift sft --train_type lora` flags; resumes by itself.
#include <unistd.h>

#include <cstdio>
#include <map>

#include "base/strings.h"
#include "cli/commands.h"
#include "cli/run_outputs.h"
#include "cli/status_line.h"
#include "cli/ui_flag.h"
#include "store/store.h"
#include "train/trainer.h"

namespace baton::cli {
namespace {

const std::map<std::string, std::string>& FlagHelp() {
  static const std::map<std::string, std::string> help = {
      {"model", "Hugging Face model folder"},
      {"dataset",
       "datasets: PATH[#N] (JSON/JSONL/CSV/TSV/TXT file or folder) or self-cognition[#N]"},
      {"columns", "JSON object renaming dataset columns, e.g. '{\"prompt_text\": \"query\"}'"},
      {"output_dir", "run folder: checkpoints, logging.jsonl; reused to resume"},
      {"num_train_epochs", "epochs (ignored when --max_steps > 0)"},
      {"gradient_accumulation_steps", "micro-batches per optimizer step (default ceil(16/batch))"},
      {"target_modules", "all-linear or module names (q_proj k_proj ...)"},
      {"model_name", "two values, Chinese and English: replaces {{NAME}} in self-cognition data"},
      {"model_author", "two values, Chinese and English: replaces {{AUTHOR}}"},
      {"system", "system prompt (rows with their own keep it)"},
      {"save_total_limit", "checkpoints kept (0 = all; the best and the newest always stay)"},
      {"split_dataset_ratio", "share of the data held out for eval"},
      {"template", "chat template: chatml, deepseek_r1, llama3 (default: from the model)"},
      {"device", "auto (the GPU when this build has CUDA and one is visible), cpu or cuda"},
      {"torch_dtype", "float32, or bfloat16 (CUDA: bf16 weights and activations, f32 LoRA)"},
  };
  return help;
}

// The progress bar: "step 3/10 [######--------------] 30% | 0:12<0:28 | loss 2.3456 |
// 1234 tokens/s", the remaining time at the run's pace so far (as logging.jsonl's).
std::string ProgressText(const TrainProgress& p) {
  std::string text = StepBar(static_cast<double>(p.global_step), static_cast<double>(p.max_steps));
  const double rate = p.global_step > 0 && p.elapsed_seconds > 0
                          ? static_cast<double>(p.global_step) / p.elapsed_seconds
                          : 0;
  text += fmt::format(
      " | {}<{}", ClockDuration(p.elapsed_seconds),
      rate > 0 ? ClockDuration(static_cast<double>(p.max_steps - p.global_step) / rate) : "?");
  if (p.loss >= 0) text += fmt::format(" | loss {:.4f}", p.loss);
  if (p.tokens_per_second > 0) text += fmt::format(" | {:.0f} tokens/s", p.tokens_per_second);
  return text;
}

}  // namespace

void AddTrainCommand(CLI::App& root, Action& action) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = root.add_subcommand(
      "train",
      fmt::format("LoRA fine-tuning (ms-swift `swift sft` flags); resumes from the newest valid "
                  "checkpoint of --output_dir by itself, exits 0 at once if the run is complete, "
                  "and exits {} without writing if a newer attempt took the run's lease",
                  kExitFenced));
  args->VisitFields([&](const char* key, auto& field) {
    auto it = FlagHelp().find(key);
    std::string help = it != FlagHelp().end() ? it->second : "as in ms-swift";
    CLI::Option* opt = cmd->add_option(std::string("--") + key, field, help);
    opt->capture_default_str();
    if (std::string(key) == "model" || std::string(key) == "dataset") opt->required();
  });
  // ms-swift flags without an effect here, accepted so that a pasted `swift sft` line runs.
  // ms-swift's README example passes --dataloader_num_workers 4; Baton tokenizes every row
  // before the first step, in-process, so there are no loader workers to start.
  auto loader_workers = std::make_shared<int64_t>(0);
  cmd->add_option("--dataloader_num_workers", *loader_workers,
                  "accepted for ms-swift's command lines; no effect (Baton prepares the data "
                  "in-process before training)")
      ->check(CLI::NonNegativeNumber);
  auto ui = std::make_shared<UiFlag>();
  AddUiFlag(cmd, ui.get());
  cmd->callback([&action, args, cmd, loader_workers, ui] {  // keeps the flags' storage alive
    args->system_given = cmd->count("--system") > 0;
    action = [args, ui] {
      Result<std::unique_ptr<view::UiServer>> page =
          StartUiIfAsked(*ui, args->output_dir, std::nullopt);
      if (!page.ok()) return ReportError(page.status());
      std::atomic<bool>* stop = InstallStopSignalHandlers();
      TrainerHooks hooks;
      hooks.should_stop = [stop] { return stop->load(); };
      // On a terminal a progress bar stays below the log lines; elsewhere (a log file) the
      // output is the lines alone, as before.
      auto term = std::make_shared<StatusLine>(isatty(2) != 0, /*plain_every_s=*/-1);
      if (term->tty()) {
        hooks.print = [term](const std::string& line) { term->Line(line); };
        hooks.started = [term](int64_t resumed_step, int64_t max_steps) {
          TrainProgress p;
          p.global_step = resumed_step;
          p.max_steps = max_steps;
          term->Status(ProgressText(p), 0);
        };
        hooks.progress = [term](const TrainProgress& p) { term->Status(ProgressText(p), 0); };
      }
      Result<TrainOutcome> r = RunTraining(*args, hooks);
      term->Done();
      if (!r.ok()) return ReportError(r.status());
      if (*r == TrainOutcome::kCompleted) WriteRunOutputs(args->output_dir);
      ServeUntilStopped(page->get(), stop);
      // A fenced attempt wrote nothing: a newer one owns the run. Its own code, so that a
      // supervisor neither restarts it nor takes it for the run's end.
      if (*r == TrainOutcome::kFenced) return kExitFenced;
      return 0;  // completed, already complete, or stopped with a checkpoint: all success
    };
  });
}

}  // namespace baton::cli
