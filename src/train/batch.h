// Batching for the trainer: which examples make up each micro-batch of each optimizer step, and
// the right-padded tensors of a micro-batch. The order depends only on the seed, the epoch and the
// number of examples, so a resumed run sees exactly the batches an uninterrupted one would.
#pragma once

#include <cstdint>
#include <vector>

#include "data/train_example.h"
#include "tensor/tensor.h"

namespace baton {

// A right-padded micro-batch: tokens, labels (kIgnoreLabel on padding) and the mask.
struct Batch {
  Tensor tokens, labels, mask;  // [batch, longest example]
  int64_t input_tokens = 0;     // real (unpadded) tokens
};

Batch MakeBatch(const std::vector<TrainExample>& examples, const std::vector<int64_t>& idx,
                int32_t pad_id);

// Label positions that count in the causal-LM loss (labels[t + 1] != kIgnoreLabel).
int64_t CountTargets(const TrainExample& e);

// The micro-batches of a run: `examples` shuffled per epoch (data/shuffle.h), cut into
// micro-batches of `batch_size`, `accumulation` micro-batches per optimizer step (the last step
// of an epoch may have fewer).
class BatchPlan {
 public:
  BatchPlan(int64_t examples, int64_t batch_size, int64_t accumulation, uint64_t seed);

  int64_t micro_batches_per_epoch() const { return micro_per_epoch_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

  // Optimizer step `step` is micro-batches [first, first + count) of epoch `epoch`.
  struct Window {
    int64_t epoch = 0, first = 0, count = 0;
  };
  Window StepWindow(int64_t step) const;
  // The example indices of micro-batch `micro` of `epoch`.
  std::vector<int64_t> MicroBatch(int64_t epoch, int64_t micro);

 private:
  int64_t examples_, batch_size_, accumulation_;
  uint64_t seed_;
  int64_t micro_per_epoch_, steps_per_epoch_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;  // the shuffled order of cached_epoch_
};

}  // namespace baton
