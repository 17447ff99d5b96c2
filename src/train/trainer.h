// The LoRA SFT trainer behind `baton train`. One call, Run(), does what ms-swift's
// `swift sft --train_type lora` does, plus what the recipe Baton replaces lacks: it resumes by
// itself from the newest valid checkpoint of --output_dir (exactly: the resumed run ends
// bit-identical to one never interrupted), exits at once when the run is already complete, and
// on SIGTERM/SIGINT finishes the current micro-batch, checkpoints (a partial gradient
// accumulation included) and returns.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "base/env.h"
#include "run/layout.h"
#include "train/train_args.h"

namespace baton {

enum class TrainOutcome {
  kCompleted,        // trained to max_steps, final line and COMPLETE marker written
  kAlreadyComplete,  // nothing to do
  kStopped,          // a stop was requested; a checkpoint holds all progress
  kFenced,           // a newer attempt took the run lease; this one stopped without writing
};

// Where training stands, after every optimizer step (for heartbeats).
struct TrainProgress {
  int64_t global_step = 0;
  int64_t max_steps = 0;
  double tokens_per_second = 0;
  std::string last_checkpoint;  // "" before the first save
  double elapsed_seconds = 0;   // training time of this run, earlier attempts included
  double loss = -1;             // the newest log line's loss (-1: none logged yet)
};

struct TrainerHooks {
  // Polled after every micro-batch; true asks the trainer to checkpoint and stop.
  std::function<bool()> should_stop;
  // Progress lines for the terminal (default: stderr).
  std::function<void(const std::string&)> print;
  // Called on the training thread after every optimizer step and save.
  std::function<void(const TrainProgress&)> progress;
  // Called once the model and data are loaded, just before the run lease is taken: the agent's
  // make-before-break hand-off waits here until the current holder lets go. An error aborts.
  std::function<Status()> before_lease;
  // Called once, just before `started`, with where the start-up time went (total left 0: the
  // caller knows when it began).
  std::function<void(const ColdStart&)> startup;
  // Called once training starts or resumes, with the step it resumes from (0: a fresh start).
  std::function<void(int64_t resumed_step, int64_t max_steps)> started;
};

// Trains the run of `args`; the run's store, the model cache and the clock go through `env`.
Result<TrainOutcome> RunTraining(const TrainArgs& args, const TrainerHooks& hooks,
                                 Env* env = Env::Default());

// Installs SIGTERM/SIGINT handlers that set the returned flag (idempotent).
std::atomic<bool>* InstallStopSignalHandlers();

}  // namespace baton
