#include "data/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/shuffle.h"
#include "data_test_util.h"

namespace baton {
namespace {

std::vector<int64_t> Sample(int64_t len, int64_t n, uint64_t seed) {
  DataRng rng(seed);
  return SampleIndices(len, n, &rng);
}

TEST(DatasetSampling, FewerThanLenIsRandomSampleWithoutReplacement) {
  std::vector<int64_t> idx = Sample(100, 30, 42);
  ASSERT_EQ(idx.size(), 30u);
  EXPECT_EQ(std::set<int64_t>(idx.begin(), idx.end()).size(), 30u);
  for (int64_t i : idx) EXPECT_TRUE(i >= 0 && i < 100);
  EXPECT_EQ(idx, Sample(100, 30, 42));  // same seed, same rows
  EXPECT_NE(idx, Sample(100, 30, 43));  // another seed, other rows
}

TEST(DatasetSampling, EqualToLenIsTheDatasetInOrder) {
  std::vector<int64_t> idx = Sample(10, 10, 42);
  std::vector<int64_t> want(10);
  for (int64_t i = 0; i < 10; ++i) want[i] = i;
  EXPECT_EQ(idx, want);
}

TEST(DatasetSampling, MoreThanLenRepeatsThenSamplesTheRest) {
  std::vector<int64_t> idx = Sample(10, 25, 42);  // two whole copies + 5 random rows
  ASSERT_EQ(idx.size(), 25u);
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(idx[i], i % 10);
  std::map<int64_t, int> count;
  for (int64_t i : idx) ++count[i];
  int threes = 0;
  for (auto [row, c] : count) {
    EXPECT_TRUE(c == 2 || c == 3) << row;
    threes += c == 3;
  }
  EXPECT_EQ(threes, 5);
  EXPECT_EQ(idx, Sample(10, 25, 42));
  EXPECT_NE(idx, Sample(10, 25, 7));
}

TEST(DatasetSampling, SplitSetsValidationAsideFirst) {
  DataRng rng(42);
  auto split = SplitAndSample(100, std::nullopt, 0.1, &rng);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->val.size(), 10u);
  EXPECT_EQ(split->train.size(), 90u);
  std::set<int64_t> all(split->train.begin(), split->train.end());
  all.insert(split->val.begin(), split->val.end());
  EXPECT_EQ(all.size(), 100u);  // disjoint and complete

  // With #N > len the validation size is bounded by the rows (ms-swift: min(len, N) * r) and
  // the training rows are sampled from the rest, repeating, never touching validation rows.
  split = SplitAndSample(50, 500, 0.1, &rng);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->val.size(), 5u);
  EXPECT_EQ(split->train.size(), 495u);
  std::set<int64_t> val(split->val.begin(), split->val.end());
  for (int64_t i : split->train) EXPECT_EQ(val.count(i), 0u) << i;

  // At least one validation row whenever the ratio is positive.
  split = SplitAndSample(5, std::nullopt, 0.01, &rng);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->val.size(), 1u);
  EXPECT_EQ(split->train.size(), 4u);

  split = SplitAndSample(5, 3, 0.0, &rng);
  ASSERT_TRUE(split.ok());
  EXPECT_TRUE(split->val.empty());
  EXPECT_EQ(split->train.size(), 3u);
}

TEST(DatasetSampling, SplitErrors) {
  DataRng rng(1);
  EXPECT_FALSE(SplitAndSample(10, std::nullopt, 1.0, &rng).ok());
  EXPECT_FALSE(SplitAndSample(10, std::nullopt, -0.1, &rng).ok());
  EXPECT_TRUE(testing::FailsWith(SplitAndSample(1, std::nullopt, 0.5, &rng).status(),
                                 {"no training rows"}));
}

TEST(DatasetEpochOrder, DeterministicPermutationPerSeedAndEpoch) {
  std::vector<int64_t> e0 = EpochOrder(1000, 42, 0);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(e0, EpochOrder(1000, 42, 0));  // a resumed run recomputes the same order
  EXPECT_NE(e0, EpochOrder(1000, 42, 1));
  EXPECT_NE(e0, EpochOrder(1000, 43, 0));
  EXPECT_TRUE(EpochOrder(0, 42, 0).empty());
  EXPECT_EQ(EpochOrder(1, 42, 5), std::vector<int64_t>{0});
  // Pinned values: the order must not change between builds or machines, or resumes break.
  std::vector<int64_t> small = EpochOrder(8, 42, 0);
  EXPECT_EQ(small, EpochOrder(8, 42, 0));
  std::vector<int64_t> pinned = {3, 0, 5, 1, 7, 6, 2, 4};
  EXPECT_EQ(small, pinned);
}

TEST(DatasetEpochOrder, RngBelowIsUniformEnough) {
  DataRng rng(9);
  std::vector<int> hist(6);
  for (int i = 0; i < 60000; ++i) ++hist[rng.Below(6)];
  for (int c : hist) EXPECT_NEAR(c, 10000, 500);
}

TEST(Sampling, RefusesCountsOverTheLimits) {
  DataRng rng(1);
  EXPECT_TRUE(SplitAndSample(10, 10 * kMaxSampleRepeat, 0.0, &rng).ok());
  EXPECT_TRUE(testing::FailsWith(SplitAndSample(10, 10 * kMaxSampleRepeat + 1, 0.0, &rng).status(),
                                 {"#1001", "dataset of 10 rows", "at most 100 times"}));
  EXPECT_TRUE(
      testing::FailsWith(SplitAndSample(kMaxSampleRows, kMaxSampleRows + 1, 0.1, &rng).status(),
                         {"at most 10000000"}));
}

}  // namespace
}  // namespace baton
