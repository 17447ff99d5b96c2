#include "data/sampling.h"

namespace baton {

std::vector<int64_t> SampleIndices(int64_t len, int64_t n, DataRng* rng) {
  std::vector<int64_t> idx;
  if (len <= 0 || n <= 0) return idx;
  idx.reserve(static_cast<size_t>(n));
  for (int64_t r = 0; r < n / len; ++r) {
    for (int64_t i = 0; i < len; ++i) idx.push_back(i);
  }
  if (int64_t rest = n % len; rest > 0) {
    std::vector<int64_t> perm = RandomPermutation(len, rng);
    idx.insert(idx.end(), perm.begin(), perm.begin() + rest);
  }
  return idx;
}

Result<SplitIndices> SplitAndSample(int64_t len, std::optional<int64_t> sample, double ratio,
                                    DataRng* rng) {
  if (!(ratio >= 0 && ratio < 1)) {
    return InvalidArgument("--split_dataset_ratio {} is outside [0, 1)", ratio);
  }
  int64_t n = sample.value_or(len);
  if (sample && (n > kMaxSampleRows || n > kMaxSampleRepeat * len)) {
    return InvalidArgument(
        "#{} asks for more rows than Baton samples from a dataset of {} rows (at most {} times "
        "its rows, and at most {} rows)",
        n, len, kMaxSampleRepeat, kMaxSampleRows);
  }
  SplitIndices out;
  if (ratio == 0) {
    out.train = SampleIndices(len, n, rng);
    return out;
  }
  // ms-swift bounds the validation size by the rows that exist, so a large #N repeats training
  // rows without ever copying a row into both sets.
  int64_t val_n = std::max<int64_t>(static_cast<int64_t>(std::min(len, n) * ratio), 1);
  int64_t train_n = n - val_n;
  if (train_n <= 0 || val_n >= len) {
    return InvalidArgument(
        "{} rows with split_dataset_ratio {} leave no training rows ({} set aside for "
        "validation)",
        n, ratio, val_n);
  }
  std::vector<int64_t> perm = RandomPermutation(len, rng);
  out.val.assign(perm.begin(), perm.begin() + val_n);
  std::vector<int64_t> rest(perm.begin() + val_n, perm.end());
  for (int64_t i : SampleIndices(static_cast<int64_t>(rest.size()), train_n, rng)) {
    out.train.push_back(rest[i]);
  }
  return out;
}

}  // namespace baton
