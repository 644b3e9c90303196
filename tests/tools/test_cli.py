"""tests/tools/test_cli.py — runs the built `sieve` binary the way a user would.

Usage (meson does this as the test 'tools'):  python3 tests/tools/test_cli.py PATH/TO/sieve
Checks exit codes and what is printed: --help everywhere, `ckpt info` on good and hostile files
(one line "sieve: FILE: problem", exit 1), unknown flags, and that `bench ops --quick --csv` and
`bench vit --quick` (tiny batch, no PyTorch) write the documented columns and rows. Timings and
ratios are never asserted.
Needs only the Python standard library (any python3). Extend: add a check_* function and call it
from main().
"""
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile

SIEVE = None
failures = []
checks = 0


def run(*args, env=None, timeout=600, cwd=None):
    full_env = dict(os.environ, **(env or {}))
    p = subprocess.run([SIEVE, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, detail=""):
    global checks
    checks += 1
    if not cond:
        failures.append(what + (("\n    " + detail.strip().replace("\n", "\n    ")) if detail else ""))
        print("FAIL:", what, file=sys.stderr)


def safetensors_bytes(entries, metadata=None, raw_header=None):
    """entries: name -> (dtype code, shape, raw bytes)."""
    header, data = {}, b""
    for name, (code, shape, raw) in entries.items():
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


RESULTS_TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "results")


def expect_renders(path, kind, must_contain):
    """tools/results renders a study's CSV as RESULTS.md shows it (test_results.py tests the tool)."""
    p = subprocess.run([sys.executable, RESULTS_TOOL, "--show", path, kind], capture_output=True, text=True)
    expect(p.returncode == 0 and must_contain in p.stdout,
           f"tools/results renders {os.path.basename(path)} as a {kind} table", p.stdout + p.stderr)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def check_help():
    for args in (["--help"], ["ckpt", "--help"], ["ckpt", "info", "--help"], ["ckpt", "strip-head", "--help"],
                 ["bench", "--help"], ["bench", "ops", "--help"], ["bench", "vit", "--help"],
                 ["bench", "clip", "--help"], ["experiment", "vtp", "--help"], ["train", "--help"],
                 ["train", "mlp", "--help"], ["eval", "--help"], ["infer", "--help"], ["profile", "--help"],
                 ["profile", "vit", "--help"], ["experiment", "--help"], ["experiment", "ddvit", "--help"]):
        code, out, err = run(*args)
        expect(code == 0, f"sieve {' '.join(args)} exits 0", err)
        expect("Usage:" in out, f"sieve {' '.join(args)} prints usage", out)
    code, out, _ = run("--help")
    expect(all(w in out for w in ("train", "eval", "infer", "ckpt", "bench", "profile", "experiment", "--threads")),
           "sieve --help lists train, eval, infer, ckpt, bench, profile, experiment, --threads", out)


def check_usage_errors():
    cases = [(["--bogus"], "--bogus"), (["ckpt", "info", "--bogus", "x"], "--bogus"),
             (["bench", "ops", "--nope"], "--nope"), (["--threads", "0", "ckpt", "info", "x"], "--threads"),
             (["--threads", "100000", "ckpt", "info", "x"], "4 per core"),
             ([], "command"), (["ckpt"], "command"), (["ckpt", "info"], "FILE")]
    for args, word in cases:
        code, out, err = run(*args)
        lines = err.strip().splitlines()
        expect(code != 0, f"sieve {' '.join(args)} exits non-zero", err)
        expect(len(lines) == 1 and lines[0].startswith("sieve: ") and word in lines[0],
               f"sieve {' '.join(args)} prints one line naming {word}", err)


