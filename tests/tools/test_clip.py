"""tests/tools/test_clip.py — `sieve train clip` and `sieve eval` of its checkpoints, run as a user would.

Usage (meson does this as the test 'clip'):  python3 tests/tools/test_clip.py PATH/TO/sieve
Writes tiny MNIST-shaped sets for mnist (class k lights row band k) and fashion-mnist (class k
lights column band k; both test_train.make_mnist), trains a tiny CLIP on both together
(mnist+fashion-mnist, 20 classes) and checks: it learns (zero-shot test accuracy far above the 5%
of chance; the tiny model runs at patch 4, 49 tokens, to stay quick), the epoch lines report the logit scale, eval of the checkpoint on each dataset alone
is zero-shot over that dataset's 10 classes, a caption longer than the text context and a
classifier's checkpoint evaluated on a dataset with other classes are one-line errors.
Standard-library Python only; timings are never asserted.
"""
import os
import re
import sys
import tempfile

import test_cli
import test_train
from test_cli import expect, run

TINY_CLIP = ["--patch", "4", "--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "32", "--text_dim", "16",
             "--text_depth", "1", "--text_heads", "2", "--text_mlp_hidden", "32", "--embed_dim", "16"]


def accuracy_of(text):
    m = re.search(r"accuracy ([0-9.]+)%", text)
    return float(m.group(1)) if m else -1.0


def check_train_and_eval(tmp, data):
    out = os.path.join(tmp, "clip")
    code, text, err = run("train", "clip", "--dataset", "mnist+fashion-mnist", "--data-dir", data, "--out", out,
                          *TINY_CLIP, "--epochs", "40", "--batch-size", "64", "--lr", "3e-3", "--warmup-steps", "10",
                          "--threads", "2")
    expect(code == 0, "sieve train clip on mnist+fashion-mnist exits 0", err)
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    expect(len(epochs) == 40 and all(" scale " in line for line in epochs),
           "every epoch line reports the logit scale", text)
    m = re.search(r"test loss [0-9.]+ acc ([0-9.]+)%", epochs[-1]) if epochs else None
    final = float(m.group(1)) if m else -1.0
    # 800 steps take the tiny model to 99-100% here (zero-shot, held-out captions); chance is 5%.
    expect(final > 80, f"zero-shot test accuracy over 20 classes ({final}%) is far above chance (5%)", text)
    ckpt = os.path.join(out, "checkpoint.safetensors")
    for dataset in ("mnist", "fashion-mnist"):
        code, text, err = run("eval", ckpt, "--dataset", dataset, "--data-dir", data, "--quiet", "--threads", "2")
        expect(code == 0 and text.startswith(f"{dataset} test: accuracy") and accuracy_of(text) > 80,
               f"eval on {dataset} alone: zero-shot over its 10 classes", text + err)
    return ckpt


def check_errors(tmp, data):
    code, _, err = run("train", "clip", "--dataset", "mnist", "--data-dir", data, "--out", os.path.join(tmp, "short"),
                       *TINY_CLIP, "--context", "12", "--max-steps", "1", "--threads", "2")
    expect(code == 1 and err.count("\n") == 1 and "bytes" in err and "context" in err,
           "a caption longer than --context is one line naming it", err)
    mlp = os.path.join(tmp, "mlp")
    code, _, err = run("train", "mlp", "--dataset", "mnist", "--data-dir", data, "--out", mlp, "--hidden", "16",
                       "--epochs", "1", "--quiet", "--threads", "2")
    expect(code == 0, "a small mlp trains", err)
    code, _, err = run("eval", os.path.join(mlp, "checkpoint.safetensors"), "--dataset", "mnist+fashion-mnist",
                       "--data-dir", data)
    expect(code == 1 and err.count("\n") == 1 and "20 classes" in err,
           "a classifier evaluated on a dataset with other classes is refused in one line", err)


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        test_train.make_mnist(data)
        test_train.make_mnist(data, seed=1, name="fashion-mnist", columns=True)
        check_train_and_eval(tmp, data)
        check_errors(tmp, data)
    return test_cli.report("clip")


if __name__ == "__main__":
    sys.exit(main())
