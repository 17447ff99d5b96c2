// `name#N` sampling and the validation split, as ms-swift 3 does them for each dataset
// (swift/llm/dataset/loader.py: DatasetLoader.post_process, and utils.py: sample_dataset).
// The random draws come from DataRng rather than numpy, so the rows picked differ from
// ms-swift's for the same seed; the counts and the rules are the same.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "data/shuffle.h"

namespace baton {

// Limits on N of `name#N`: every sampled row becomes a tokenised example in memory, so an absurd
// N (ds#100000000) must be refused before anything is allocated. At most kMaxSampleRows rows,
// and at most kMaxSampleRepeat times the rows the dataset has (ms-swift's recipes repeat a small
// dataset a few times, self-cognition#500 of its 108 rows).
inline constexpr int64_t kMaxSampleRows = 10'000'000;
inline constexpr int64_t kMaxSampleRepeat = 100;

// Row indices for N rows of a dataset of `len` rows (ms-swift's sample_dataset): the whole
// dataset N / len times in order, then N % len rows drawn without replacement in random order.
// So N < len is a random sample, N == len the dataset as it is, N > len whole copies plus a
// random remainder.
std::vector<int64_t> SampleIndices(int64_t len, int64_t n, DataRng* rng);

struct SplitIndices {
  std::vector<int64_t> train;
  std::vector<int64_t> val;
};

// ms-swift's post_process for one dataset of `len` rows with optional #N and split ratio r in
// [0, 1): with r > 0, max(floor(min(len, N) * r), 1) rows are set aside for validation by a
// seeded shuffle (the first rows of a random permutation, as datasets' train_test_split), and N
// minus that many are sampled from the rest by SampleIndices; with r == 0 all N are training
// rows. An error when no training row would be left, or N is over the limits above.
Result<SplitIndices> SplitAndSample(int64_t len, std::optional<int64_t> sample, double ratio,
                                    DataRng* rng);

}  // namespace baton
