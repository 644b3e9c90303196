"""tests/tools/test_study.py — `sieve profile` and `sieve experiment`, run as a user would.

Usage (meson does this as the test 'study'):  python3 tests/tools/test_study.py PATH/TO/sieve
Checks that profile's tables and CSV charge FLOPs to the right op, phase and module (exact
figures for a tiny ViT), that inference has no backward rows, and that bad input gets one line on
stderr and exit 1. Never asserts on timing. Standard-library Python only.
Extend: add a check_* function and call it from main().
"""
import csv
import os
import sys
import tempfile

import test_cli
from test_cli import expect, run

TINY_VIT = ["--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "32"]


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rows_of(rows, table, name, phase):
    return [r for r in rows if r["table"] == table and r["name"] == name and r["phase"] == phase]


def check_profile_train(tmp):
    path = os.path.join(tmp, "prof.csv")
    code, out, err = run("profile", "--batch-size", "4", "--steps", "2", "--warmup", "1", "--csv", path,
                         "--threads", "2", "vit", *TINY_VIT)
    expect(code == 0, "profile vit (tiny) exits 0", err)
    expect("op phase" in out and "module (inclusive)" in out and "GFLOP per step" in out,
           "profile prints the op table, the module table and the FLOP line", out)
    rows = read_csv(path)
    expect(rows and list(rows[0].keys()) == ["table", "name", "phase", "calls", "ms", "time_share", "mflop",
                                             "flop_share", "gflop_per_s", "mb"], "profile CSV columns", str(rows[:1]))
    # fc1 on B·T = 4·(1 + 7·7) tokens: the (200, 16)·(16, 32) product, 2·200·16·32 FLOPs, plus the
    # bias add, 200·32; backward: dx and dW (two products) plus the bias gradient's sum, 200·32.
    tokens = 4 * 50
    fc1_fwd = rows_of(rows, "module", "blocks.0.mlp.fc1", "forward")
    fc1_bwd = rows_of(rows, "module", "blocks.0.mlp.fc1", "backward")
    expect(len(fc1_fwd) == 1 and abs(float(fc1_fwd[0]["mflop"]) - (2 * tokens * 16 * 32 + tokens * 32) / 1e6) < 1e-9,
           "fc1's forward FLOPs per step are 2·B·T·16·32 + B·T·32", str(fc1_fwd))
    expect(len(fc1_bwd) == 1 and abs(float(fc1_bwd[0]["mflop"]) - (4 * tokens * 16 * 32 + tokens * 32) / 1e6) < 1e-9,
           "fc1's backward FLOPs are two products and the bias sum", str(fc1_bwd))
    qkv = rows_of(rows, "module", "blocks.0.attn.qkv", "forward")
    expect(len(qkv) == 1 and abs(float(qkv[0]["mflop"]) - 3 * (2 * tokens * 16 * 16 + tokens * 16) / 1e6) < 1e-9,
           "the q, k and v products and biases are charged to attn.qkv", str(qkv))
    attention = rows_of(rows, "op", "attention", "forward")
    expect(len(attention) == 1 and abs(float(attention[0]["mflop"]) - 4 * 2 * 50 * 50 * (4 * 8 + 5) / 1e6) < 1e-9,
           "attention's forward FLOPs are B·H·L²·(4D + 5)", str(attention))
    expect(len(rows_of(rows, "op", "adamw_step", "update")) == 1, "the AdamW step is an update-phase row")
    expect(len(rows_of(rows, "module", "(optimizer)", "update")) == 1, "the optimizer has its own module row")
    expect(float(rows_of(rows, "op", "matmul", "forward")[0]["calls"]) == 8,
           "eight products a step: patch, q, k, v, proj, fc1, fc2, head",
           str(rows_of(rows, "op", "matmul", "forward")))
    shares = sum(float(r["time_share"]) for r in rows if r["table"] == "op")
    expect(abs(shares - 1.0) < 0.01, "op time shares add up to 1", str(shares))


def check_profile_infer(tmp):
    path = os.path.join(tmp, "infer.csv")
    code, out, err = run("profile", "--mode", "infer", "--batch-size", "3", "--steps", "1", "--warmup", "0",
                         "--csv", path, "vit", *TINY_VIT)
    expect(code == 0, "profile --mode infer exits 0", err)
    rows = read_csv(path)
    expect(rows and all(r["phase"] == "forward" for r in rows if r["table"] != "total"),
           "inference has forward rows only", str([r for r in rows if r["phase"] not in ("forward", "all")][:3]))


def check_profile_errors(tmp):
    blocker = os.path.join(tmp, "a-file")
    open(blocker, "w").close()
    for args, needle in ((["profile"], "name a model"),
                         (["profile", "--checkpoint", os.path.join(tmp, "none.safetensors")], "none.safetensors"),
                         (["profile", "--csv", os.path.join(blocker, "x.csv"), "--steps", "1",
                           "--warmup", "0", "--batch-size", "1", "mlp"], "x.csv"),
                         (["profile", "vit", "--dim", "abc"], "--dim")):
        code, _, err = run(*args)
        expect(code != 0 and err.count("\n") == 1 and needle in err, f"sieve {' '.join(args)}: one-line error", err)


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        check_profile_train(tmp)
        check_profile_infer(tmp)
        check_profile_errors(tmp)
    return test_cli.report("study")


if __name__ == "__main__":
    sys.exit(main())
