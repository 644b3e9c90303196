"""tests/tools/test_results.py — tools/results, which renders RESULTS.md's tables from the studies' CSVs.

Usage (meson does this as the test 'results'):  python3 tests/tools/test_results.py PATH/TO/tools/results
In a temporary folder: a markdown file with a table marked for a ddvit CSV, one for an induction
CSV and one for a CSV that is not there. Checks that the run rewrites the first two from their
CSVs (values, percentages, the pivot by length) and keeps the third and the prose as they were,
that --check then passes and fails once a CSV changes, and that a bad kind, a missing file and a
CSV without the kind's columns are one-line errors. The studies' own CSVs are rendered by
test_study.py and test_sequence_studies.py (--show), which ties the renderers to what the
studies really write. Standard-library Python only.
"""
import os
import subprocess
import sys
import tempfile

from test_cli import expect, report

RESULTS = None

DDVIT = """model,policy,tau,accuracy,mean_depth,gflops_per_image,flops_vs_vit,latency_b1_ms,throughput_b256
vit,full,,0.9906,4.000,0.016420,1.000,0.630,7303
ddvit,exit,0.99,0.9883,1.550,0.006410,0.390,0.220,16810
"""
INDUCTION = """model,length,accuracy,loss,sequences,seconds,note
mamba,64,1.0000,0.0010,256,0.50,
transformer,64,0.7310,0.9000,256,0.40,
mamba,128,0.9961,0.0100,256,0.90,
transformer,128,,,0,0.00,not run: attention is O(L²)
"""
DOC = """# Results

Prose stays.

<!-- results: runs/a/ddvit.csv ddvit -->
| an old table |
<!-- /results -->

Between.

<!-- results: runs/b/induction.csv induction -->
| old |
<!-- /results -->

<!-- results: runs/c/missing.csv mrss -->
| kept as written |
<!-- /results -->
"""


def run(*args, cwd=None):
    p = subprocess.run([sys.executable, RESULTS, *args], capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def check_rewrite(tmp):
    write(os.path.join(tmp, "runs", "a", "ddvit.csv"), DDVIT)
    write(os.path.join(tmp, "runs", "b", "induction.csv"), INDUCTION)
    doc = os.path.join(tmp, "RESULTS.md")
    write(doc, DOC)
    code, out, err = run("--check", cwd=tmp)
    expect(code == 1 and "differs: the table from runs/a/ddvit.csv" in out, "--check fails while a table is stale",
           out + err)
    code, out, err = run(cwd=tmp)
    text = open(doc).read()
    expect(code == 0 and "rewrote: the table from runs/a/ddvit.csv" in out and "kept (no runs/c/missing.csv here)" in out,
           "a run rewrites the tables whose CSV is there and says which it kept", out + err)
    expect("| ViT | 99.06% | 4.00 | 0.01642 | 1.000 | 0.63 | 7303 |" in text and
           "| DD-ViT, exit at τ = 0.99 | 98.83% | 1.55 | 0.00641 | 0.390 | 0.22 | 16810 |" in text,
           "the ddvit table holds the CSV's rows as percentages and fixed digits", text)
    expect("| L | 64 | 128 |" in text and "| mamba | 100.0 | 99.6 |" in text and "| transformer | 73.1 | — |" in text,
           "the induction table has one row per model and one column per length, — where not run", text)
    expect("| kept as written |" in text and "Prose stays." in text and "Between." in text and "an old table" not in text,
           "prose and the table without its CSV are kept; the stale table is gone", text)
    code, out, _ = run("--check", cwd=tmp)
    expect(code == 0, "--check passes after the rewrite", out)
    write(os.path.join(tmp, "runs", "a", "ddvit.csv"), DDVIT.replace("0.9906", "0.9801"))
    code, out, _ = run("--check", cwd=tmp)
    expect(code == 1, "--check fails once a CSV changes", out)


def check_errors(tmp):
    write(os.path.join(tmp, "bad.csv"), "a,b\n1,2\n")
    for args, words, what in [
        (["--show", os.path.join(tmp, "runs", "a", "ddvit.csv"), "nope"], ["unknown kind", "nope"], "an unknown kind"),
        (["--show", os.path.join(tmp, "none.csv"), "ddvit"], ["none.csv"], "a missing CSV"),
        (["--show", os.path.join(tmp, "bad.csv"), "mrss"], ["bad.csv", "mrss", "lacks"], "a CSV without the columns"),
        (["--frobnicate"], ["unknown arguments"], "an unknown flag"),
    ]:
        code, out, err = run(*args, cwd=tmp)
        expect(code != 0 and err.count("\n") == 1 and all(w in err for w in words), f"{what} is one line naming it",
               out + err)


def main():
    global RESULTS
    RESULTS = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        check_rewrite(tmp)
        check_errors(tmp)
    return report("results")


if __name__ == "__main__":
    sys.exit(main())
