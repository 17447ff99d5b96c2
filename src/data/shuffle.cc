#include "data/shuffle.h"

#include <cstddef>
#include <numeric>
#include <utility>

namespace baton {
namespace {

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t DataRng::Next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return Mix(state_);
}

uint64_t DataRng::Below(uint64_t n) {
  // Reject the top partial block of the 2^64 range so each residue is equally likely.
  uint64_t threshold = (0 - n) % n;
  while (true) {
    uint64_t r = Next();
    if (r >= threshold) return r % n;
  }
}

std::vector<int64_t> RandomPermutation(int64_t n, DataRng* rng) {
  std::vector<int64_t> order(static_cast<size_t>(n < 0 ? 0 : n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(rng->Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int64_t epoch) {
  // Mixing the epoch into the seed (rather than continuing one stream) is what makes an epoch's
  // order computable without replaying the epochs before it.
  DataRng rng(Mix(seed ^ Mix(static_cast<uint64_t>(epoch) + 0x5eed)));
  return RandomPermutation(n, &rng);
}

}  // namespace baton
