// The XXH3-64 digest of a file that is being written in ranges, several at once and in any order
// (a download's parts), computed while it is written rather than by reading the file again
// afterwards. The hasher follows the written prefix: a piece that lands where the hashed prefix
// ends is hashed from the writer's buffer (still in the CPU's cache); bytes written beyond a gap
// are read back from the file once the gap is filled (from the page cache, where they were just
// written), by whichever writer closed the gap. The digest is ready when the last byte is.
#pragma once

#include <xxhash.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace baton {

class PrefixHasher {
 public:
  // `fd` is open for reading on `file` (for messages), which will hold `size` bytes written in
  // ranges of `range_size` bytes (the last may be shorter); each range is written front to back,
  // and may start over from its beginning (a retried request rewrites the same bytes).
  PrefixHasher(int fd, std::string file, uint64_t size, uint64_t range_size);
  ~PrefixHasher();
  PrefixHasher(const PrefixHasher&) = delete;
  PrefixHasher& operator=(const PrefixHasher&) = delete;

  // `data` is on disk at `offset` now, within one range, and no byte of that range after
  // `offset` was written before it (its range is written front to back). Thread-safe.
  Status Written(uint64_t offset, std::string_view data);
  // The bytes [offset, offset + len) of one range are on disk already (a resumed download's
  // parts, a range written whole); they are read back when the prefix reaches them.
  Status WrittenBefore(uint64_t offset, uint64_t len);
  // "0123456789abcdef": the digest of all `size` bytes. An error if some range was not written
  // to its end or the file could not be read back.
  Result<std::string> Digest();
  // Bytes read back from the file so far (the rest came from the writers' buffers).
  uint64_t bytes_read_back() const;

 private:
  // Hashes what is written contiguously after the hashed prefix; with `data` at `offset`, the
  // part of it that extends the prefix is taken from there. Caller holds hash_mu_.
  Status Advance(uint64_t offset, std::string_view data);

  const int fd_;
  const std::string file_;
  const uint64_t size_, range_size_;
  mutable std::mutex mu_;         // guards filled_, read_back_
  std::vector<uint64_t> filled_;  // bytes written from each range's start, contiguously
  uint64_t read_back_ = 0;
  std::mutex hash_mu_;  // guards state_, hashed_, buffer_: one thread hashes at a time
  std::atomic<bool> pending_{false};  // bytes were written while another thread hashed
  XXH3_state_t* state_;
  uint64_t hashed_ = 0;
  std::vector<char> buffer_;  // read-back buffer
};

}  // namespace baton
