"""tests/tools/test_clip.py — `sieve train clip` and `sieve eval` of its checkpoints, run as a user would.

Usage (meson does this as the test 'clip'):  python3 tests/tools/test_clip.py PATH/TO/sieve
Writes tiny MNIST-shaped sets for mnist (class k lights row band k) and fashion-mnist (class k
lights column band k; both test_train.make_mnist), trains a tiny CLIP on both together
(mnist+fashion-mnist, 20 classes) and checks: it learns (zero-shot test accuracy far above the 5%
of chance; the tiny model runs at patch 4, 49 tokens, to stay quick), the epoch lines report the logit scale, eval of the checkpoint on each dataset alone
is zero-shot over that dataset's 10 classes, `sieve eval --probe` trains a linear probe on the frozen
image features, `sieve infer --labels` classifies an image into free
labels with probabilities that sum to 1, `--reduce` prunes or merges tokens in eval, infer and
training, --augment never mirrors digits (mnist+fashion-mnist included), and a caption longer than the text context, a classifier's checkpoint evaluated on a
dataset with other classes, bad labels and bad reductions are one-line errors; `sieve bench clip`
writes its rows (and has PyTorch's parameter count where /usr/bin/python3 has torch).
`sieve experiment vtp` is tested apart (test_vtp.py, the meson test 'vtp'), on the same tiny data.
Standard-library Python only; timings are never asserted.
"""
import csv
import os
import re
import sys
import tempfile

import test_bench_mamba
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


def check_labels_and_reduce(tmp, data, ckpt):
    image = os.path.join(tmp, "three.bmp")  # class 3 of the tiny mnist: rows 10-12 lit
    test_train.write_bmp(image, [[200 if 10 <= r < 13 and 4 <= c < 24 else 10 for c in range(28)]
                                 for r in range(28)], scale=1)
    labels = ["a handwritten digit five", "a handwritten digit three", "this is a bag"]
    code, text, err = run("infer", ckpt, image, "--labels", ", ".join(labels), "--threads", "2")
    rows = [line.split(",") for line in text.strip().splitlines()]
    expect(code == 0 and len(rows) == 2 and rows[0] == ["file", "prediction", "class"] + labels,
           "infer --labels: one column per label, named by it", text + err)
    if code == 0 and len(rows) == 2:
        probs = [float(v) for v in rows[1][3:]]
        expect(abs(sum(probs) - 1) < 1e-4 and rows[1][2] == "a handwritten digit three",
               "the labels' probabilities sum to 1 and the digit's own label wins", text)
    for reduce in ("evit:0.5:fuse", "tome:8", "l2:0.7", "svtr:0.5"):
        code, text, err = run("eval", ckpt, "--dataset", "mnist", "--data-dir", data, "--quiet", "--reduce", reduce,
                              "--threads", "2")
        expect(code == 0 and accuracy_of(text) > 30, f"eval --reduce {reduce} runs on fewer tokens", text + err)
    code, text, err = run("eval", ckpt, "--dataset", "fashion-mnist", "--data-dir", data, "--probe", "--quiet",
                          "--threads", "2")
    m = re.search(r"linear probe on frozen features: accuracy ([0-9.]+)% \(train ([0-9.]+)%; 16 features", text)
    expect(code == 0 and m is not None and float(m.group(1)) > 80 and "zero-shot" in text,
           "eval --probe: a linear probe on the 16 frozen features, beside zero-shot", text + err)
    code, text, err = run("train", "clip", "--dataset", "mnist", "--data-dir", data, "--out",
                          os.path.join(tmp, "pruned"), *TINY_CLIP, "--reduce", "evit:0.7", "--max-steps", "2",
                          "--quiet", "--threads", "2")
    expect(code == 0, "pruning-aware training: sieve train clip --reduce evit:0.7", err)
    bad = [(("infer", ckpt, image, "--labels", ""), "--labels: no labels given"),
           (("infer", ckpt, image, "--labels", "a shoe,,a bag"), "--labels: label 2 is empty"),
           (("infer", ckpt, image, "--labels", "x" * 80), "--labels: '"),
           (("eval", ckpt, "--data-dir", data, "--reduce", "tome:40"), "--reduce tome:40: r is too large"),
           (("eval", ckpt, "--data-dir", data, "--reduce", "evit:1.5"), "--reduce: keep 1.5 is outside (0, 1]"),
           (("infer", ckpt, image, "--reduce", "evit:0"), "--reduce: keep 0 is outside (0, 1]"),
           (("train", "clip", "--dataset", "mnist", "--data-dir", data, "--out", os.path.join(tmp, "bad"), *TINY_CLIP,
             "--reduce", "evit:0.5@9"), "block 9 does not exist")]
    for args, message in bad:
        code, _, err = run(*args)
        expect(code == 1 and err.count("\n") == 1 and message in err, f"{message!r}: one line, exit 1", err)


