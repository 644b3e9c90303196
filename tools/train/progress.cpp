// tools/train/progress.cpp — ProgressBar (see progress.h).
#include "tools/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fmt/format.h>

namespace sieve::tools {

using Clock = std::chrono::steady_clock;

ProgressBar::ProgressBar(std::string title, int64_t total, bool quiet)
    : title_(std::move(title)), total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string ProgressBar::format_rate(double per_second) {
  if (per_second >= 1e6) return fmt::format("{:.1f}M", per_second / 1e6);
  if (per_second >= 1e4) return fmt::format("{:.1f}k", per_second / 1e3);
  return fmt::format("{:.0f}", per_second);
}

void ProgressBar::update(int64_t done, const std::vector<std::pair<std::string, std::string>>& fields) {
  if (quiet_ || total_ <= 0) return;
  const auto now = Clock::now();
  if (start_done_ < 0) {
    start_done_ = done;
    start_ = now;
  }
  const bool last = done >= total_;
  const int decile = static_cast<int>(10 * done / total_);
  if (tty_) {
    if (!last && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else {
    // A log gets a line per 10% of the work, none closer than a second apart, and no closing
    // line for work that printed nothing (a half-second evaluation stays out of the log).
    const bool new_decile = decile != last_decile_;
    const bool second_passed = now - (drawn_ ? last_draw_ : start_) >= std::chrono::seconds(1);
    if (last ? !drawn_ : !(new_decile && second_passed)) return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  drawn_ = true;

  constexpr int kWidth = 20;
  const int filled = static_cast<int>(kWidth * done / total_);
  std::string line = fmt::format("{}  {}/{} [{}{}]", title_, done, total_, std::string(filled, '#'),
                                 std::string(kWidth - filled, '.'));
  for (const auto& [label, value] : fields) line += fmt::format("  {} {}", label, value);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t steps = done - start_done_;
  if (!last) {
    const double eta = steps > 0 ? elapsed / steps * static_cast<double>(total_ - done) : NAN;
    line += "  ETA " + format_duration(eta);
  } else {
    line += "  " + format_duration(elapsed);
  }
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line.c_str());  // \033[K clears what a longer line left
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!quiet_ && tty_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace sieve::tools
