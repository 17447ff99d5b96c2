// Deterministic randomness for the data layer. Sampling, the validation split and the order of
// examples in each epoch must be the same on every machine and after every resume, so nothing
// here uses std::shuffle or std::uniform_int_distribution (their results differ between
// standard libraries): the generator is SplitMix64 and every draw is spelled out below.
#pragma once

#include <cstdint>
#include <vector>

namespace baton {

// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter passed through a mixing function, so a
// generator's whole state is one number and (seed, stream) pairs give independent sequences.
class DataRng {
 public:
  explicit DataRng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n) without modulo bias; n must be > 0.
  uint64_t Below(uint64_t n);

 private:
  uint64_t state_;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates, drawing from `rng`).
std::vector<int64_t> RandomPermutation(int64_t n, DataRng* rng);

// The order in which a trainer visits n examples in `epoch` (0-based): a permutation that depends
// only on (n, seed, epoch), so a resumed run recomputes it from the seed in its checkpoint
// instead of storing it. Different epochs give different orders.
std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace baton
