"""tests/tools/test_sequence.py — sequence models on the command line: `sieve train MODEL --task`,
`eval --seq-len`, `profile --task`, run as a user would.

Usage (meson does this as the test 'sequence'):  python3 tests/tools/test_sequence.py PATH/TO/sieve
Trains the causal Transformer on tiny induction sets (L = 32, 512 sequences, seconds) and checks:
the run reports its sequences and a test accuracy and its train loss falls; the checkpoint's
metadata names the task with its defaults filled in; N steps straight equal N/2 + --resume + N/2
to the bit and the resumed run keeps the task; eval redraws the test set at another --seq-len;
profile builds random token inputs; smnist reads pixel sequences from a tiny generated MNIST; and
bad combinations (--task on an image model, --dataset on a sequence model, --vocab on majority,
--seq-len on smnist, ...) get one line on stderr and exit 1. Never asserts on timing.
Standard-library Python only. Extend: add a check_* function and call it from main().
"""
import csv
import json
import os
import struct
import sys
import tempfile

import test_cli
from test_cli import expect, run
from test_train import make_mnist, metadata_of, one_line_error, tensors_of

TINY = ("--task", "induction", "--seq-len", "32", "--train-size", "512", "--test-size", "256", "--batch-size", "64",
        "--warmup-steps", "4", "--lr", "3e-3")


def train(out, *extra):
    return run("--threads", "2", "train", "transformer", "--out", out, "--quiet", *TINY, *extra)


def check_help():
    for args in (["train", "transformer", "--help"], ["profile", "transformer", "--help"]):
        code, out, err = run(*args)
        expect(code == 0 and "Usage:" in out, f"sieve {' '.join(args)} prints usage", err)
    code, out, _ = run("train", "--help")
    expect(all(w in out for w in ("--task", "--seq-len", "--train-size", "--test-size", "--vocab", "--num-memorize")),
           "train --help lists the task flags", out)
    code, out, _ = run("train", "transformer", "--help")
    expect("--dim" in out and "--per_token" not in out and "--vocab" not in out.split("Run options")[0],
           "a sequence model's data keys are not model flags", out)


