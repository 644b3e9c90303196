"""tests/tools/test_train.py — `sieve train`, `eval`, `infer`, `ckpt strip-head`, run as a user would.

Usage (meson does this as the test 'train'):  python3 tests/tools/test_train.py PATH/TO/sieve
Writes a tiny MNIST-shaped data set (IDX files, 10 classes of noisy stripe patterns) and checks:
a run trains and learns, writes metrics.csv and its checkpoint; eval and infer read the checkpoint
with no model flags; N steps straight equal N/2 steps + --resume + N/2 steps to the bit (with
dropout and augmentation on, across an epoch boundary); strip-head + --init; and that bad input
gets one line on stderr and exit 1. Never asserts on timing. Standard-library Python only.
Extend: add a check_* function and call it from main().
"""
import csv
import json
import os
import random
import struct
import subprocess
import sys
import time

import test_cli
from test_cli import expect, run, write

DIGITS = 10


def write_idx(path, type_code, dims, payload):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload)


def make_mnist(root, n_train=640, n_test=160, seed=0, name="mnist", columns=False):
    """data/<name>/ with IDX files: class k lights row band k (columns: column band k), plus noise, so
    an MLP learns it fast. test_clip.py makes its fashion-mnist with column bands."""
    rng = random.Random(seed)
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = [i % DIGITS for i in range(n)]
        rng.shuffle(labels)
        pixels = bytearray()
        for k in labels:
            for r in range(28):
                for c in range(28):
                    along, across = (c, r) if columns else (r, c)
                    on = 2 * k + 4 <= along < 2 * k + 7 and 4 <= across < 24
                    pixels.append(min(255, (200 if on else 0) + rng.randrange(60)))
        write_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte"), 0x08, [n, 28, 28], bytes(pixels))
        write_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte"), 0x08, [n], bytes(labels))
    return root


def write_bmp(path, grey_rows, scale=2):
    """A 24-bit BMP of a grey image (rows of 0..255), each pixel repeated scale × scale."""
    rows = [[v for v in row for _ in range(scale)] for row in grey_rows for _ in range(scale)]
    h, w = len(rows), len(rows[0])
    pad = (-3 * w) % 4
    pixels = b"".join(bytes(c for v in row for c in (v, v, v)) + b"\0" * pad for row in reversed(rows))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header + info + pixels)


