"""tests/tools/test_train_cuda.py — `sieve train/eval/infer --device cuda`, run as a user would.

Usage (meson does this as the test 'train-cuda'):  python3 tests/tools/test_train_cuda.py PATH/TO/sieve
Without a usable GPU it checks that every --device cuda request is one line on stderr naming the
reason, and says the GPU checks were skipped. With one, the tiny end-to-end trainings run on both
devices from the same seed and must agree: the MLP on the generated stripes (train loss per epoch,
test accuracy, eval and infer of the CUDA checkpoint on either device, a run started on CUDA and
resumed on the CPU), and a few steps of every other model (ViT with dropout, DD-ViT, the causal
Transformer, Mamba, MRSS, CLIP plain, with EViT pruning and with ToMe merging, VMamba with 4 and 2
routes, Vim) on tiny data, and the
CUDA-trained CLIP's zero-shot eval with token reduction and infer --labels agree across devices. Models start from the same CPU initialisation and the
kernels agree to float32 rounding, so losses agree to a relative 1e-3 over tens of steps.
Never asserts on timing. Standard-library Python only.
Extend: a model that gains CUDA support adds its tiny command to TINY_RUNS.
"""
import csv
import os
import sys
import tempfile

import test_cli
from test_cli import expect, run
from test_train import make_mnist, one_line_error

# One epoch each: 20 steps on the 640 generated images, 8 on 256 induction sequences.
IMAGE = ("--epochs", "1", "--batch-size", "32", "--warmup-steps", "2", "--seed", "3")
SEQUENCE = ("--task", "induction", "--seq-len", "32", "--train-size", "256", "--test-size", "64", "--batch-size", "32",
            "--epochs", "1", "--warmup-steps", "2", "--lr", "3e-3", "--seed", "3")
TINY_CLIP = ("--patch", "4", "--dim", "16", "--depth", "2", "--heads", "2", "--mlp_hidden", "32", "--text_dim", "16",
             "--text_depth", "1", "--text_heads", "2", "--text_mlp_hidden", "32", "--embed_dim", "16")
# name, model and its flags, run flags: a few steps each, compared CPU against CUDA.
TINY_RUNS = [
    ("vit with dropout", ("vit", "--dim", "32", "--depth", "2", "--heads", "2", "--mlp_hidden", "64",
                          "--patch", "7", "--dropout", "0.1"), IMAGE),
    ("ddvit", ("ddvit", "--dim", "32", "--depth", "2", "--heads", "2", "--mlp_hidden", "64", "--patch", "7"), IMAGE),
    ("transformer", ("transformer", "--dim", "32", "--depth", "2"), SEQUENCE),
    ("mamba", ("mamba", "--dim", "32", "--depth", "2"), SEQUENCE),
    ("mrss", ("mrss", "--dim", "32", "--depth", "2"), SEQUENCE),
    ("clip", ("clip", *TINY_CLIP), IMAGE),
    ("clip with evit pruning", ("clip", *TINY_CLIP, "--reduce", "evit:0.5:fuse"), IMAGE),
    ("clip with tome merging", ("clip", *TINY_CLIP, "--reduce", "tome:6"), IMAGE),
    ("vmamba, 4 routes", ("vmamba", "--dim", "16", "--depths", "1,1", "--d_state", "4", "--routes", "4"), IMAGE),
    ("vmamba, 2 routes", ("vmamba", "--dim", "16", "--depths", "1,1", "--d_state", "4", "--routes", "2"), IMAGE),
    ("vim", ("vim", "--dim", "16", "--depth", "2", "--d_state", "4"), IMAGE),
]


def close(a, b, rtol):
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


