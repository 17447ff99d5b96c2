#include "cli/status_line.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fmt/format.h"

namespace baton::cli {

StatusLine::StatusLine(bool tty, double plain_every_s) : tty_(tty), plain_every_s_(plain_every_s) {}

void StatusLine::Line(const std::string& s) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool shown = tty_ && !status_.empty();
  std::fprintf(stderr, "%s%s\n", shown ? "\r\033[K" : "", s.c_str());
  if (shown) std::fprintf(stderr, "%s", status_.c_str());
  std::fflush(stderr);
}

void StatusLine::Status(const std::string& s, double real_now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_) {
    status_ = s;
    std::fprintf(stderr, "\r\033[K%s", s.c_str());
  } else if (plain_every_s_ >= 0 && real_now - last_ >= plain_every_s_) {
    last_ = real_now;
    std::fprintf(stderr, "%s\n", s.c_str());
  }
  std::fflush(stderr);
}

void StatusLine::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_ && !status_.empty()) std::fprintf(stderr, "\n");
  status_.clear();
  std::fflush(stderr);
}

std::string StepBar(double done, double total, int width) {
  if (!(total > 0) || !std::isfinite(done) || !std::isfinite(total)) {
    return fmt::format("step {:.0f}/?", std::isfinite(done) ? done : 0.0);
  }
  const double share = std::clamp(done / total, 0.0, 1.0);
  const int full = static_cast<int>(std::floor(share * width));
  return fmt::format("step {:.0f}/{:.0f} [{}{}] {:.0f}%", done, total, std::string(full, '#'),
                     std::string(width - full, '-'), std::floor(share * 100));
}

std::string ClockDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return "?";
  const long long s = std::llround(seconds);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace baton::cli