def tensors_of(path):
    """name -> raw bytes of every tensor in a safetensors file (metadata left out)."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {name: data[8 + n + e["data_offsets"][0]: 8 + n + e["data_offsets"][1]] for name, e in header.items()}


def metadata_of(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]).get("__metadata__", {})


def one_line_error(args, words, what, cwd=None):
    code, out, err = run(*args, cwd=cwd)
    lines = err.strip().splitlines()
    expect(code == 1, f"{what}: exits 1 (got {code})", err)
    expect(len(lines) == 1 and lines[0].startswith("sieve: ") and all(w in lines[0] for w in words),
           f"{what}: one line naming {words}", err)


def train(data, out, *extra):
    return run("--threads", "2", "train", "mlp", "--data-dir", data, "--out", out, "--quiet", "--hidden", "32",
               "--batch-size", "64", "--warmup-steps", "3", *extra)


def check_train_eval_infer(tmp, data):
    out = os.path.join(tmp, "run")
    code, stdout, err = train(data, out, "--epochs", "2", "--lr", "3e-3")
    expect(code == 0, "train mlp exits 0", err)
    expect("test accuracy:" in stdout, "train prints the test accuracy", stdout)
    ckpt = os.path.join(out, "checkpoint.safetensors")
    expect(os.path.exists(ckpt), "train writes checkpoint.safetensors")
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    expect(len(rows) == 2 and [r["epoch"] for r in rows] == ["1", "2"], "metrics.csv has one row per epoch", str(rows))
    if len(rows) == 2:
        expect(float(rows[1]["test_acc"]) > 0.8, "the MLP learns the stripes (test accuracy > 80%)", str(rows[1]))
        expect(float(rows[1]["train_loss"]) < float(rows[0]["train_loss"]), "train loss falls", str(rows))
        expect(int(rows[1]["step"]) == 2 * (640 // 64), "steps per epoch = N // batch (drop_last)", str(rows[1]))
    import shutil
    if shutil.which("gnuplot"):
        expect(os.path.getsize(os.path.join(out, "curves.png")) > 1000, "train draws curves.png")
    meta = metadata_of(ckpt)
    expect(meta.get("model") == "mlp" and json.loads(meta["config"])["hidden"] == "32",
           "the checkpoint's metadata holds the model and its config", str(meta))

    code, stdout, err = run("eval", ckpt, "--data-dir", data, "--quiet")
    expect(code == 0 and "mnist test: accuracy" in stdout, "eval rebuilds the model from the checkpoint alone", err)
    if rows and code == 0:
        shown = float(stdout.split("accuracy")[1].split("%")[0])
        expect(abs(shown - 100 * float(rows[-1]["test_acc"])) < 0.01, "eval agrees with the run's last test accuracy",
               stdout + str(rows[-1]))

    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    code, stdout, err = run("infer", ckpt, images)
    lines = stdout.strip().splitlines()
    expect(code == 0 and lines[0].startswith("index,prediction,logit_0") and len(lines) == 161,
           "infer writes a CSV row per image to stdout", err + stdout[:200])
    pred_file = os.path.join(tmp, "pred.safetensors")
    code, _, err = run("infer", ckpt, images, "--out", pred_file)
    expect(code == 0 and set(tensors_of(pred_file)) == {"logits", "predictions"},
           "infer --out FILE.safetensors writes logits and predictions", err)
    labels = open(os.path.join(data, "mnist", "t10k-labels-idx1-ubyte"), "rb").read()[8:]
    if code == 0:
        preds = struct.unpack(f"<{len(labels)}q", tensors_of(pred_file)["predictions"])
        agree = sum(p == l for p, l in zip(preds, labels)) / len(labels)
        expect(abs(agree - float(rows[-1]["test_acc"])) < 1e-9, "infer's predictions match eval's accuracy",
               f"{agree} vs {rows[-1]['test_acc']}")

    # The first two test images as 56×56 BMP files: resized back to 28×28, predicted as from IDX.
    raw = open(images, "rb").read()[16:]
    folder = os.path.join(tmp, "pictures")
    os.makedirs(folder)
    for i in range(2):
        write_bmp(os.path.join(folder, f"img{i}.bmp"), [list(raw[i * 784 + r * 28: i * 784 + r * 28 + 28]) for r in range(28)])
    code, stdout, err = run("infer", ckpt, folder)
    lines = stdout.strip().splitlines()
    expect(code == 0 and lines[0].startswith("file,prediction") and len(lines) == 3 and "img1.bmp" in lines[2],
           "infer on a folder of images writes a row per file", err + stdout)
    if code == 0 and len(lines) == 3:
        got = [int(l.split(",")[1]) for l in lines[1:]]
        code2, stdout2, _ = run("infer", ckpt, images)
        from_idx = [int(l.split(",")[1]) for l in stdout2.strip().splitlines()[1:3]]
        expect(got == from_idx, "images from files are predicted as the same images from IDX", f"{got} vs {from_idx}")
    code, stdout, err = run("infer", ckpt, os.path.join(folder, "img0.bmp"))
    expect(code == 0 and len(stdout.strip().splitlines()) == 2, "infer on one image file", err)
    broken = write(os.path.join(tmp, "broken.png"), b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    one_line_error(("infer", ckpt, broken), ["broken.png"], "infer on a corrupt PNG")
    return ckpt


def check_resume_is_bit_identical(tmp, data):
    common = ("--dropout", "0.2", "--augment", "--epochs", "3", "--seed", "5")
    straight, halves = os.path.join(tmp, "straight"), os.path.join(tmp, "halves")
    code, _, err = train(data, straight, *common, "--max-steps", "14")
    expect(code == 0, "14 steps straight", err)
    code, stdout, err = train(data, halves, *common, "--max-steps", "7")
    expect(code == 0 and "7 steps in all (stopped by --max-steps)" in stdout, "7 steps, stopping mid-epoch", err + stdout)
    ckpt = os.path.join(halves, "checkpoint.safetensors")
    code, _, err = run("--threads", "2", "train", "mlp", "--resume", ckpt, "--max-steps", "14", "--quiet")
    expect(code == 0, "--resume for 7 more steps (across the epoch boundary at 10)", err)
    a = tensors_of(os.path.join(straight, "checkpoint.safetensors"))
    b = tensors_of(ckpt)
    expect(set(a) == set(b) and len(a) > 6, "both runs saved the same tensors", f"{sorted(a)} vs {sorted(b)}")
    differ = [name for name in a if a[name] != b.get(name)]
    expect(not differ, "weights and optimizer state are equal to the bit after resume", f"differ: {differ}")
    rows = list(csv.DictReader(open(os.path.join(halves, "metrics.csv"))))
    expect([r["epoch"] for r in rows] == ["1"], "the resumed run's metrics.csv has the finished epoch once", str(rows))

    # Resuming from an older copy into the run's directory would replace the newer checkpoint: refused.
    older = os.path.join(halves, "older.safetensors")
    with open(older, "wb") as f:
        f.write(open(os.path.join(straight, "checkpoint.safetensors"), "rb").read())
    train(data, os.path.join(tmp, "older-run"), *common, "--max-steps", "3")
    with open(older, "wb") as f:
        f.write(open(os.path.join(tmp, "older-run", "checkpoint.safetensors"), "rb").read())
    newer = open(ckpt, "rb").read()
    one_line_error(("train", "mlp", "--resume", older), ["further along", "step 3", "step 14", "--overwrite"],
                   "--resume of an older checkpoint into the run's folder")
    expect(open(ckpt, "rb").read() == newer, "the newer checkpoint is untouched")
    train(data, os.path.join(tmp, "other-seed"), "--epochs", "3", "--seed", "6", "--max-steps", "3")
    with open(older, "wb") as f:
        f.write(open(os.path.join(tmp, "other-seed", "checkpoint.safetensors"), "rb").read())
    one_line_error(("train", "mlp", "--resume", older), ["another run's checkpoint", "--overwrite"],
                   "--resume of another run's checkpoint into this run's folder")
    expect(open(ckpt, "rb").read() == newer, "this run's checkpoint is untouched")
    os.remove(older)

    # Resumed without --max-steps, the run goes on to its last epoch (3 × 10 steps).
    code, stdout, err = run("--threads", "2", "train", "mlp", "--resume", ckpt, "--quiet")
    expect(code == 0 and "30 steps in all" in stdout, "a resume without --max-steps runs to the end", err + stdout)
    rows = list(csv.DictReader(open(os.path.join(halves, "metrics.csv"))))
    expect([r["epoch"] for r in rows] == ["1", "2", "3"], "metrics.csv then has every epoch once", str(rows))
    one_line_error(("train", "mlp", "--resume", ckpt, "--lr", "1"), ["--lr", "cannot change"], "--resume with --lr")
    one_line_error(("train", "mlp", "--resume", ckpt, "--hidden", "8"), ["--hidden"], "--resume with --hidden")


def rewritten(path, out, edit_training=None, drop=lambda name: False, edit_data=None):
    """A copy of a checkpoint with its training (or data) metadata edited (a function of the parsed
    JSON) and the tensors `drop` names left out."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__")
    for key, edit in (("training", edit_training), ("data", edit_data)):
        if edit:
            value = json.loads(meta[key])
            edit(value)
            meta[key] = json.dumps(value)
    tensors = {}
    for name, e in header.items():
        if not drop(name):
            tensors[name] = (e["dtype"], e["shape"], blob[8 + n + e["data_offsets"][0]: 8 + n + e["data_offsets"][1]])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    return test_cli.write(out, test_cli.safetensors_bytes(tensors, meta))