def rows_of(out_dir):
    with open(os.path.join(out_dir, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def cuda_reason():
    """None when `sieve train --device cuda` gets past the device check; else its one-line error."""
    code, _, err = run("train", "mlp", "--device", "cuda", "--data-dir", "/nonexistent-sieve-data")
    return err.strip() if "--device cuda" in err else None


def check_without_gpu(tmp, data):
    one_line_error(("train", "mlp", "--device", "cuda", "--data-dir", data, "--out", os.path.join(tmp, "x")),
                   ["--device cuda", "use --device cpu"], "train --device cuda without a GPU")
    code, _, err = run("--threads", "2", "train", "mlp", "--data-dir", data, "--out", os.path.join(tmp, "cpu"),
                       "--quiet", "--max-steps", "2")
    expect(code == 0, "a CPU run for the eval and infer checks", err)
    ckpt = os.path.join(tmp, "cpu", "checkpoint.safetensors")
    one_line_error(("eval", ckpt, "--data-dir", data, "--device", "cuda"), ["--device cuda"],
                   "eval --device cuda without a GPU")
    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    one_line_error(("infer", ckpt, images, "--device", "cuda"), ["--device cuda"], "infer --device cuda without a GPU")


def train_mlp(data, out, device, *extra):
    return run("--threads", "2", "train", "mlp", "--data-dir", data, "--out", out, "--quiet", "--hidden", "32",
               "--batch-size", "64", "--warmup-steps", "3", "--lr", "3e-3", "--device", device, *extra)


def check_mlp(tmp, data):
    runs = {}
    for device in ("cpu", "cuda"):
        out = os.path.join(tmp, "mlp-" + device)
        code, _, err = train_mlp(data, out, device, "--epochs", "2")
        expect(code == 0, f"train mlp --device {device} exits 0", err)
        runs[device] = rows_of(out) if code == 0 else []
    cpu, gpu = runs["cpu"], runs["cuda"]
    expect(len(cpu) == len(gpu) == 2, "both devices log two epochs", f"{cpu} {gpu}")
    for a, b in zip(cpu, gpu):
        expect(close(float(a["train_loss"]), float(b["train_loss"]), 1e-4),
               f"epoch {a['epoch']}: the same train loss on CUDA as on the CPU", f"{a['train_loss']} vs {b['train_loss']}")
        expect(abs(float(a["test_acc"]) - float(b["test_acc"])) <= 1 / 160 + 1e-9,
               f"epoch {a['epoch']}: test accuracy within one image", f"{a['test_acc']} vs {b['test_acc']}")

    ckpt = os.path.join(tmp, "mlp-cuda", "checkpoint.safetensors")
    shown = {}
    for device in ("cpu", "cuda"):
        code, stdout, err = run("eval", ckpt, "--data-dir", data, "--quiet", "--device", device)
        expect(code == 0, f"eval --device {device} of the CUDA run", err)
        shown[device] = stdout.split("accuracy")[1].split("%")[0] if code == 0 else device
    expect(shown["cpu"] == shown["cuda"], "the CUDA checkpoint evaluates alike on both devices", str(shown))
    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    outputs = {}
    for device in ("cpu", "cuda"):
        code, stdout, err = run("infer", ckpt, images, "--device", device)
        expect(code == 0, f"infer --device {device}", err)
        outputs[device] = [line.split(",")[1] for line in stdout.strip().splitlines()[1:]]
    expect(outputs["cpu"] == outputs["cuda"] and len(outputs["cpu"]) == 160,
           "infer predicts the same class for every image on both devices")

    # Started on CUDA, resumed on the CPU: the device is not part of the run.
    straight, halves = os.path.join(tmp, "straight"), os.path.join(tmp, "halves")
    code, _, err = train_mlp(data, straight, "cpu", "--epochs", "2", "--max-steps", "14")
    expect(code == 0, "14 steps straight on the CPU", err)
    code, _, err = train_mlp(data, halves, "cuda", "--epochs", "2", "--max-steps", "7")
    expect(code == 0, "7 steps on CUDA", err)
    code, stdout, err = run("--threads", "2", "train", "mlp", "--resume", os.path.join(halves, "checkpoint.safetensors"),
                            "--max-steps", "14", "--device", "cpu")
    expect(code == 0, "resumed on the CPU for 7 more", err)
    if code == 0:
        rows = rows_of(straight), rows_of(halves)
        expect(close(float(rows[0][-1]["train_loss"]), float(rows[1][-1]["train_loss"]), 1e-4),
               "the resumed run's epoch-1 loss equals the straight run's", str(rows))


def check_tiny_models(tmp, data):
    for name, model, flags in TINY_RUNS:
        losses = {}
        for device in ("cpu", "cuda"):
            extra = ("--data-dir", data) if flags is IMAGE else ()
            out = os.path.join(tmp, name.replace(" ", "-") + "-" + device)
            code, stdout, err = run("--threads", "2", "train", *model, *flags, *extra, "--out", out, "--quiet",
                                    "--device", device)
            expect(code == 0, f"{name}: train --device {device} exits 0", err)
            losses[device] = float(rows_of(out)[-1]["train_loss"]) if code == 0 else float("nan")
        expect(close(losses["cpu"], losses["cuda"], 1e-3), f"{name}: the same training loss on both devices",
               str(losses))


def check_clip_zero_shot(tmp, data):
    """The CUDA-trained tiny CLIP classifies alike on both devices: zero-shot with token reduction,
    and free labels."""
    ckpt = os.path.join(tmp, "clip-cuda", "checkpoint.safetensors")
    images = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    for args, what in ((("eval", ckpt, "--data-dir", data, "--quiet", "--reduce", "evit:0.7"), "eval --reduce evit:0.7"),
                       (("infer", ckpt, images, "--labels", "a handwritten digit one,a handwritten digit two"),
                        "infer --labels")):
        shown = {}
        for device in ("cpu", "cuda"):
            code, stdout, err = run(*args, "--device", device)
            expect(code == 0, f"clip {what} --device {device}", err)
            shown[device] = stdout
        if what.startswith("eval"):
            same = shown["cpu"].split("accuracy")[1].split("%")[0] == shown["cuda"].split("accuracy")[1].split("%")[0]
        else:
            same = [l.split(",")[:3] for l in shown["cpu"].splitlines()] == [l.split(",")[:3] for l in shown["cuda"].splitlines()]
        expect(same, f"clip {what}: the same results on both devices", str(shown)[:2000])


def main():
    if len(sys.argv) != 2:
        print("usage: test_train_cuda.py PATH/TO/sieve", file=sys.stderr)
        return 2
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="sieve-train-cuda-") as tmp:
        data = make_mnist(os.path.join(tmp, "data"))
        reason = cuda_reason()
        if reason is not None:
            print(f"GPU checks skipped: {reason}")
            check_without_gpu(tmp, data)
        else:
            check_mlp(tmp, data)
            check_tiny_models(tmp, data)
            check_clip_zero_shot(tmp, data)
    return test_cli.report("train-cuda")


if __name__ == "__main__":
    sys.exit(main())