def check_train_eval(tmp):
    out = os.path.join(tmp, "ind")
    code, stdout, err = run("--threads", "2", "train", "transformer", "--out", out, *TINY, "--epochs", "2")
    expect(code == 0, "train transformer --task induction exits 0", err)
    expect("512 training and 256 test sequences of length 32" in stdout, "train names its sequences", stdout)
    expect("test accuracy:" in stdout and "256 targets" in stdout,
           "train reports the test accuracy over the counted targets (one per induction sequence)", stdout)
    rows = list(csv.DictReader(open(os.path.join(out, "metrics.csv"), newline="")))
    expect(len(rows) == 2, "metrics.csv has one row per epoch", str(rows))
    if len(rows) == 2:
        expect(float(rows[1]["train_loss"]) < float(rows[0]["train_loss"]), "the train loss falls", str(rows))
        expect(int(rows[1]["step"]) == 2 * (512 // 64), "steps per epoch = N // batch", str(rows[1]))
    ckpt = os.path.join(out, "checkpoint.safetensors")
    meta = metadata_of(ckpt)
    data = json.loads(meta.get("data", "{}"))
    config = json.loads(meta.get("config", "{}"))
    expect(data.get("task") == "induction" and data.get("seq_len") == 32 and data.get("vocab") == 16 and
           data.get("train_size") == 512 and data.get("test_size") == 256 and data.get("per_token") is True,
           "the checkpoint's data names the task with every size", str(meta.get("data")))
    expect(config.get("vocab") == 16 and config.get("num_classes") == 16 and config.get("per_token") is True,
           "the trainer set the model's data keys from the task", str(config))

    code, stdout, err = run("eval", ckpt, "--quiet")
    expect(code == 0 and "induction test, length 32 (trained at 32): accuracy" in stdout and "256 sequences" in stdout,
           "eval redraws the run's own test set", err + stdout)
    if rows and code == 0:
        shown = float(stdout.split("accuracy")[1].split("%")[0])
        expect(abs(shown - 100 * float(rows[-1]["test_acc"])) < 0.01, "eval agrees with the run's last test accuracy",
               stdout + str(rows[-1]))
    code, stdout, err = run("eval", ckpt, "--seq-len", "128", "--test-size", "40", "--quiet")
    expect(code == 0 and "length 128 (trained at 32)" in stdout and "40 sequences" in stdout,
           "eval --seq-len 128 --test-size 40 tests length generalisation", err + stdout)
    code, stdout, err = run("eval", ckpt, "--split", "train", "--test-size", "64", "--quiet")
    expect(code == 0 and "induction train" in stdout, "eval --split train redraws training sequences", err + stdout)
    one_line_error(("eval", ckpt, "--dataset", "mnist"), ["--dataset", "sequence"], "eval --dataset on a sequence ckpt")
    # infer: int64 tokens from a safetensors file, logits at every position (induction is per token).
    tmp = os.path.dirname(os.path.dirname(ckpt))
    tokens = test_cli.write(os.path.join(tmp, "tokens.safetensors"), test_cli.safetensors_bytes(
        {"inputs": ("I64", [3, 32], struct.pack("<96q", *[(7 * i) % 16 for i in range(96)]))}))
    code, stdout, err = run("infer", ckpt, tokens)
    lines = stdout.strip().splitlines()
    expect(code == 0 and lines[0].startswith("sequence:position,prediction,logit_0") and len(lines) == 1 + 3 * 32
           and lines[-1].startswith("2:31,") and all(0 <= int(l.split(",")[1]) < 16 for l in lines[1:]),
           "infer on tokens: one row per sequence and position, predictions in the vocabulary", err + stdout[:300])
    out = os.path.join(tmp, "logits.safetensors")
    code, _, err = run("infer", ckpt, tokens, "--out", out)
    header = json.loads(open(out, "rb").read()[8:8 + struct.unpack("<Q", open(out, "rb").read()[:8])[0]]) if code == 0 else {}
    expect(code == 0 and header.get("logits", {}).get("shape") == [3, 32, 16]
           and header.get("predictions", {}).get("shape") == [3, 32], "--out .safetensors keeps (N, L, K)",
           err + str(header))
    bad = test_cli.write(os.path.join(tmp, "bad-tokens.safetensors"), test_cli.safetensors_bytes(
        {"inputs": ("I64", [1, 2], struct.pack("<2q", 3, 16))}))
    one_line_error(("infer", ckpt, bad), ["bad-tokens.safetensors", "token 16", "[0, 16)"], "a token outside the vocabulary")
    floats = test_cli.write(os.path.join(tmp, "floats.safetensors"), test_cli.safetensors_bytes(
        {"inputs": ("F32", [1, 2], struct.pack("<2f", 0.5, 1.5))}))
    one_line_error(("infer", ckpt, floats), ["floats.safetensors", "int64 tokens (N, L)"], "floats for a token task")
    one_line_error(("infer", ckpt, ckpt), ["none named 'inputs'"], "infer on the checkpoint itself")
    return ckpt


def check_resume_keeps_the_task(tmp):
    straight, halves = os.path.join(tmp, "straight"), os.path.join(tmp, "halves")
    common = ("--epochs", "2", "--seed", "3", "--dropout", "0.1")
    code, _, err = train(straight, *common)
    expect(code == 0, "16 steps straight", err)
    code, stdout, err = train(halves, *common, "--max-steps", "5")
    expect(code == 0 and "5 steps in all (stopped by --max-steps)" in stdout, "5 steps, stopping mid-epoch", err + stdout)
    ckpt = os.path.join(halves, "checkpoint.safetensors")
    code, stdout, err = run("--threads", "2", "train", "transformer", "--resume", ckpt, "--quiet")
    expect(code == 0 and "16 steps in all" in stdout, "--resume runs to the end", err + stdout)
    a, b = tensors_of(os.path.join(straight, "checkpoint.safetensors")), tensors_of(ckpt)
    differ = [name for name in a if a[name] != b.get(name)]
    expect(set(a) == set(b) and not differ, "weights and optimizer state are equal to the bit after resume",
           f"differ: {differ}")
    options = json.loads(metadata_of(ckpt).get("training", "{}")).get("options", {})
    expect(options.get("task") == "induction" and options.get("seq_len") == 32 and options.get("train_size") == 512,
           "the resumed run's options keep the task", str(options))
    one_line_error(("train", "transformer", "--resume", ckpt, "--seq-len", "64"), ["--seq-len", "cannot change"],
                   "--resume with --seq-len")
    one_line_error(("train", "transformer", "--resume", ckpt, "--task", "majority"), ["--task", "cannot change"],
                   "--resume with --task")


def check_default_task_and_other_tasks(tmp, data):
    # No --task: the spec's default (induction), here made tiny through the sizes.
    code, stdout, err = run("--threads", "2", "train", "transformer", "--out", os.path.join(tmp, "default"), "--seq-len",
                            "16", "--train-size", "64", "--test-size", "32", "--batch-size", "32", "--epochs", "1",
                            "--dim", "16", "--depth", "1")
    expect(code == 0 and "induction: 64 training and 32 test sequences of length 16" in stdout,
           "a sequence model without --task trains on its default task", err + stdout)
    code, stdout, err = run("--threads", "2", "train", "transformer", "--out", os.path.join(tmp, "copy"), "--task",
                            "selective-copy", "--seq-len", "24", "--num-memorize", "4", "--vocab", "8", "--train-size",
                            "64", "--test-size", "32", "--batch-size", "32", "--epochs", "1", "--dim", "16", "--quiet")
    expect(code == 0 and "128 targets" in stdout,
           "selective-copy: L + M long inputs, accuracy over the M recalled tokens (32 × 4)", err + stdout)
    code, stdout, err = run("--threads", "2", "train", "transformer", "--out", os.path.join(tmp, "maj"), "--task",
                            "majority", "--seq-len", "20", "--train-size", "64", "--test-size", "32", "--batch-size",
                            "32", "--epochs", "1", "--dim", "16")
    expect(code == 0 and "majority: 64 training and 32 test sequences of length 20, vocab 2, 2 classes" in stdout and
           "32 targets" in stdout, "majority: one label per sequence", err + stdout)
    code, stdout, err = run("--threads", "2", "train", "transformer", "--out", os.path.join(tmp, "smnist"), "--task",
                            "smnist", "--data-dir", data, "--train-size", "32", "--test-size", "16", "--batch-size",
                            "16", "--epochs", "1", "--dim", "16", "--depth", "1", "--heads", "2")
    expect(code == 0 and "smnist: 32 training and 16 test sequences of length 784, float inputs, 10 classes" in stdout,
           "smnist reads MNIST as pixel sequences", err + stdout)
    if code == 0:
        ckpt = os.path.join(tmp, "smnist", "checkpoint.safetensors")
        code, stdout, err = run("eval", ckpt, "--data-dir", data, "--quiet")
        expect(code == 0 and "smnist test, length 784" in stdout, "eval of an smnist checkpoint", err + stdout)
        one_line_error(("eval", ckpt, "--data-dir", data, "--seq-len", "100"), ["--seq-len", "784"],
                       "eval of smnist at another length")


def check_profile(tmp):
    code, stdout, err = run("--threads", "2", "profile", "transformer", "--task", "induction", "--seq-len", "16",
                            "--batch-size", "4", "--steps", "1", "--warmup", "0", "--csv", os.path.join(tmp, "p.csv"))
    expect(code == 0 and "batch 4 of induction sequences of length 16" in stdout and "blocks.0.attn" in stdout,
           "profile transformer --task induction runs on random tokens", err + stdout)
    code, stdout, err = run("--threads", "2", "profile", "transformer", "--task", "smnist", "--batch-size", "2", "--steps",
                            "1", "--warmup", "0", "--dim", "16", "--depth", "1", "--mode", "infer", "--csv",
                            os.path.join(tmp, "p2.csv"))
    expect(code == 0 and "sequences of length 784" in stdout, "profile on float sequences (smnist's shape)", err + stdout)
    one_line_error(("profile", "transformer", "--dataset", "mnist"), ["--dataset", "sequence model"],
                   "profile --dataset on a sequence model")
    one_line_error(("profile", "mlp", "--task", "induction"), ["--task", "image model"], "profile --task on an image model")


def check_bad_combinations(tmp, data):
    out = os.path.join(tmp, "bad")
    cases = [
        (("train", "transformer", "--dataset", "mnist"), ["--dataset", "sequence model"], "--dataset on a sequence model"),
        (("train", "transformer", "--augment"), ["--augment", "sequence model"], "--augment on a sequence model"),
        (("train", "mlp", "--task", "induction"), ["--task", "image model"], "--task on an image model"),
        (("train", "vit", "--seq-len", "64"), ["--seq-len", "image model"], "--seq-len on an image model"),
        (("train", "transformer", "--task", "copying"), ["--task", "copying", "selective-copy"], "an unknown task"),
        (("train", "transformer", "--task", "majority", "--vocab", "8"), ["--vocab", "majority"], "--vocab on majority"),
        (("train", "transformer", "--task", "majority", "--seq-len", "33"), ["--seq-len", "even"], "an odd majority"),
        (("train", "transformer", "--task", "induction", "--num-memorize", "4"), ["--num-memorize"],
         "--num-memorize on induction"),
        (("train", "transformer", "--task", "selective-copy", "--seq-len", "8", "--num-memorize", "9"),
         ["--num-memorize", "--seq-len"], "more tokens to recall than positions"),
        (("train", "transformer", "--task", "smnist", "--seq-len", "100"), ["--seq-len", "784"], "smnist at length 100"),
        (("train", "transformer", "--task", "smnist", "--data-dir", os.path.join(tmp, "nowhere")),
         ["nowhere", "fetch-data"], "smnist without MNIST files"),
        (("train", "transformer", "--task", "induction", "--train-size", "16", "--batch-size", "64"),
         ["--batch-size", "16 training sequences"], "a batch larger than the training set"),
    ]
    for args, words, what in cases:
        one_line_error(args + ("--out", out), words, what)


def main():
    if len(sys.argv) != 2:
        print("usage: test_sequence.py PATH/TO/sieve", file=sys.stderr)
        return 2
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="sieve-sequence-") as tmp:
        data = make_mnist(os.path.join(tmp, "data"), n_train=64, n_test=32)
        check_help()
        check_train_eval(tmp)
        check_resume_keeps_the_task(tmp)
        check_default_task_and_other_tasks(tmp, data)
        check_profile(tmp)
        check_bad_combinations(tmp, data)
    return test_cli.report("sequence")


if __name__ == "__main__":
    sys.exit(main())
