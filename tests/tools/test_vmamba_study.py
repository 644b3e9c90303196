"""tests/tools/test_vmamba_study.py — `sieve experiment vmamba` on tiny generated data, run as a user would.

Usage (meson does this as the test 'vmamba-study'):  python3 tests/tools/test_vmamba_study.py PATH/TO/sieve
On the tiny mnist and fashion-mnist of test_clip.py (one epoch a run, 40 test images): both datasets
have the five rows; the routes that ran, read from the profiler's scan FLOPs, are 4, 2 and 1 for
VMamba's K = 4, 2, 1 and 2 for Vim (both directions) — so a route that silently went missing
would show; the route ablation has two seeds per K and none elsewhere; the size table has every row
at 28, 56 and 14 px (n/a where the patch does not divide 14); a second run reuses every model; a bad
flag is a usage error. Never asserts on timing or accuracy (the runs are a few steps). Standard-library
Python only.
"""
import csv
import os
import sys
import tempfile

import test_cli
import test_clip
from test_cli import expect

ROWS = ["vit", "vmamba-k4", "vmamba-k2", "vmamba-k1", "vim"]


def read_csv(path):
    if not os.path.exists(path):
        expect(False, f"experiment vmamba writes {os.path.basename(path)}")
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = test_clip.make_data(tmp)
        out = os.path.join(tmp, "vmamba")
        args = ("experiment", "vmamba", "--data-dir", data, "--out", out, "--epochs", "1", "--finetune-epochs", "1",
                "--seeds", "2", "--test-images", "40", "--quiet", "--threads", "2")
        code, text, err = test_cli.run(*args, timeout=1500)
        expect(code == 0, "experiment vmamba on tiny data exits 0", err)
        rows = read_csv(os.path.join(out, "vmamba.csv"))
        expect([(r["dataset"], r["row"]) for r in rows] == [(d, n) for d in ("mnist", "fashion-mnist") for n in ROWS],
               "vmamba.csv has the five rows on each dataset", str([(r["dataset"], r["row"]) for r in rows]))
        ran = {(r["dataset"], r["row"]): r["routes_ran"] for r in rows}
        expect(all(ran.get((d, n)) == v for d in ("mnist", "fashion-mnist")
                   for n, v in (("vmamba-k4", "4.00"), ("vmamba-k2", "2.00"), ("vmamba-k1", "1.00"), ("vim", "2.00"),
                                ("vit", ""))),
               "the routes that ran, from the profiler's scan FLOPs, are 4, 2, 1 (VMamba) and 2 (Vim)", str(ran))
        expect(all(r["seeds"] == ("2" if r["row"].startswith("vmamba") else "1") for r in rows),
               "the route ablation trains two seeds per K, one run elsewhere", str([r["seeds"] for r in rows]))
        expect(all(int(r["params"]) > 0 and float(r["gflops_per_image"]) > 0 and 0 <= float(r["top5"]) <= 1
                   and float(r["top1"]) <= float(r["top5"]) for r in rows),
               "every row has parameters, measured FLOPs and top-1 ≤ top-5", str(rows))
        sizes = read_csv(os.path.join(out, "vmamba-sizes.csv"))
        cells = {(r["row"], r["size"]): r for r in sizes}
        expect(sorted(cells) == sorted((n, s) for n in ROWS for s in ("28", "56", "14")),
               "the size table has every row at 28, 56 and 14 px", str(sorted(cells)))
        expect(all((cells[(n, "14")]["finetuned_top1"] == "") == (n in ("vit", "vim")) for n in ROWS if (n, "14") in cells),
               "14 px is n/a exactly for the patch-4 models (ViT, Vim)", str(sizes))
        code, text, err = test_cli.run(*args, timeout=600)
        expect(code == 0 and "reusing the finished run" in text and "training into" not in text,
               "a second run reuses every trained model", text + err)
        code, _, err = test_cli.run("experiment", "vmamba", "--seeds", "0")
        expect(code == 2 and "--seeds" in err and err.count("\n") == 1, "--seeds 0 is a one-line usage error", err)
    return test_cli.report("vmamba-study")


if __name__ == "__main__":
    sys.exit(main())
