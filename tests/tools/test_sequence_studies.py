"""tests/tools/test_sequence_studies.py — `sieve experiment induction | selective-copy | mrss`, run as a
user would, on tiny settings (seconds each).

Usage (meson does this as the test 'sequence-studies'):  python3 tests/tools/test_sequence_studies.py PATH/TO/sieve
Checks, per study: it exits 0 and writes its CSV with the documented columns and one row per
(model, length) or evaluation, in order; the Transformer's lengths past --attention-max-len are
rows with an empty accuracy and a note; MRSS's state updates follow models/mrss.h's formula; a
second run reuses every finished run and leaves the checkpoints untouched, and runs made with other
settings are refused in one line; --quick picks its own sizes and default directory (run in a
temporary working directory, with sizes overridden so it stays tiny); bad flags get one line on
stderr and exit 1; the last lines answer the study's target. Never asserts on timing or accuracy.
Standard-library Python only. Extend: add a check_* function and call it from main().
"""
import csv
import os
import sys
import tempfile

import test_cli
import test_train
from test_cli import expect, run
from test_train import one_line_error


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def with_flag(args, flag, value):
    """args with flag's value replaced (CLI11 refuses a flag given twice)."""
    i = args.index(flag)
    return [*args[:i + 1], value, *args[i + 2:]]


def stamps(out, names):
    return [os.path.getmtime(os.path.join(out, n, "checkpoint.safetensors")) for n in names]


def check_help():
    for name in ("induction", "selective-copy", "mrss"):
        code, out, err = run("experiment", name, "--help")
        expect(code == 0 and "--quick" in out and "--out" in out and "--retrain" in out,
               f"experiment {name} --help lists --quick, --out, --retrain", out + err)
    code, out, _ = run("experiment", "--help")
    expect(all(n in out for n in ("ddvit", "induction", "selective-copy", "mrss")), "experiment --help lists the studies",
           out)


INDUCTION = ["--train-len", "16", "--warmup-len", "8", "--warmup-epochs", "1", "--min-len", "8", "--max-len", "64", "--attention-max-len", "32", "--test-size",
             "16", "--train-size", "128", "--epochs", "1", "--batch-size", "32", "--quiet", "--threads", "2"]


def check_induction(tmp):
    out = os.path.join(tmp, "ind")
    args = ["experiment", "induction", "--out", out, *INDUCTION]
    code, text, err = run(*args)
    expect(code == 0, "experiment induction (tiny) exits 0", err)
    rows = read_csv(os.path.join(out, "induction.csv"))
    expect(rows and list(rows[0].keys()) == ["model", "length", "accuracy", "loss", "sequences", "seconds", "note"],
           "induction.csv columns", str(rows[:1]))
    test_cli.expect_renders(os.path.join(out, "induction.csv"), "induction", "| mamba |")
    expect([(r["model"], r["length"]) for r in rows] ==
           [(m, str(n)) for n in (8, 16, 32, 64) for m in ("mamba", "mrss", "transformer")],
           "one row per length and model, lengths doubling from --min-len to --max-len", str(rows))
    for r in rows:
        skipped = r["model"] == "transformer" and r["length"] == "64"
        if skipped:
            expect(r["accuracy"] == "" and "O(L²)" in r["note"], "attention past --attention-max-len is not run, and says so",
                   str(r))
        else:
            expect(r["accuracy"] != "" and 0 <= float(r["accuracy"]) <= 1 and r["sequences"] == "16",
                   f"{r['model']} at {r['length']}: an accuracy over --test-size sequences", str(r))
        if r["length"] == "16":
            expect("training length" in r["note"], "the training length is marked", str(r))
    expect("paper (" in text.strip().splitlines()[-1], "the last line compares with the paper", text)
    expect("←" in text and "—" in text, "the text table marks the training length and the lengths not run", text)
    for name in ("mamba", "mrss", "transformer"):
        expect(os.path.exists(os.path.join(out, name, "checkpoint.safetensors")), f"the {name} run is kept in OUT/{name}")
        expect(os.path.exists(os.path.join(out, name, "stage1", "checkpoint.safetensors")),
               f"the {name} first stage (--warmup-len) is kept in OUT/{name}/stage1")
    expect("first stage at L = 8" in text, "the first stage's length is printed", text)

    before = stamps(out, ("mamba", "mrss", "transformer"))
    code, text, err = run(*args)
    expect(code == 0 and text.count("reusing") == 6, "a second run reuses the three runs and their first stages",
           text + err)
    expect(before == stamps(out, ("mamba", "mrss", "transformer")), "a second run leaves the checkpoints untouched")
    one_line_error(with_flag(args, "--epochs", "2"), ["--retrain"],
                   "induction: runs with other settings are refused")
    one_line_error(["experiment", "induction", "--out", out, "--models", "mamba,lstm"], ["--models", "lstm"],
                   "induction: an unknown model")
    one_line_error(["experiment", "induction", "--out", out, "--min-len", "128", "--max-len", "64"], ["--min-len"],
                   "induction: --min-len above --max-len")
    one_line_error(["experiment", "induction", "--out", out, "--warmup-len", "2"], ["--warmup-len"],
                   "induction: a first stage too short for the task")

    # --quick: trains at 64 and tests from 32 (sizes overridden to stay tiny), into runs/experiment-induction-quick.
    code, text, err = run("experiment", "induction", "--quick", "--models", "mamba", "--train-size", "32",
                          "--test-size", "4", "--max-len", "64", "--batch-size", "16", "--quiet", cwd=tmp)
    rows = read_csv(os.path.join(tmp, "runs", "experiment-induction-quick", "induction.csv"))
    expect(code == 0 and [(r["model"], r["length"]) for r in rows] == [("mamba", "32"), ("mamba", "64")],
           "--quick trains at L = 64, tests from 32, writes runs/experiment-induction-quick", text + err + str(rows))


