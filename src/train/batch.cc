#include "train/batch.h"

#include <algorithm>

#include "data/shuffle.h"

namespace baton {

int64_t CountTargets(const TrainExample& e) {
  int64_t n = 0;
  for (size_t t = 1; t < e.labels.size(); ++t) n += e.labels[t] != kIgnoreLabel;
  return n;
}

Batch MakeBatch(const std::vector<TrainExample>& examples, const std::vector<int64_t>& idx,
                int32_t pad_id) {
  int64_t len = 0;
  for (int64_t i : idx) len = std::max<int64_t>(len, examples[i].input_ids.size());
  int64_t b = static_cast<int64_t>(idx.size());
  Batch out;
  out.tokens = Tensor::Empty({b, len}, DType::kI32);
  out.labels = Tensor::Empty({b, len}, DType::kI32);
  out.mask = Tensor::Zeros({b, len}, DType::kU8);
  for (int64_t r = 0; r < b; ++r) {
    const TrainExample& e = examples[idx[r]];
    for (int64_t t = 0; t < len; ++t) {
      bool real = t < static_cast<int64_t>(e.input_ids.size());
      out.tokens.data<int32_t>()[r * len + t] = real ? e.input_ids[t] : pad_id;
      out.labels.data<int32_t>()[r * len + t] = real ? e.labels[t] : kIgnoreLabel;
      out.mask.data<uint8_t>()[r * len + t] = real;
    }
    out.input_tokens += static_cast<int64_t>(e.input_ids.size());
  }
  return out;
}

BatchPlan::BatchPlan(int64_t examples, int64_t batch_size, int64_t accumulation, uint64_t seed)
    : examples_(examples),
      batch_size_(batch_size),
      accumulation_(accumulation),
      seed_(seed),
      micro_per_epoch_((examples + batch_size - 1) / batch_size),
      steps_per_epoch_((micro_per_epoch_ + accumulation - 1) / accumulation) {}

BatchPlan::Window BatchPlan::StepWindow(int64_t step) const {
  Window w;
  w.epoch = step / steps_per_epoch_;
  w.first = step % steps_per_epoch_ * accumulation_;
  w.count = std::min(micro_per_epoch_, w.first + accumulation_) - w.first;
  return w;
}

std::vector<int64_t> BatchPlan::MicroBatch(int64_t epoch, int64_t micro) {
  if (epoch != cached_epoch_) {
    order_ = EpochOrder(examples_, seed_, epoch);
    cached_epoch_ = epoch;
  }
  int64_t n = static_cast<int64_t>(order_.size());
  std::vector<int64_t> idx;
  for (int64_t i = micro * batch_size_; i < std::min(n, (micro + 1) * batch_size_); ++i) {
    idx.push_back(order_[i]);
  }
  return idx;
}

}  // namespace baton
