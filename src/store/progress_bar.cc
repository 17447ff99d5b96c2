#include "store/progress_bar.h"

#include <unistd.h>

#include <cstdio>

#include "base/strings.h"
#include "store/cache.h"

namespace baton {

ProgressBar::ProgressBar(std::string verb, std::string what, uint64_t total,
                         std::function<void(const std::string&)> print)
    : verb_(std::move(verb)),
      what_(std::move(what)),
      total_(total),
      print_(std::move(print)),
      tty_(isatty(2) != 0) {}

void ProgressBar::Update(uint64_t done, bool force) {
  auto now = Clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  bool redraw = tty_ && !print_;
  if (force && !redraw && done == last_done_ && printed_) return;  // already shown
  if (!force) {
    if (tty_ && now - last_ < std::chrono::milliseconds(200)) return;
    if (!tty_ && frac < next_frac_ && now - last_ < std::chrono::seconds(10)) return;
  }
  last_ = now;
  last_done_ = done;
  printed_ = true;
  while (next_frac_ <= frac) next_frac_ += 0.1;
  const uint64_t moved = done > already_ ? done - already_ : 0;
  double rate = secs > 0 ? static_cast<double>(moved) / secs : 0;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::string eta = rate > 0 && done < total_
                        ? fmt::format(" ETA {:.0f} s", static_cast<double>(total_ - done) / rate)
                        : "";
  std::string line = fmt::format("{} {} [{}] {:3.0f}% {}/{} {}/s{}", verb_, what_, bar, frac * 100,
                                 HumanBytes(static_cast<double>(done)),
                                 HumanBytes(static_cast<double>(total_)), HumanBytes(rate), eta);
  if (print_) {
    print_(line);
  } else if (tty_) {
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    if (force) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

std::function<void(uint64_t, uint64_t)> ProgressBar::ForObject(
    uint64_t before, std::function<void(uint64_t, uint64_t)> resumed) {
  return [this, before, resumed = std::move(resumed), first = true](uint64_t done,
                                                                    uint64_t total) mutable {
    if (first && done > 0) {  // fetched by an earlier, interrupted download
      if (resumed) resumed(done, total);
      AddAlready(done);
    }
    first = false;
    Update(before + done);
  };
}

}  // namespace baton
