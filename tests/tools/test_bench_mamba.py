"""tests/tools/test_bench_mamba.py — `sieve bench mamba` and `sieve bench vmamba` run as a user would.

Usage (meson does this as the test 'bench_mamba'):  python3 tests/tools/test_bench_mamba.py PATH/TO/sieve
Checks: `bench mamba --quick` without PyTorch (SIEVE_PYTHON=none) prints its table, the fitted
exponent line and the parameter count, and writes the documented CSV rows; a bad flag is a usage
error; and, only where /usr/bin/python3 can import torch (skipped with a message otherwise), a
small run beside PyTorch (batch 2, L 64, scans up to 512) whose parameter counts match and whose
rows all have a reference figure. Timings and ratios are never asserted.
Needs only the Python standard library. Extend: add a check_* function and call it from main().
"""
import csv
import os
import subprocess
import sys
import tempfile

import test_cli
from test_cli import expect

HEADER = ["bench", "figure", "unit", "reference", "reference_figure", "ratio"]
PARAMS = 132554  # models/mamba.h at dim 64, depth 4, d_state 16, expand 2, vocab 16, 10 classes


def run(*args, env=None):
    """test_cli.run with a longer limit: the PyTorch side's long scans are slow on 2 cores."""
    return test_cli.run(*args, env=env, timeout=900)


def csv_rows(path, names):
    if not os.path.exists(path):
        expect(False, f"bench --csv writes {path}")
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    expect(rows and rows[0] == HEADER, "bench mamba CSV header is " + ",".join(HEADER), str(rows[:1]))
    expect([r[0] for r in rows[1:]] == names, "bench mamba CSV rows are the documented ones",
           str([r[0] for r in rows[1:]]))
    return rows[1:]


def expected_rows(batch, length, scan_lengths):
    step = f"mamba_train_step_b{batch}_L{length}"
    return [step, step + "_seq"] + [f"mamba_scan_fwd_bwd_L{n}" for n in scan_lengths]


def check_without_torch(tmp):
    path = os.path.join(tmp, "mamba.csv")
    code, out, err = run("bench", "mamba", "--quick", "--csv", path, "--threads", "2", env={"SIEVE_PYTHON": "none"})
    expect(code == 0, "bench mamba --quick exits 0", err)
    expect("ratio" in out and f"parameters: sieve {PARAMS}" in out, "bench mamba prints its table and parameters", out)
    expect("scan time vs L: sieve exponent" in out and "L = 256 … 2048" in out,
           "bench mamba prints the fitted exponent of scan time vs L (--quick: up to 2048)", out)
    expect("PyTorch reference unavailable (SIEVE_PYTHON=none)" in err, "bench mamba says why it has no reference", err)
    for r in csv_rows(path, expected_rows(8, 256, [256, 512, 1024, 2048])):
        ok = len(r) == 6 and float(r[1]) > 0 and r[2] == "ms" and r[3] == "torch (unavailable)" and r[4:] == ["", ""]
        expect(ok, f"bench mamba CSV row {r[0] if r else '?'} is well formed", str(r))
    code, _, err = run("bench", "mamba", "--batch", "0")
    expect(code == 2 and "--batch" in err, "bench mamba --batch 0 is a usage error naming --batch", err)


def torch_importable():
    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK):
        return False
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def check_with_torch(tmp):
    if not torch_importable():
        print("bench_mamba: /usr/bin/python3 cannot import torch; the PyTorch comparison is skipped")
        return
    path = os.path.join(tmp, "mamba-torch.csv")
    code, out, err = run("bench", "mamba", "--quick", "--batch", "2", "--seq-len", "64", "--scan-max-length", "512",
                         "--csv", path, "--threads", "2", env={"SIEVE_PYTHON": "/usr/bin/python3"})
    expect(code == 0, "bench mamba --quick beside PyTorch exits 0", err)
    expect(f"parameters: sieve {PARAMS}, PyTorch {PARAMS}" in out and "not the same model" not in err,
           "sieve's and PyTorch's Mamba have the same parameter count", out + err)
    expect("train step: sieve/torch = " in out and "target ≤ 1/25 = 0.04×" in out,
           "bench mamba prints the issue's target line", out)
    expect("PyTorch (chunked) exponent" in out, "bench mamba prints PyTorch's exponent too", out)
    for r in csv_rows(path, expected_rows(2, 64, [256, 512])):
        ok = len(r) == 6 and r[3].startswith("torch ") and float(r[4]) > 0 and float(r[5]) > 0
        expect(ok, f"bench mamba CSV row {r[0] if r else '?'} has a PyTorch figure and a ratio", str(r))


VMAMBA_PARAMS = 126058  # models/vmamba.h at its defaults (patch 2, dim 32, depths 2,2, d_state 8), 10 classes
VMAMBA_ROWS = ["vmamba_train_step_b2"] + [f"vmamba_routes_K{k}_fwd_bwd" for k in (1, 2, 4)]


def check_vmamba(tmp):
    """bench vmamba: its table, target lines and CSV rows without PyTorch; beside PyTorch (where
    importable) the same parameter count and a reference figure for the training step."""
    path = os.path.join(tmp, "vmamba.csv")
    code, out, err = run("bench", "vmamba", "--quick", "--batch", "2", "--csv", path, "--threads", "2",
                         env={"SIEVE_PYTHON": "none"})
    expect(code == 0, "bench vmamba --quick exits 0", err)
    expect(f"parameters: sieve {VMAMBA_PARAMS}" in out and "routes: K=4 / K=2 route-scan time = " in out,
           "bench vmamba prints its parameters and the route-cost line", out)
    rows = csv_rows(path, VMAMBA_ROWS)
    expect(all(len(r) == 6 and float(r[1]) > 0 and r[2] == "ms" for r in rows), "bench vmamba CSV rows are well formed",
           str(rows))
    if not torch_importable():
        return
    code, out, err = run("bench", "vmamba", "--quick", "--batch", "2", "--threads", "2",
                         env={"SIEVE_PYTHON": "/usr/bin/python3"})
    expect(code == 0 and f"parameters: sieve {VMAMBA_PARAMS}, PyTorch {VMAMBA_PARAMS}" in out,
           "sieve's and PyTorch's VMamba have the same parameter count", out + err)
    expect("train step: sieve/torch = " in out and "target ≤ 0.5×" in out, "bench vmamba prints the step target", out)


def main():
    if len(sys.argv) != 2:
        print("usage: test_bench_mamba.py PATH/TO/sieve", file=sys.stderr)
        return 2
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="sieve-bench-mamba-") as tmp:
        check_without_torch(tmp)
        check_with_torch(tmp)
        check_vmamba(tmp)
    return test_cli.report("bench_mamba")


if __name__ == "__main__":
    sys.exit(main())