def check_resume_trusts_nothing(tmp, ckpt):
    """A resumed checkpoint is checked as the flags are: stored options out of bounds, a position outside
    the run, and missing or partial optimizer state are one-line errors, never a silently different run."""
    def option(key, value):
        return lambda t: t["options"].__setitem__(key, value)
    cases = [(option("clip", -1), ["run option clip is -1", "--clip takes ≥ 0"]),
             (option("weight_decay", -5), ["weight_decay is -5", "--weight-decay"]),
             (option("lr", 0), ["lr is 0", "> 0"]),
             (option("epochs", 0), ["epochs is 0", "1 to 1000000"]),
             (lambda t: t.__setitem__("step", 10 ** 12), ["step 1000000000000", "lies outside its run"])]
    for i, (edit, words) in enumerate(cases):
        bad = rewritten(ckpt, os.path.join(tmp, f"bad-run-{i}", "checkpoint.safetensors"), edit)
        one_line_error(("train", "mlp", "--resume", bad), words, f"--resume of a checkpoint with {words[0]}")
    bare = rewritten(ckpt, os.path.join(tmp, "no-optimizer", "checkpoint.safetensors"),
                     drop=lambda name: name.startswith("optimizer."))
    one_line_error(("train", "mlp", "--resume", bare), ["holds no optimizer state", "--init"],
                   "--resume of a checkpoint without optimizer state")
    half = rewritten(ckpt, os.path.join(tmp, "half-optimizer", "checkpoint.safetensors"),
                     drop=lambda name: name.endswith(".exp_avg_sq"))
    one_line_error(("train", "mlp", "--resume", half), ["state of parameter", "incomplete"],
                   "--resume of a checkpoint with partial optimizer state")


