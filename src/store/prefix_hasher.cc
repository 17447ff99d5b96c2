#include "store/prefix_hasher.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace baton {

PrefixHasher::PrefixHasher(int fd, std::string file, uint64_t size, uint64_t range_size)
    : fd_(fd),
      file_(std::move(file)),
      size_(size),
      range_size_(std::max<uint64_t>(1, range_size)),
      filled_(static_cast<size_t>((size + range_size_ - 1) / range_size_), 0),
      state_(XXH3_createState()) {
  XXH3_64bits_reset(state_);
}

PrefixHasher::~PrefixHasher() { XXH3_freeState(state_); }

uint64_t PrefixHasher::bytes_read_back() const {
  std::lock_guard<std::mutex> lock(mu_);
  return read_back_;
}

Status PrefixHasher::Written(uint64_t offset, std::string_view data) {
  const uint64_t r = offset / range_size_, in_range = offset - r * range_size_;
  if (offset + data.size() > size_ || in_range + data.size() > range_size_) {
    return Internal("{}: {} bytes written at {} cross a range of {} bytes or the end ({})", file_,
                    data.size(), offset, range_size_, size_);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t& filled = filled_[static_cast<size_t>(r)];
    if (in_range > filled) {
      return Internal("{}: bytes written at {} leave a gap after {} in their range", file_, offset,
                      r * range_size_ + filled);
    }
    filled = std::max<uint64_t>(filled, in_range + data.size());
  }
  // One writer hashes at a time; the others go on writing. A writer that finds the hasher busy
  // leaves its bytes to it (read back later), so no writer waits for another's read-back.
  if (!hash_mu_.try_lock()) {
    pending_.store(true);
    return Status::Ok();
  }
  Status s = Advance(offset, data);
  hash_mu_.unlock();
  // Bytes that arrived while this writer hashed: taken too, unless someone else is at it.
  while (s.ok() && pending_.exchange(false) && hash_mu_.try_lock()) {
    s = Advance(0, {});
    hash_mu_.unlock();
  }
  return s;
}

Status PrefixHasher::WrittenBefore(uint64_t offset, uint64_t len) {
  const uint64_t r = offset / range_size_;
  if (offset != r * range_size_ || offset + len > size_ || len > range_size_) {
    return Internal("{}: {} bytes at {} are not the start of a range of {} bytes", file_, len,
                    offset, range_size_);
  }
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& filled = filled_[static_cast<size_t>(r)];
  filled = std::max(filled, len);
  return Status::Ok();
}

Status PrefixHasher::Advance(uint64_t offset, std::string_view data) {
  const uint64_t data_end = offset + data.size();
  while (hashed_ < size_) {
    const uint64_t r = hashed_ / range_size_;
    uint64_t avail;
    {
      std::lock_guard<std::mutex> lock(mu_);
      avail = r * range_size_ + filled_[static_cast<size_t>(r)];
    }
    if (avail <= hashed_) break;
    uint64_t n;
    if (!data.empty() && offset <= hashed_ && hashed_ < data_end) {
      n = std::min(avail, data_end) - hashed_;
      XXH3_64bits_update(state_, data.data() + (hashed_ - offset), n);
    } else {
      n = avail - hashed_;
      if (!data.empty() && hashed_ < offset) n = std::min(n, offset - hashed_);
      if (buffer_.empty()) buffer_.resize(1 << 20);
      n = std::min<uint64_t>(n, buffer_.size());
      for (uint64_t got = 0; got < n;) {
        ssize_t k = ::pread(fd_, buffer_.data() + got, n - got, static_cast<off_t>(hashed_ + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
          return IoError("{}: reading back {} bytes at {} for the digest: {}", file_, n - got,
                         hashed_ + got, k == 0 ? "the file is shorter" : std::strerror(errno));
        }
        got += static_cast<uint64_t>(k);
      }
      XXH3_64bits_update(state_, buffer_.data(), n);
      std::lock_guard<std::mutex> lock(mu_);
      read_back_ += n;
    }
    hashed_ += n;
  }
  return Status::Ok();
}

Result<std::string> PrefixHasher::Digest() {
  std::lock_guard<std::mutex> lock(hash_mu_);
  BATON_RETURN_IF_ERROR(Advance(0, {}));
  if (hashed_ != size_) {
    return Internal("{}: only the first {} of {} bytes were written in order", file_, hashed_,
                    size_);
  }
  return fmt::format("{:016x}", XXH3_64bits_digest(state_));
}

}  // namespace baton
