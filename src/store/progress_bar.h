// A progress bar for long transfers (model downloads, `baton store cp`): redrawn in place on a
// terminal (stderr), a line every ~10% or 10 s otherwise, or handed to `print` when one is given.
// Shows bytes, percentage, rate and ETA; bytes that were already there (a resumed download) do
// not count toward the rate.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace baton {

class ProgressBar {
 public:
  // `verb` starts each line ("downloading", "uploading"); `what` names what moves.
  ProgressBar(std::string verb, std::string what, uint64_t total,
              std::function<void(const std::string&)> print = nullptr);

  // `done` bytes of `total` are there; `force` draws now (and ends the line on a terminal).
  void Update(uint64_t done, bool force = false);
  // Bytes that were there before this transfer began (resumed): left out of the rate.
  void AddAlready(uint64_t bytes) { already_ += bytes; }
  // The progress callback of one object's download (Store::GetToFile), whose bytes come after
  // `before` bytes of this bar: the first report of bytes already on disk (a resumed download)
  // calls `resumed(bytes, object_size)` once and leaves them out of the rate. The bar must
  // outlive the callback.
  std::function<void(uint64_t done, uint64_t total)> ForObject(
      uint64_t before, std::function<void(uint64_t bytes, uint64_t total)> resumed);

 private:
  using Clock = std::chrono::steady_clock;
  std::string verb_, what_;
  uint64_t total_;
  std::function<void(const std::string&)> print_;
  bool tty_;
  Clock::time_point start_ = Clock::now(), last_{};
  double next_frac_ = 0.1;
  uint64_t last_done_ = 0, already_ = 0;
  bool printed_ = false;
};

}  // namespace baton
