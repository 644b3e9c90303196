// tools/train/metrics.cpp — MetricsLog and plot_curves (see metrics.h).
#include "tools/train/metrics.h"

#include <sys/wait.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

#include "core/error.h"

namespace sieve::tools {

static std::string header_line() { return fmt::format("{}", fmt::join(kMetricsColumns, ",")); }

MetricsLog::MetricsLog(std::string path, int64_t first_epoch) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!in) return;  // a new run
  std::string line;
  if (!std::getline(in, line)) return;
  if (line != header_line())
    fail_file(path_, "not a sieve metrics file (header '{}'); use another --out directory", printable(line, 200));
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // epoch is the first column; rows of the resumed epoch and later are written again.
    int64_t epoch = 0;
    const char* end = line.data() + line.find(',');
    if (line.find(',') == std::string::npos || std::from_chars(line.data(), end, epoch).ptr != end)
      fail_file(path_, "a row does not start with an epoch number: '{}'", printable(line, 200));
    if (epoch < first_epoch) rows_.push_back(line);
  }
}

void MetricsLog::append(const std::vector<double>& row) {
  SIEVE_CHECK(row.size() == kMetricsColumns.size(), "metrics row has {} values, expected {}", row.size(),
              kMetricsColumns.size());
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) line += ',';
    line += fmt::format("{:.6g}", row[i]);
  }
  rows_.push_back(line);
  write();
}

void MetricsLog::write() const {
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << header_line() << "\n";
    for (const std::string& r : rows_) out << r << "\n";
    out.flush();
    if (!out) fail_file(tmp, "cannot write the metrics file");
  }
  std::filesystem::rename(tmp, path_);
}

// Two panels from the CSV: loss and accuracy per epoch, train and test.
static std::string gnuplot_script(const std::string& csv, const std::string& png, const std::string& title) {
  return fmt::format(R"(set terminal pngcairo size 1100,420 font ",10"
set output '{1}'
set datafile separator ','
set key autotitle columnhead bottom right
set grid
set xlabel 'epoch'
set multiplot layout 1,2 title '{2}'
set ylabel 'loss'
set logscale y
set key top right
plot '{0}' using 1:4 with linespoints lw 2 title 'train', '' using 1:6 with linespoints lw 2 title 'test'
unset logscale y
set ylabel 'accuracy (%)'
set key bottom right
plot '{0}' using 1:($5*100) with linespoints lw 2 title 'train', '' using 1:($7*100) with linespoints lw 2 title 'test'
unset multiplot
)",
                     csv, png, title);
}

std::string plot_curves(const std::string& csv_path, const std::string& png_path, const std::string& title) {
  for (const std::string& p : {csv_path, title})
    if (p.find('\'') != std::string::npos) return "a quote in the path or title";
  return run_gnuplot([&](const std::string& out) { return gnuplot_script(csv_path, out, title); }, png_path);
}

std::string run_gnuplot(const std::function<std::string(const std::string& out)>& script_for,
                        const std::string& png_path) {
  if (png_path.find('\'') != std::string::npos) return "a quote in the path";
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
    return "gnuplot not found (apt-get install gnuplot-nox)";
  const std::string tmp = png_path + ".tmp.png";
  FILE* pipe = ::popen("gnuplot 2>/dev/null", "w");
  if (pipe == nullptr) return "cannot start gnuplot";
  const std::string script = script_for(tmp);
  std::fwrite(script.data(), 1, script.size(), pipe);
  const int status = ::pclose(pipe);
  if (status != 0 || !std::filesystem::exists(tmp)) {
    std::filesystem::remove(tmp);
    return "gnuplot failed";
  }
  std::filesystem::rename(tmp, png_path);
  return "";
}

}  // namespace sieve::tools