SELECTIVE = ["--seq-len", "16", "--num-memorize", "4", "--steps", "20", "--eval-every", "10", "--batch-size", "16",
             "--test-size", "32", "--dim", "16", "--quiet", "--threads", "2"]


def check_selective_copy(tmp):
    out = os.path.join(tmp, "sc")
    args = ["experiment", "selective-copy", "--out", out, *SELECTIVE]
    code, text, err = run(*args)
    expect(code == 0, "experiment selective-copy (tiny) exits 0", err)
    rows = read_csv(os.path.join(out, "selective_copy.csv"))
    expect(rows and list(rows[0].keys()) == ["step", "accuracy", "loss", "train_accuracy", "train_loss", "seconds"],
           "selective_copy.csv columns", str(rows[:1]))
    test_cli.expect_renders(os.path.join(out, "selective_copy.csv"), "selective-copy", "| test accuracy |")
    expect([r["step"] for r in rows] == ["10", "20"], "one row per --eval-every steps", str(rows))
    expect(all(0 <= float(r["accuracy"]) <= 1 and float(r["loss"]) > 0 for r in rows), "accuracies and losses",
           str(rows))
    expect("paper (" in text.strip().splitlines()[-1], "the last line compares with the paper's 99.8%", text)
    before = stamps(out, ("mamba",))
    code, text, err = run(*args)
    expect(code == 0 and "reusing" in text and before == stamps(out, ("mamba",)), "a second run reuses the run",
           text + err)
    one_line_error([*args, "--lr", "1e-2"], ["--retrain"],
                   "selective-copy: a run with other settings is refused")
    one_line_error(["experiment", "selective-copy", "--quick", "--full"], ["--quick", "--full"],
                   "selective-copy: --quick with --full")
    one_line_error(["experiment", "selective-copy", "--seq-len", "8", "--num-memorize", "9", "--out", out],
                   ["--num-memorize"], "selective-copy: more tokens than positions")
    one_line_error(["experiment", "selective-copy", "--steps", "5", "--eval-every", "10", "--out", out],
                   ["--eval-every"], "selective-copy: --eval-every above --steps")
    code, text, err = run("experiment", "selective-copy", "--quick", "--steps", "4", "--eval-every", "2",
                          "--batch-size", "4", "--test-size", "8", "--quiet", cwd=tmp)
    rows = read_csv(os.path.join(tmp, "runs", "experiment-selective-copy-quick", "selective_copy.csv"))
    expect(code == 0 and "L = 64 with 8 tokens" in text and [r["step"] for r in rows] == ["2", "4"],
           "--quick: L = 64, 8 tokens, into runs/experiment-selective-copy-quick", text + err + str(rows))


def mrss_args(data, out):
    return ["experiment", "mrss", "--data-dir", data, "--out", out, "--dim", "8", "--depth", "1", "--strides", "2",
            "--fast-fractions", "0.5", "--copy-len", "32", "--gen-lens", "64", "--smnist-train-size", "64",
            "--copy-train-size", "64", "--test-size", "16", "--epochs", "1", "--batch-size", "32", "--time-batch", "2",
            "--time-steps", "1", "--warmup-len", "16", "--warmup-epochs", "2", "--quiet", "--threads", "2"]