def check_data_metadata(tmp, ckpt):
    """Every key of a checkpoint's data description is checked, and an error names it (no JSON
    library text, no negative size passing because its square is right)."""
    def set_key(key, value):
        return lambda d: d.__setitem__(key, value)
    cases = [(set_key("image_size", -28), "'image_size' must be 1 to 4096, got -28"),
             (set_key("channels", 64), "'channels' must be 1 to 4, got 64"),
             (lambda d: d.pop("classes"), "'classes' must be a whole number, got nothing"),
             (set_key("std", [0.0]), "'std' must be finite and > 0"),
             (set_key("class_names", ["a", "b"]), "'class_names' must be 10 names (one per class), got 2"),
             (set_key("mean", "zero"), "'mean' must be a list of numbers")]
    for i, (edit, words) in enumerate(cases):
        bad = rewritten(ckpt, os.path.join(tmp, f"bad-data-{i}.safetensors"), edit_data=edit)
        one_line_error(("eval", bad), [f"bad-data-{i}.safetensors", words], f"a checkpoint whose data has {words}")
        code, _, err = run("eval", bad)
        expect("json.exception" not in err and "unexpected error" not in err, "no library text in the message", err)


def check_killed_run_resumes(tmp, data):
    """A checkpoint after every epoch: a run killed (-9) after its first epoch resumes to the same weights as
    a run never interrupted. Killed once metrics.csv shows two epochs (so the first one's checkpoint is
    surely written); any later moment works too."""
    common = ("--epochs", "40", "--seed", "9")
    straight, killed = os.path.join(tmp, "never-killed"), os.path.join(tmp, "killed")
    code, _, err = train(data, straight, *common)
    expect(code == 0, "40 epochs straight", err)
    args = [test_cli.SIEVE, "--threads", "2", "train", "mlp", "--data-dir", data, "--out", killed, "--quiet",
            "--hidden", "32", "--batch-size", "64", "--warmup-steps", "3", *common]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(killed, "metrics.csv")
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(metrics) and len(open(metrics).read().splitlines()) >= 3:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    ckpt = os.path.join(killed, "checkpoint.safetensors")
    rows = len(open(metrics).read().splitlines()) - 1 if os.path.exists(metrics) else 0
    expect(os.path.exists(ckpt) and rows < 40, f"a checkpoint exists after the kill ({rows} epochs logged)")
    if not os.path.exists(ckpt):
        return
    code, _, err = run("--threads", "2", "train", "mlp", "--resume", ckpt, "--quiet")
    expect(code == 0, "the killed run resumes to its end", err)
    a, b = tensors_of(os.path.join(straight, "checkpoint.safetensors")), tensors_of(ckpt)
    differ = [name for name in a if a[name] != b.get(name)]
    expect(set(a) == set(b) and not differ, "killed and resumed: the same weights to the bit", f"differ: {differ}")


