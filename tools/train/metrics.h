// tools/train/metrics.h — a run's metrics: one CSV row per epoch, and PNG curves drawn from the CSV.
//
// metrics.csv  epoch,step,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,samples_per_s
// curves.png   loss (train, test) and accuracy (train, test) against the epoch, two panels,
//              drawn by gnuplot (Debian's gnuplot-nox) from the CSV; without gnuplot the CSV is
//              still written and the caller is told why no PNG was made.
// A resumed run keeps the rows of the epochs before the one it resumes in and appends after them,
// so the file always describes one run. Each write replaces the file atomically.
//
// run_gnuplot is the one place sieve starts gnuplot; the studies (tools/experiments/) draw with it too.
// What it is not: the profiler's tables (tools/cli/profile.cpp).
// Extend: a new column goes in kMetricsColumns and in the row the trainer builds.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sieve::tools {

inline const std::vector<std::string> kMetricsColumns = {
    "epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "epoch_seconds", "samples_per_s"};

class MetricsLog {
 public:
  // Opens path; rows whose epoch (first column, counted from 1) is >= first_epoch are dropped
  // (a resumed run re-writes them), the rest are kept. A file with another header is an error
  // naming it.
  MetricsLog(std::string path, int64_t first_epoch);
  void append(const std::vector<double>& row);  // one value per column
  const std::string& path() const { return path_; }

 private:
  void write() const;
  std::string path_;
  std::vector<std::string> rows_;
};

// Draws curves.png from the CSV with gnuplot. Returns "" on success, else why not (no gnuplot,
// gnuplot failed) — a missing plot is a note, not a failed run.
std::string plot_curves(const std::string& csv_path, const std::string& png_path, const std::string& title);

// Runs the gnuplot script script(out), which must draw a PNG into the file `out`; the PNG then
// replaces png_path. Returns "" on success, else why not. Paths with a quote are refused (they
// would break the script's quoting).
std::string run_gnuplot(const std::function<std::string(const std::string& out)>& script, const std::string& png_path);

}  // namespace sieve::tools