def check_ckpt_info(tmp):
    good = write(os.path.join(tmp, "good.safetensors"), safetensors_bytes({
        "blocks.0.attn.qkv.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
        "labels": ("I64", [4], struct.pack("<4q", 1, 2, 3, 4)),
        "scale": ("F64", [], struct.pack("<d", 0.5)),
        "half": ("BF16", [2], struct.pack("<2H", 0x3f80, 0x4000)),
    }, metadata={"model": "vit", "config": '{"dim": 64}'}))
    code, out, err = run("ckpt", "info", good)
    expect(code == 0, "ckpt info on a good file exits 0", err)
    for text in ("blocks.0.attn.qkv.weight", "(2, 3)", "F32", "labels", "(4,)", "I64", "scale", "()", "F64",
                 "half", "BF16", "model = vit", "4 tensors"):
        expect(text in out, f"ckpt info output mentions {text!r}", out)

    data = open(good, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    hostile = {
        "truncated.safetensors": data[:-5],
        "header_cut.safetensors": data[: 8 + n // 2],
        "tiny.safetensors": b"\x01\x02",
        "huge_header.safetensors": struct.pack("<Q", 1 << 60) + b"{}",
        "not_json.safetensors": safetensors_bytes({}, raw_header=b"{nope"),
        "duplicate.safetensors": safetensors_bytes({}, raw_header=(
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')) + b"\0" * 4,
        "bad_dtype.safetensors": safetensors_bytes({"x": ("Q8", [1], b"\0")}),
    }
    for name, blob in hostile.items():
        path = write(os.path.join(tmp, name), blob)
        code, out, err = run("ckpt", "info", path)
        lines = err.strip().splitlines()
        expect(code == 1, f"ckpt info on {name} exits 1 (got {code})", err)
        expect(len(lines) == 1 and lines[0].startswith(f"sieve: {path}: "),
               f"ckpt info on {name} prints one line 'sieve: FILE: problem'", err)
    for path in (os.path.join(tmp, "missing.safetensors"), tmp):
        code, _, err = run("ckpt", "info", path)
        expect(code == 1 and err.count("\n") == 1 and path in err, f"ckpt info on {path} fails in one line", err)


EXPECTED_ROWS = [
    "matmul_1024x1024x1024", "matmul_6400x64x192", "matmul_6400x192x64_Bt", "matmul_64x6400x192_At",
    "add_16M_f32", "gelu_16M_f32",
    "softmax_fwd_bwd_6400x64", "softmax_fwd_bwd_4096x1024",
    "layer_norm_fwd_bwd_6400x64", "layer_norm_fwd_bwd_4096x1024",
    "attention_fwd_128x4x50x16", "attention_fwd_bwd_128x4x50x16",
    "attention_fwd_64x4x197x16", "attention_fwd_bwd_64x4x197x16",
]


def bench_csv_rows(what, path, names):
    """The data rows of a `sieve bench` CSV, after checking its header and its rows' names."""
    if not os.path.exists(path):
        expect(False, f"{what} --csv writes the file")
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    expect(rows and rows[0] == ["bench", "figure", "unit", "reference", "reference_figure", "ratio"],
           f"{what} CSV header is bench,figure,unit,reference,reference_figure,ratio", str(rows[:1]))
    expect([r[0] for r in rows[1:]] == names, f"{what} CSV rows are the documented ones", str([r[0] for r in rows[1:]]))
    return rows[1:]


def check_bench(tmp):
    code, _, err = run("bench", "ops", "--quick", "--csv", os.path.join(tmp, "no", "such", "dir.csv"))
    expect(code == 1 and err.count("\n") == 1 and "dir.csv" in err, "bench ops --csv to a bad path fails in one line", err)

    path = os.path.join(tmp, "bench.csv")
    code, out, err = run("bench", "ops", "--quick", "--csv", path, "--threads", "2")
    expect(code == 0, "bench ops --quick --csv exits 0", err)
    expect("ratio" in out, "bench ops prints a table", out)
    rows = bench_csv_rows("bench ops", path, EXPECTED_ROWS)
    expect_renders(path, "bench", "| add_16M_f32 |")
    for r in rows:
        ok = len(r) == 6 and float(r[1]) > 0 and r[2] in ("GFLOP/s", "GB/s", "ms") and r[3]
        ok = ok and (r[4] == "" or float(r[4]) > 0) and (r[5] == "" or float(r[5]) > 0)
        expect(ok, f"CSV row {r[0] if r else '?'} is well formed", str(r))


VIT_ROWS = ["vit_train_step_b8", "vit_infer_b8", "vit_mnist_epoch_b8"]


def check_bench_vit(tmp):
    """A tiny-batch smoke run without PyTorch (a few seconds): the rows, units and empty ratios."""
    path = os.path.join(tmp, "vit.csv")
    code, out, err = run("bench", "vit", "--quick", "--batch", "8", "--infer-batch", "8", "--csv", path,
                         "--threads", "2", env={"SIEVE_PYTHON": "none"})
    expect(code == 0, "bench vit --quick --batch 8 exits 0", err)
    expect("ratio" in out and "parameters: sieve 139018" in out and "epoch = 7500 steps" in out,
           "bench vit prints its table, the parameter count and the epoch's steps", out)
    expect("PyTorch reference unavailable (SIEVE_PYTHON=none)" in err, "bench vit says why it has no reference", err)
    for r, unit in zip(bench_csv_rows("bench vit", path, VIT_ROWS), ("ms", "ms", "s")):
        ok = len(r) == 6 and float(r[1]) > 0 and r[2] == unit and r[3] == "torch (unavailable)" and r[4:] == ["", ""]
        expect(ok, f"bench vit CSV row {r[0] if r else '?'} is well formed", str(r))
    code, _, err = run("bench", "vit", "--batch", "0")
    expect(code == 2 and "--batch" in err, "bench vit --batch 0 is a usage error naming --batch", err)


def check_bench_vit_load(tmp):
    """--load 1: the extra row and the slowdown line, and no busy process outlives the bench."""
    path = os.path.join(tmp, "vit-load.csv")
    code, out, err = run("bench", "vit", "--quick", "--batch", "8", "--infer-batch", "8", "--csv", path, "--load", "1",
                         "--threads", "2", env={"SIEVE_PYTHON": "none"})
    expect(code == 0, "bench vit --load 1 exits 0", err)
    expect("beside 1 busy process: sieve's step" in out, "bench vit --load 1 prints sieve's slowdown", out)
    rows = bench_csv_rows("bench vit --load 1", path, VIT_ROWS + ["vit_train_step_b8_load1"])
    expect(len(rows) == 4 and float(rows[3][1]) > 0 and rows[3][2] == "ms", "the loaded step's row is well formed",
           str(rows))
    left = []  # the busy processes are forks of the bench: the same command line, with this CSV path in it
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if path.encode() in f.read():
                    left.append(pid)
        except OSError:
            pass
    expect(not left, "no busy process is left once bench vit --load has finished", str(left))
    code, _, err = run("bench", "vit", "--load", "65")
    expect(code == 2 and "--load" in err, "bench vit --load 65 is a usage error naming --load", err)


def check_spin_count(tmp):
    """A computing command runs with GOMP_SPINCOUNT=1000 unless the user chose a wait policy, and the
    programs it starts (PyTorch in the benches) do not inherit it."""
    def env_of_running(extra_env):
        p = subprocess.Popen([SIEVE, "bench", "vit", "--quick", "--batch", "8", "--infer-batch", "8"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, SIEVE_PYTHON="none", **extra_env))
        try:
            p.stderr.readline()  # its first progress line: by then it is past the exec
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        finally:
            p.kill()
            p.wait()
    env = env_of_running({})
    expect(env.get(b"GOMP_SPINCOUNT") == b"1000", "sieve runs its work with GOMP_SPINCOUNT=1000", str(env.get(b"GOMP_SPINCOUNT")))
    env = env_of_running({"OMP_WAIT_POLICY": "active"})
    expect(b"GOMP_SPINCOUNT" not in env, "a user's OMP_WAIT_POLICY is left alone (no GOMP_SPINCOUNT added)")
    # A stand-in for python that records the environment it was given, then fails (no reference).
    fake = os.path.join(tmp, "fake-python")
    seen = os.path.join(tmp, "fake-python.env")
    with open(fake, "w") as f:
        f.write(f"#!/bin/sh\nenv > {seen}\nexit 3\n")
    os.chmod(fake, 0o755)
    run("bench", "vit", "--quick", "--batch", "8", "--infer-batch", "8", env={"SIEVE_PYTHON": fake})
    text = open(seen).read() if os.path.exists(seen) else ""
    expect(text and "GOMP_SPINCOUNT" not in text and "SIEVE_SET_GOMP_SPINCOUNT" not in text,
           "programs sieve starts keep their own OpenMP defaults", text[:300])


def check_bench_loader():
    code, out, err = run("bench", "loader", "--help")
    expect(code == 0 and "--step-ms" in out, "bench loader --help exits 0 and lists --step-ms", err)
    code, out, err = run("bench", "loader", "--batches", "20", "--step-ms", "0.5")
    expect(code == 0 and "stall ms/batch" in out and out.count("step 0.5 ms") == 2,
           "bench loader --batches 20 prints its table (timings not asserted)", out + err)


def report(suite):
    """Prints the failures (or the count of passed checks); returns the exit code."""
    if failures:
        print(f"{len(failures)} of {checks} checks failed:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    print(f"{suite}: all {checks} checks passed")
    return 0


def main():
    global SIEVE
    if len(sys.argv) != 2:
        print("usage: test_cli.py PATH/TO/sieve", file=sys.stderr)
        return 2
    SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="sieve-cli-") as tmp:
        check_help()
        check_usage_errors()
        check_ckpt_info(tmp)
        check_bench(tmp)
        check_bench_vit(tmp)
        check_bench_vit_load(tmp)
        check_spin_count(tmp)
        check_bench_loader()
    return report("tools")


if __name__ == "__main__":
    sys.exit(main())