def check_strip_head_and_init(tmp, data, ckpt):
    headless = os.path.join(tmp, "headless.safetensors")
    code, stdout, err = run("ckpt", "strip-head", ckpt, "--out", headless)
    expect(code == 0 and "removed 2 head tensors" in stdout, "ckpt strip-head removes head.weight and head.bias",
           err + stdout)
    names = set(tensors_of(headless))
    expect(names == {"layers.0.weight", "layers.0.bias"}, "the stripped file holds the body's weights only", str(names))
    one_line_error(("eval", headless, "--data-dir", data), ["stripped", "--init"], "eval of a stripped checkpoint")
    one_line_error(("ckpt", "strip-head", headless, "--out", os.path.join(tmp, "again.safetensors")),
                   ["already stripped"], "strip-head twice")
    one_line_error(("ckpt", "strip-head", ckpt, "--out", ckpt), ["--out must differ"], "strip-head over its input")
    code, stdout, err = run("--threads", "2", "train", "mlp", "--init", headless, "--data-dir", data, "--quiet",
                            "--out", os.path.join(tmp, "finetune"), "--batch-size", "64", "--max-steps", "3")
    expect(code == 0, "train --init from a stripped checkpoint", err)
    code, stdout, err = run("--threads", "2", "train", "mlp", "--init", headless, "--hidden", "64", "--data-dir", data)
    expect(code == 1 and "--hidden" in err, "--init refuses a different architecture", err)


def check_image_folders(tmp):
    """--dataset folder: two classes of 8×8 BMPs (bright top half vs bright bottom half)."""
    rng = random.Random(1)
    root = os.path.join(tmp, "folders")
    for split, n in (("train", 24), ("test", 8)):
        for label, name in enumerate(("bottom", "top")):
            os.makedirs(os.path.join(root, split, name))
            for i in range(n):
                rows = [[min(255, (180 if (r < 4) == (label == 1) else 0) + rng.randrange(70)) for _ in range(8)]
                        for r in range(8)]
                write_bmp(os.path.join(root, split, name, f"{i:03}.bmp"), rows, scale=1)
    out = os.path.join(tmp, "folder-run")
    code, stdout, err = run("--threads", "2", "train", "mlp", "--dataset", "folder", "--data-dir", root, "--image-size",
                            "8", "--channels", "1", "--hidden", "16", "--epochs", "4", "--batch-size", "8", "--lr", "3e-3",
                            "--warmup-steps", "2", "--out", out, "--quiet")
    expect(code == 0 and "test accuracy:" in stdout, "train on image folders", err + stdout)
    ckpt = os.path.join(out, "checkpoint.safetensors")
    if code != 0:
        return
    data = json.loads(metadata_of(ckpt)["data"])
    expect(data["class_names"] == ["bottom", "top"] and data["classes"] == 2 and data["image_size"] == 8,
           "the checkpoint records the folder's classes and image size", str(data))
    acc = float(stdout.split("test accuracy:")[1].split("%")[0])
    expect(acc >= 90, "the MLP separates the two folder classes (test accuracy >= 90%)", stdout)
    code, stdout, err = run("eval", ckpt, "--data-dir", root, "--quiet")
    expect(code == 0 and "folder test: accuracy" in stdout, "eval on image folders", err + stdout)
    code, stdout, err = run("infer", ckpt, os.path.join(root, "test", "top"))
    rows = stdout.strip().splitlines()
    expect(code == 0 and rows[0].startswith("file,prediction,class,logit_0") and rows[1].split(",")[2] == "top",
           "infer names the predicted class of a folder-trained model", err + stdout[:300])
    os.makedirs(os.path.join(root, "test", "extra"))
    write_bmp(os.path.join(root, "test", "extra", "x.bmp"), [[0] * 8] * 8, scale=1)
    one_line_error(("eval", ckpt, "--data-dir", root), ["extra", "differ from the training classes"],
                   "eval on folders with other classes")


