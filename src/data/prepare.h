// The data layer's entry point: from --dataset values to tokenised train and validation
// examples, with the summary a trainer prints. Same options and seed, same examples, same order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "data/train_example.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace baton {

// ms-swift's flags and, where Baton's differ, why.
struct DataOptions {
  std::vector<std::string> datasets;                  // --dataset: PATH[#N] or self-cognition[#N]
  std::vector<std::string> model_name, model_author;  // Chinese then English value
  std::map<std::string, std::string> columns;         // --columns: column renames
  // --system: replaces the template's default system prompt; rows with their own keep it.
  // An empty string means no system prompt.
  std::optional<std::string> system;
  // --max_length: ms-swift 3 defaults to the model's max_model_len; Baton to 2048, the length the
  // targets in DESIGN.md are measured at. <= 0: no limit.
  int64_t max_length = 2048;
  TruncationStrategy truncation_strategy = TruncationStrategy::kDelete;  // ms-swift's default
  // ms-swift 3 used 0.01 until 3.6 (PR #4798) and 0 since; Baton follows the newer default.
  double split_dataset_ratio = 0.0;
  uint64_t seed = 42;  // ms-swift's --data_seed, which defaults to --seed (42)
  // --dataset_shuffle (default true): shuffle the concatenated training rows once.
  bool dataset_shuffle = true;
};

struct DatasetSummary {
  std::string spec;                      // as given
  std::string source;                    // resolved path, or "self-cognition (built in)"
  int64_t rows = 0;                      // rows read
  int64_t train_rows = 0, val_rows = 0;  // after #N sampling and the split
};

struct SplitSummary {
  int64_t examples = 0;           // kept
  int64_t tokens = 0;             // input tokens of the kept examples
  int64_t trainable_tokens = 0;   // labelled tokens of the kept examples
  int64_t longest = 0;            // tokens in the longest kept example
  int64_t truncated = 0;          // kept, but cut to max_length
  int64_t dropped_too_long = 0;   // longer than max_length with truncation_strategy delete
  int64_t dropped_no_answer = 0;  // nothing trainable left after truncation
};

struct DataSummary {
  std::vector<DatasetSummary> datasets;
  // Lines to show once at start: folders no ms-swift dataset rule applies to (FolderRuleNotice).
  std::vector<std::string> notices;
  SplitSummary train, val;
  // Lines for a log: one per dataset, then train and validation totals.
  std::string ToString() const;
};

struct PreparedData {
  std::vector<TrainExample> train;
  std::vector<TrainExample> val;
  DataSummary summary;
};

// Reads, samples and splits every dataset (ms-swift order: per dataset, with one seeded random
// stream in argument order), concatenates, shuffles the training rows, applies --system and
// tokenises with `kind` and `render` (its default_system is the template's). Fails when no
// training example is left.
Result<PreparedData> PrepareDatasets(Env* env, const DataOptions& options,
                                     const Tokenizer& tokenizer, ChatTemplateKind kind,
                                     const ChatRenderOptions& render);

}  // namespace baton
