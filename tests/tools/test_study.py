"""tests/tools/test_study.py — `sieve profile` and `sieve experiment`, run as a user would.

Usage (meson does this as the test 'study'):  python3 tests/tools/test_study.py PATH/TO/sieve
Checks that profile's tables and CSV charge FLOPs to the right op, phase and module (exact
figures for a tiny ViT), that inference has no backward rows; that `experiment ddvit` on a tiny
generated MNIST trains both models, writes its table with the documented columns and rows whose
measured FLOPs follow the depths, reuses its runs when run again and refuses runs made with other
settings; and that bad input gets one line on stderr and exit 1. Never asserts on timing.
Standard-library Python only.
Extend: add a check_* function and call it from main().
"""
import csv
import os
import sys
import tempfile

import test_cli
import test_train
from test_cli import expect, run
from test_train import one_line_error

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


def check_experiment_ddvit(tmp):
    data = test_train.make_mnist(os.path.join(tmp, "data"), n_train=256, n_test=64)
    out = os.path.join(tmp, "exp")
    args = ["experiment", "ddvit", "--data-dir", data, "--epochs", "1", "--out", out, "--quiet",
            "--latency-images", "4", "--taus", "0.3,0.999", "--threads", "2"]
    code, text, err = run(*args)
    expect(code == 0, "experiment ddvit (tiny) exits 0", err)
    expect("target (DD-ViT" in text, "experiment ddvit answers the issue's target in its last line", text)
    rows = read_csv(os.path.join(out, "ddvit.csv"))
    expect(rows and list(rows[0].keys()) == ["model", "policy", "tau", "accuracy", "mean_depth", "gflops_per_image",
                                             "flops_vs_vit", "latency_b1_ms", "throughput_b256"],
           "ddvit.csv columns", str(rows[:1]))
    test_cli.expect_renders(os.path.join(out, "ddvit.csv"), "ddvit", "| DD-ViT, exit at τ = 0.999 |")
    expect([(r["model"], r["policy"], r["tau"]) for r in rows] ==
           [("vit", "full", ""), ("ddvit", "full", ""), ("ddvit", "exit", "0.3"), ("ddvit", "exit", "0.999"),
            ("ddvit", "entropy", "")], "one row per setting, in order", str(rows))
    if len(rows) == 5:
        vit, full, low, high, entropy = rows
        expect(float(vit["mean_depth"]) == 4 and float(vit["flops_vs_vit"]) == 1.0, "the baseline runs 4 blocks, 1×")
        # Same backbone; DD-ViT's only extra work at full depth is its last exit instead of the ViT's head.
        expect(abs(float(full["gflops_per_image"]) / float(vit["gflops_per_image"]) - 1) < 0.01,
               "DD-ViT at full depth costs what the ViT costs", str(full))
        expect(float(low["mean_depth"]) <= float(high["mean_depth"]) <= 4,
               "a lower τ never runs deeper", f"{low['mean_depth']} vs {high['mean_depth']}")
        for r in (low, high, entropy):
            depth = float(r["mean_depth"])
            # FLOPs per image grow with the blocks run: fewer blocks, fewer FLOPs (exits add a little).
            expect(1 <= depth <= 4 and (depth == 4 or float(r["gflops_per_image"]) < float(full["gflops_per_image"])),
                   f"{r['policy']} {r['tau']}: depth in 1..4, and fewer FLOPs when it exits early", str(r))
    for name in ("vit", "ddvit"):
        expect(os.path.exists(os.path.join(out, name, "checkpoint.safetensors")), f"the {name} run is kept in OUT/{name}")

    stamps = [os.path.getmtime(os.path.join(out, n, "checkpoint.safetensors")) for n in ("vit", "ddvit")]
    code, text, err = run(*args)
    expect(code == 0 and text.count("reusing") == 2, "a second run says it reuses both trained models", text + err)
    expect(stamps == [os.path.getmtime(os.path.join(out, n, "checkpoint.safetensors")) for n in ("vit", "ddvit")],
           "a second run leaves both checkpoints untouched")
    code, _, err = run(*[a if a != "1" else "2" for a in args])
    expect(code == 1 and err.count("\n") == 1 and "--retrain" in err,
           "runs trained with other settings are refused in one line (never overwritten)", err)
    code, _, err = run("experiment", "ddvit", "--taus", "0,1", "--data-dir", data, "--out", out)
    expect(code == 1 and err.count("\n") == 1 and "τ" in err, "a τ outside (0, 1] is one line", err)

    # eval and infer choose DD-ViT's policy and τ for the run; infer reports each image's depth.
    ckpt = os.path.join(out, "ddvit", "checkpoint.safetensors")
    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    depths = {}
    for extra in (("--policy", "full"), ("--policy", "exit", "--threshold", "0.01")):
        code, text, err = run("infer", ckpt, images, *extra)
        lines = text.strip().splitlines()
        expect(code == 0 and lines and lines[0].startswith("index,prediction,depth,logit_0"),
               f"infer {' '.join(extra)}: a depth column after the prediction", (text[:300] + err))
        depths[extra[1]] = [int(line.split(",")[2]) for line in lines[1:]] if code == 0 else []
    expect(depths["full"] and all(d == 4 for d in depths["full"]), "--policy full: every image runs 4 blocks")
    expect(depths["exit"] and all(d == 1 for d in depths["exit"]), "--policy exit at τ 0.01: every image leaves at 1")
    code, text, err = run("eval", ckpt, "--data-dir", data, "--policy", "exit", "--threshold", "0.5", "--quiet")
    expect(code == 0 and "accuracy" in text, "eval --policy exit --threshold 0.5", err)
    # The entropy row is reproducible from the file the study saved; the plain run's file says what it lacks.
    entropy_row = next((r for r in rows if r["policy"] == "entropy"), None)
    calibrated = os.path.join(out, "ddvit", "calibrated.safetensors")
    code, text, err = run("eval", calibrated, "--data-dir", data, "--quiet")
    shown = text.split("accuracy ")[1].split("%")[0] if code == 0 and "accuracy " in text else None
    expect(entropy_row is not None and shown is not None and abs(float(shown) - 100 * float(entropy_row["accuracy"])) < 0.01,
           "eval of calibrated.safetensors gives the entropy row's accuracy", text + err + str(entropy_row))
    one_line_error(("eval", ckpt, "--data-dir", data, "--policy", "entropy"), ["calibrated entropy_range",
                   "calibrated.safetensors"], "the entropy policy on an uncalibrated checkpoint")
    code, _, err = run("eval", ckpt, "--data-dir", data, "--threshold", "1.5")
    expect(code == 2 and "--threshold" in err, "a τ outside [0, 1] is a usage error", err)
    code, _, err = run("eval", os.path.join(out, "vit", "checkpoint.safetensors"), "--data-dir", data, "--policy", "exit")
    expect(code == 1 and err.count("\n") == 1 and "no option policy" in err, "--policy with a ViT is refused", err)


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        check_profile_train(tmp)
        check_profile_infer(tmp)
        check_profile_errors(tmp)
        check_experiment_ddvit(tmp)
    return test_cli.report("study")


if __name__ == "__main__":
    sys.exit(main())
