// tools/train/progress.h — the progress line long work shows: where it is, its figures, and the ETA.
//
//   epoch 2/3  312/469 [##########......]  loss 0.2130  acc 93.5%  12.3k samples/s  ETA 0:04
//
// On a terminal the line is redrawn in place (at most 10 times a second); when stderr is a file
// or a CI log it is printed as whole lines, one per 10% of the work, so logs stay short.
// The ETA is the remaining steps at the average rate so far.
//
// What it is not: the per-epoch summary (the trainer prints that on stdout) or logging.
// Extend: add a figure by passing it in `fields` (label, value already formatted).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace sieve::tools {

class ProgressBar {
 public:
  // title: "epoch 2/3"; total: steps in this stretch of work; quiet: print nothing at all.
  ProgressBar(std::string title, int64_t total, bool quiet = false);
  // done: steps finished so far; fields: ("loss", "0.2130"), ...
  void update(int64_t done, const std::vector<std::pair<std::string, std::string>>& fields);
  void finish();  // ends the line on a terminal (the caller then prints its summary)

  static std::string format_duration(double seconds);  // "0:04", "1:02:03"
  static std::string format_rate(double per_second);   // "950", "12.3k", "1.2M"

 private:
  std::string title_;
  int64_t total_;
  bool quiet_, tty_;
  int64_t start_done_ = -1;  // steps already done at the first update (a resumed epoch)
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  bool drawn_ = false;
};

}  // namespace sieve::tools