def check_experiment_vtp(tmp, data):
    out = os.path.join(tmp, "vtp")
    tiny = [a if a != "1" or TINY_CLIP[i - 1] != "--depth" else "2" for i, a in enumerate(TINY_CLIP)]  # depth 2
    args = ("experiment", "vtp", "--quick", "--data-dir", data, "--out", out, "--epochs", "8", "--timing-images", "64",
            "--latency-images", "2", *tiny, "--quiet",
            "--threads", "2")
    code, text, err = run(*args)
    expect(code == 0, "experiment vtp --quick on tiny data exits 0", err)
    rows = {(r["method"], r["setting"]): r for r in read_csv(os.path.join(out, "vtp.csv"))}
    methods = {m for m, _ in rows}
    expect(methods == {"baseline", "evit", "evit+fuse", "l2", "svtr", "tome"} and ("evit", "1") in rows
           and all((m, k) in rows for m in ("evit", "evit+fuse", "l2", "svtr") for k in ("0.7", "0.5")),
           "vtp.csv has the baseline, evit at keep 1, and every method at keeps 0.7 and 0.5", str(sorted(rows)))
    if ("baseline", "") not in rows or ("evit", "1") not in rows:
        return
    base, same = rows[("baseline", "")], rows[("evit", "1")]
    expect(same["cosine_off"] == "1.000000" and same["mnist_off"] == base["mnist_off"]
           and same["fashion_off"] == base["fashion_off"] and same["gflops_per_image"] == base["gflops_per_image"],
           "keep 1.0 is the baseline exactly: cosine 1, same accuracies, same FLOPs", str(same))
    reduced = [r for (m, k), r in rows.items() if m != "baseline" and k != "1"]
    expect(all(float(r["flops_vs_base"]) < 1 and float(r["mean_tokens"]) < float(base["mean_tokens"])
               and r["tokens"].startswith(("50-", "36-", "26-")) for r in reduced),
           "every reduced row runs fewer tokens and fewer measured FLOPs", str(reduced))
    expect(all(r["mnist_ft"] and r["fashion_ft"] and float(r["cosine_ft"]) <= 1.0000005 for r in reduced),
           "every reduced row is also fine-tuned and measured", str(reduced))
    expect(os.path.exists(os.path.join(out, "vtp.png")) or "no chart" in text, "the chart is drawn (or said why not)",
           text)
    test_cli.expect_renders(os.path.join(out, "vtp.csv"), "vtp", "| evit | keep 1 | 50.0 | 1.000 |")
    code, text, err = run(*args)
    expect(code == 0 and "reusing the finished run" in text and "training into" not in text,
           "a second run reuses every trained model", text + err)
    for extra, message in ((("--keeps", "1.5"), "--keeps: keep 1.5 is outside (0, 1]"),
                           (("--reduce", "evit:0.5"), "--reduce: the study sets each row's reduction itself")):
        code, _, err = run("experiment", "vtp", "--quick", "--data-dir", data, "--out", out, *extra)
        expect(code == 1 and err.count("\n") == 1 and message in err, f"{message!r}: one line, exit 1", err)


def check_bench(tmp):
    """bench clip's rows without PyTorch; with /usr/bin/python3's torch, the same parameter count."""
    path = os.path.join(tmp, "clip-bench.csv")
    code, out, err = run("bench", "clip", "--quick", "--batch", "8", "--infer-batch", "4", "--csv", path,
                         "--threads", "2", env={"SIEVE_PYTHON": "none"})
    expect(code == 0 and "parameters: sieve 241985" in out, "bench clip --quick exits 0 and counts parameters", out + err)
    rows = [line.split(",") for line in open(path).read().splitlines()[1:]] if os.path.exists(path) else []
    expect([r[0] for r in rows] == ["clip_train_step_b8", "clip_infer_b4"] and all(float(r[1]) > 0 for r in rows),
           "bench clip writes its two rows", str(rows))
    if test_bench_mamba.torch_importable():
        code, out, err = run("bench", "clip", "--quick", "--batch", "4", "--infer-batch", "2", "--threads", "2",
                             env={"SIEVE_PYTHON": "/usr/bin/python3"})
        expect(code == 0 and "parameters: sieve 241985, PyTorch 241985" in out and "target ≤ 0.4×" in out,
               "bench clip beside PyTorch: the same parameter count, and the target line", out + err)


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_augment_never_mirrors_digits(tmp, data):
    """--augment on the sets with digits crops but never flips (a mirrored 2 is no digit); the run says so."""
    for dataset in ("mnist+fashion-mnist", "mnist"):
        code, text, err = run("train", "clip", "--dataset", dataset, "--data-dir", data, "--augment", "--out",
                              os.path.join(tmp, "aug-" + dataset), *TINY_CLIP, "--max-steps", "1", "--threads", "2")
        expect(code == 0 and "augmented: random crop (pad 2), no flip" in text,
               f"--augment on {dataset}: random crop and no flip, said in the run's data line", text + err)


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
    code, _, err = run("infer", os.path.join(mlp, "checkpoint.safetensors"), os.path.join(data, "mnist",
                       "t10k-images-idx3-ubyte"), "--labels", "a shoe,a bag")
    expect(code == 1 and err.count("\n") == 1 and "classes are fixed" in err,
           "--labels with a classifier's checkpoint is refused in one line", err)
    code, _, err = run("eval", os.path.join(mlp, "checkpoint.safetensors"), "--data-dir", data, "--probe")
    expect(code == 1 and err.count("\n") == 1 and "--probe" in err and "no image features" in err,
           "--probe with a model without image features is refused in one line", err)
    code, _, err = run("eval", os.path.join(mlp, "checkpoint.safetensors"), "--data-dir", data, "--reduce", "evit:0.5")
    expect(code == 1 and err.count("\n") == 1 and "--reduce" in err and "no option reduce" in err,
           "--reduce with a model that has no token reduction is refused in one line", err)


def make_data(tmp):
    """tmp/data with the tiny mnist (row bands) and fashion-mnist (column bands); test_vtp.py uses it too."""
    data = os.path.join(tmp, "data")
    test_train.make_mnist(data)
    test_train.make_mnist(data, seed=1, name="fashion-mnist", columns=True)
    return data


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(tmp)
        ckpt = check_train_and_eval(tmp, data)
        check_labels_and_reduce(tmp, data, ckpt)
        check_bench(tmp)
        check_augment_never_mirrors_digits(tmp, data)
        check_errors(tmp, data)
    return test_cli.report("clip")


if __name__ == "__main__":
    sys.exit(main())