def check_runs_are_never_overwritten(tmp, data):
    here = os.path.join(tmp, "cwd")
    os.makedirs(here)
    args = ("--threads", "2", "train", "mlp", "--data-dir", data, "--hidden", "8", "--max-steps", "2")
    for expected in ("runs/mlp-mnist", "runs/mlp-mnist-2"):
        code, stdout, err = run(*args, cwd=here)
        expect(code == 0 and f"run directory: {expected}\n" in stdout and
               os.path.exists(os.path.join(here, expected, "checkpoint.safetensors")),
               f"the default run directory is the first free one ({expected})", err + stdout)
    before = open(os.path.join(here, "runs/mlp-mnist/checkpoint.safetensors"), "rb").read()
    one_line_error(args + ("--out", "runs/mlp-mnist"), ["--out runs/mlp-mnist", "already holds a run", "--overwrite"],
                   "a new run into a directory that holds one", cwd=here)
    expect(open(os.path.join(here, "runs/mlp-mnist/checkpoint.safetensors"), "rb").read() == before,
           "the refused run left the old checkpoint untouched")
    code, _, err = run(*args, "--out", "runs/mlp-mnist", "--overwrite", cwd=here)
    expect(code == 0, "--overwrite replaces it", err)


def check_bad_input(tmp, data, ckpt):
    one_line_error(("train", "mlp", "--data-dir", os.path.join(tmp, "nowhere"), "--out", os.path.join(tmp, "x")),
                   ["mnist", "tools/fetch-data mnist"], "train without the data")
    one_line_error(("train", "mlp", "--dataset", "imagenet"), ["--dataset", "imagenet", "mnist"], "unknown dataset")
    one_line_error(("train", "mlp", "--hidden", "32,abc", "--data-dir", data, "--out", os.path.join(tmp, "y")),
                   ["hidden", "32,abc"], "bad --hidden")
    one_line_error(("eval", ckpt, "--device", "tpu"), ["--device", "tpu"], "unknown device")
    one_line_error(("train", "mlp", "--data-dir", data, "--out", os.path.join(tmp, "sized"), "--image-size", "64"),
                   ["--image-size", "mnist", "fixed shape"], "--image-size for MNIST, which it cannot change")
    # Every number flag refuses NaN and infinities (a NaN stored in a checkpoint could never be resumed),
    # and range errors say the rule in words, not DBL_MAX in 309 digits.
    for flag, value, words in (("--lr", "nan", "must be a finite number"), ("--clip", "inf", "must be a finite number"),
                               ("--weight-decay", "-inf", "must be a finite number"), ("--lr", "1e400", "finite"),
                               ("--lr", "0", "must be > 0"), ("--clip", "-1", "must be ≥ 0")):
        code, _, err = run("train", "mlp", "--data-dir", data, "--out", os.path.join(tmp, "nan"), flag, value)
        expect(code == 2 and err.count("\n") == 1 and flag in err and words in err and len(err) < 120,
               f"train {flag} {value}: a short usage error saying {words!r}", err)
    one_line_error(("train", "mlp", "--data-dir", data, "--out", os.path.join(tmp, "nan"), "--dropout", "nan"),
                   ["--dropout", "must be a finite number"], "a NaN model flag")
    code, _, err = run("experiment", "ddvit", "--taus", "0.5,nan")
    expect(code == 2 and "--taus" in err and "finite" in err, "a NaN in a list flag is refused", err)
    # An output that is one of the inputs (by name, through .., or a hard link) is refused; the input is kept.
    before = open(ckpt, "rb").read()
    hard = os.path.join(tmp, "hard-link.safetensors")
    os.link(ckpt, hard)
    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    for out in (ckpt, hard, os.path.join(data, "mnist", "..", "mnist", "t10k-images-idx3-ubyte")):
        one_line_error(("infer", ckpt, images, "--out", out), ["--out", "that is the input"], f"infer --out {out}")
    expect(open(ckpt, "rb").read() == before, "the checkpoint is untouched after infer --out CKPT")
    one_line_error(("ckpt", "strip-head", ckpt, "--out", hard), ["--out must differ"], "strip-head --out a hard link")
    # A diverging run stops at the first non-finite loss, in one line naming the step; no NaN weights written.
    diverged = os.path.join(tmp, "diverged")
    one_line_error(("train", "mlp", "--data-dir", data, "--out", diverged, "--lr", "1e30", "--quiet", "--epochs", "2"),
                   ["step 2", "training loss is NaN", "diverged"], "a diverging run")
    expect(not os.path.exists(os.path.join(diverged, "checkpoint.safetensors")),
           "a run that diverged before its first checkpoint leaves none")
    # NaN in a checkpoint's weights, or in inputs: said in one line, never "accuracy 9.80%".
    blob = bytearray(open(ckpt, "rb").read())
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    blob[8 + n + header[name]["data_offsets"][0]: 8 + n + header[name]["data_offsets"][0] + 4] = struct.pack("<f", float("nan"))
    poisoned = test_cli.write(os.path.join(tmp, "poisoned.safetensors"), bytes(blob))
    one_line_error(("eval", poisoned, "--data-dir", data), ["poisoned.safetensors", name, "non-finite", "diverged"],
                   "eval of a checkpoint with a NaN weight")
    nan_inputs = test_cli.write(os.path.join(tmp, "nan-inputs.safetensors"), test_cli.safetensors_bytes(
        {"inputs": ("F32", [1, 1, 28, 28], struct.pack("<f", float("nan")) + bytes(4 * 783))}))
    one_line_error(("infer", ckpt, nan_inputs), ["nan-inputs.safetensors", "1 non-finite"], "infer on a NaN input")
    code, _, err = run("train", "resnet")
    expect(code == 2 and "resnet" in err and err.count("\n") == 1, "unknown model: usage error naming it", err)

    plain = test_cli.write(os.path.join(tmp, "plain.safetensors"),
                           test_cli.safetensors_bytes({"w": ("F32", [1], struct.pack("<f", 1))}))
    one_line_error(("eval", plain), ["plain.safetensors", "not a sieve checkpoint"], "eval of a plain safetensors")
    blob = open(ckpt, "rb").read()
    cut = test_cli.write(os.path.join(tmp, "cut.safetensors"), blob[:-100])
    one_line_error(("eval", cut), ["cut.safetensors"], "eval of a truncated checkpoint")

    # Same tensors, but the metadata claims another architecture: refused, naming the mismatch.
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    header["__metadata__"]["config"] = header["__metadata__"]["config"].replace('"hidden":"32"', '"hidden":"16"')
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    other = test_cli.write(os.path.join(tmp, "other.safetensors"), struct.pack("<Q", len(text)) + text + blob[8 + n:])
    one_line_error(("eval", other, "--data-dir", data), ["other.safetensors", "does not fit"],
                   "a checkpoint whose config does not match its weights")
    header["__metadata__"]["model"] = "vit9"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    unknown = test_cli.write(os.path.join(tmp, "unknown.safetensors"), struct.pack("<Q", len(text)) + text + blob[8 + n:])
    one_line_error(("eval", unknown), ["unknown model 'vit9'"], "a checkpoint for a model this sieve lacks")
    one_line_error(("infer", ckpt, plain), ["plain.safetensors", "(1,)"], "infer on inputs of the wrong shape")


def main():
    if len(sys.argv) != 2:
        print("usage: test_train.py PATH/TO/sieve", file=sys.stderr)
        return 2
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    import tempfile
    with tempfile.TemporaryDirectory(prefix="sieve-train-") as tmp:
        data = make_mnist(os.path.join(tmp, "data"))
        ckpt = check_train_eval_infer(tmp, data)
        check_resume_is_bit_identical(tmp, data)
        check_resume_trusts_nothing(tmp, os.path.join(tmp, "halves", "checkpoint.safetensors"))
        check_killed_run_resumes(tmp, data)
        check_strip_head_and_init(tmp, data, ckpt)
        check_image_folders(tmp)
        check_runs_are_never_overwritten(tmp, data)
        check_bad_input(tmp, data, ckpt)
        check_data_metadata(tmp, ckpt)
    return test_cli.report("train")


if __name__ == "__main__":
    sys.exit(main())
