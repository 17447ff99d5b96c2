// What a checkpoint's trainer_state.json holds beyond the adapter and optimizer: where the run
// is (optimizer steps done, micro-batches of the current accumulation done), the running sums
// that feed the next log line, the best checkpoint, and the arguments it was started with.
// Format-versioned; fields are only ever appended.
#pragma once

#include <optional>
#include <string>

#include "base/json.h"

namespace baton {

struct TrainerState {
  static constexpr int kVersion = 1;
  int64_t global_step = 0;  // optimizer steps done
  int64_t max_steps = 0;
  int64_t micro_step = 0;      // micro-batches of step global_step already accumulated
  double window_loss_sum = 0;  // summed loss of those micro-batches
  double log_loss_sum = 0;     // sum of per-step mean losses since the last log line
  double log_grad_norm_sum = 0;
  int64_t log_steps = 0;
  std::optional<double> best_metric;  // lowest eval_loss so far
  std::optional<int64_t> best_step;
  uint64_t seed = 42;
  int64_t num_train_examples = 0;
  int64_t trained_tokens = 0;  // input tokens through the model (for tokens/s)
  double train_seconds = 0;    // summed over every attempt
  int64_t attempts = 1;        // how many processes have worked on this run
  Json args;                   // TrainArgs::ToJson() of the attempt that saved it
  // Appended: token_acc's running counts (as the loss sums above) and the sum of every step's
  // loss, for the summary line's train_loss. Absent in older files: 0.
  int64_t window_correct = 0;  // right-predicted labelled tokens of those micro-batches
  double log_acc_sum = 0;      // sum of per-step token accuracies since the last log line
  double total_loss_sum = 0;   // sum of per-step mean losses over the run

  Json ToJson() const;
  // Every field checked for its type and range (counts >= 0, attempts >= 1, best_step within
  // the run, finite sums): Corruption or InvalidArgument naming `source` and the key.
  static Result<TrainerState> FromJson(const Json& j, const std::string& source);
  Status CheckRanges(const std::string& source) const;
};

}  // namespace baton
