// The live status line of `baton run` and the progress bar of `baton train`: event lines scroll,
// the status line stays at the bottom of the terminal, redrawn in place ("\r\033[K"). Without a
// terminal (a log file) the status is a plain line now and then, or not shown at all.
#pragma once

#include <mutex>
#include <string>

namespace baton::cli {

class StatusLine {
 public:
  // Without a terminal, a status is printed as a line of its own at most every `plain_every_s`
  // seconds (< 0: never). `tty`: whether stderr is a terminal (isatty(2)).
  StatusLine(bool tty, double plain_every_s);
  bool tty() const { return tty_; }
  // An event line, printed above the status line.
  void Line(const std::string& s);
  // Replaces the status line; `real_now` is a clock in seconds (for the plain lines' pace).
  void Status(const std::string& s, double real_now);
  // Ends the status line (a newline on a terminal, so later output starts on its own line).
  void Done();

 private:
  const bool tty_;
  const double plain_every_s_;
  std::mutex mu_;
  std::string status_;
  double last_ = -1e300;
};

// "step 3/10 [######--------------] 30%": the step, a bar `width` characters wide and the
// percentage, shared by both status lines. total <= 0: "step 3/?" without a bar.
std::string StepBar(double done, double total, int width = 20);

// A duration as a clock: "0:07", "12:34", "1:02:03" (negative or non-finite: "?").
std::string ClockDuration(double seconds);

}  // namespace baton::cli