def check_mrss(tmp):
    data = test_train.make_mnist(os.path.join(tmp, "data"), n_train=64, n_test=16)
    out = os.path.join(tmp, "mrss")
    args = mrss_args(data, out)
    code, text, err = run(*args)
    expect(code == 0, "experiment mrss (tiny) exits 0", err)
    rows = read_csv(os.path.join(out, "mrss.csv"))
    expect(rows and list(rows[0].keys()) == ["model", "stride", "fast_fraction", "task", "length", "role", "accuracy",
                                             "accuracy_vs_mamba_points", "step_ms", "step_vs_mamba", "scan_ms",
                                             "scan_share", "state_updates", "updates_vs_mamba", "time_batch"],
           "mrss.csv columns", str(rows[:1]))
    test_cli.expect_renders(os.path.join(out, "mrss.csv"), "mrss", "| mamba |")
    # Input lengths: smnist 784; selective copying L + 16 tokens to recall.
    expect([(r["model"], r["task"], r["length"], r["role"]) for r in rows] ==
           [(m, "smnist", "784", "train") for m in ("mamba", "mrss-r2-f0.5")] +
           [(m, "selective-copy", n, role) for m in ("mamba", "mrss-r2-f0.5")
            for n, role in (("48", "train"), ("80", "generalisation"))],
           "rows: each model on smnist, then on selective copying at its length and --gen-lens", str(rows))
    # state updates per sequence: depth·N·(L·C_f + ⌊L/r⌋·C_s), C = 2·8 = 16, N = 16; Mamba: depth·N·L·C.
    for r in rows:
        length = int(r["length"])
        expected = 16 * length * 16 if r["model"] == "mamba" else 16 * (length * 8 + (length // 2) * 8)
        expect(int(r["state_updates"]) == expected, f"{r['model']} at {length}: state updates by the formula", str(r))
        expect(float(r["step_ms"]) > 0 and float(r["scan_ms"]) > 0, "step and scan times are measured", str(r))
        if r["model"] == "mamba":
            expect(float(r["step_vs_mamba"]) == 1 and float(r["accuracy_vs_mamba_points"]) == 0,
                   "Mamba is its own baseline", str(r))
    lines = text.strip().splitlines()
    expect(lines and lines[-1].startswith("target (") and "mrss-r2-f0.5" in lines[-1] and "not judged" in lines[-1],
           "the last line answers the target per variant (not judged: nothing timed at L ≥ 1024)", text)
    # Selective copying is trained in two stages: --warmup-epochs at --warmup-len (stage1/), then at
    # --copy-len from those weights; smnist in one.
    for m in ("mamba", "mrss-r2-f0.5"):
        stage1 = os.path.join(out, "selective-copy", m, "stage1", "metrics.csv")
        expect(os.path.exists(stage1) and [r["epoch"] for r in read_csv(stage1)] == ["1", "2"],
               f"{m}: a first stage of 2 epochs on selective copying", stage1)
        expect(not os.path.exists(os.path.join(out, "smnist", m, "stage1")), f"{m}: no first stage on smnist")
    names = [f"{t}/{m}" for t in ("smnist", "selective-copy") for m in ("mamba", "mrss-r2-f0.5")]
    names += [f"selective-copy/{m}/stage1" for m in ("mamba", "mrss-r2-f0.5")]
    before = stamps(out, names)
    code, text, err = run(*args)
    expect(code == 0 and text.count("reusing") == 6 and before == stamps(out, names),
           "a second run reuses all six runs (two of them first stages)", text + err)
    one_line_error(with_flag(args, "--warmup-len", "8"), ["--warmup-len", "16"], "mrss: a first stage too short")
    one_line_error([*args, "--lr", "1e-2"], ["--retrain"], "mrss: runs with other settings are refused")
    for flag, value, words in (("--strides", "1", ["--strides"]), ("--fast-fractions", "1", ["--fast-fractions"])):
        one_line_error(with_flag(args, flag, value), words, f"mrss {flag} {value}: one line")
    one_line_error([*args, "--tasks", "imagenet"], ["--tasks", "imagenet"], "mrss: an unknown task")
    one_line_error(mrss_args(os.path.join(tmp, "no-data"), os.path.join(tmp, "mrss-2")), ["mnist"],
                   "mrss: missing MNIST for smnist")
    # --quick: stride 8 only (a fraction given to stay tiny), into runs/experiment-mrss-quick.
    code, text, err = run("experiment", "mrss", "--quick", "--data-dir", data, "--dim", "8", "--depth", "1",
                          "--fast-fractions", "0.5", "--tasks", "selective-copy", "--copy-len", "32", "--gen-lens", "64",
                          "--copy-train-size", "32", "--test-size", "8", "--quiet", cwd=tmp)
    rows = read_csv(os.path.join(tmp, "runs", "experiment-mrss-quick", "mrss.csv"))
    expect(code == 0 and sorted({r["model"] for r in rows}) == ["mamba", "mrss-r8-f0.5"],
           "--quick: stride 8, into runs/experiment-mrss-quick", text + err + str(rows))


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        check_help()
        check_induction(tmp)
        check_selective_copy(tmp)
        check_mrss(tmp)
    return test_cli.report("sequence-studies")


if __name__ == "__main__":
    sys.exit(main())
