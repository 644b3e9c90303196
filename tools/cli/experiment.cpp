// tools/cli/experiment.cpp — `sieve experiment NAME`: the studies of ../shared/EXPERIMENTS.md, each
// one command that trains what it needs (or reuses its earlier runs), measures, and writes its
// table as CSV (plus a PNG where a chart reads better) under runs/experiment-NAME-...
//
// What it is not: the studies themselves; each lives in tools/experiments/<name>.cpp.
// Extend: write tools/experiments/<name>.cpp with an add_<name>_study(experiment, run), declare it in
// tools/experiments/common.h, call it below, add the file to tools/meson.build and a case to tests/tools/test_study.py
// (a sequence study: tests/tools/test_sequence_studies.py).
#include "tools/cli/commands.h"
#include "tools/experiments/common.h"

namespace sieve::tools {

void add_experiment_command(CLI::App& app, Runner* run) {
  CLI::App* experiment = app.add_subcommand("experiment", "run a study end to end and write its table (CSV, PNG)");
  experiment->require_subcommand(1);
  experiment->footer("Each study: sieve experiment NAME --help. Results go to runs/experiment-NAME-...");
  add_ddvit_study(experiment, run);
  add_induction_study(experiment, run);
  add_selective_copy_study(experiment, run);
  add_mrss_study(experiment, run);
  add_vtp_study(experiment, run);
  add_vmamba_study(experiment, run);
  add_projectors_study(experiment, run);
}

}  // namespace sieve::tools
