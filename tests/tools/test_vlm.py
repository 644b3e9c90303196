"""tests/tools/test_vlm.py — `sieve train vlm`, `sieve eval` of its checkpoints and `sieve chat`, run as
a user would.

Usage (meson does this as the test 'vlm'):  python3 tests/tools/test_vlm.py PATH/TO/sieve
On the tiny mnist and fashion-mnist of test_clip.py (row and column bands), trains a tiny CLIP for a
few steps (the tower only has to exist), then a tiny VLM on it through both stages, and checks: the
run's lines, metrics.csv and answers.csv (exact match per question kind), the tower's keys taken from
the CLIP checkpoint, `sieve eval` answering every kind, `sieve chat` answering one question and
questions read from standard input about a 28×28 image and a 56×56 grid, a run stopped three times by
--max-steps and resumed equal to the bit to one that never stopped, the same with a Mamba
language model, `sieve bench vlm`'s rows (and PyTorch's parameter count where torch is); and
one-line errors for a
missing or wrong --vision, a tower key that contradicts it, an unknown projector, pixel shuffle on
an odd grid, --init, --resume of a clip or with a changed --lr, --dataset, chat's wrong image size, empty or overlong question and
non-VLM checkpoint, and infer and profile, which a VLM does not take. Learning itself is tested in tests/models/test_vlm.cpp (a tiny model answers
4/4). Standard-library Python only; timings are never asserted.
"""
import csv
import json
import os
import sys
import tempfile

import test_bench_mamba
import test_cli
import test_clip
import test_train
from test_cli import expect, run
from test_train import one_line_error

TINY_VLM = ["--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "32", "--stage1_steps", "5",
            "--train_examples", "64", "--test_examples", "3", "--visual_tokens", "all"]


def train_clip(tmp, data, dataset="mnist+fashion-mnist", name="clip", depth=1):
    out = os.path.join(tmp, name)
    tiny = [str(depth) if i and test_clip.TINY_CLIP[i - 1] == "--depth" else a for i, a in enumerate(test_clip.TINY_CLIP)]
    code, _, err = run("--threads", "2", "train", "clip", "--dataset", dataset, "--data-dir", data, "--out", out,
                       *tiny, "--max-steps", "4", "--batch-size", "32", "--quiet")
    expect(code == 0, f"a tiny clip on {dataset} trains", err)
    return os.path.join(out, "checkpoint.safetensors")


def check_train(tmp, data, clip):
    out = os.path.join(tmp, "vlm")
    code, text, err = run("--threads", "2", "train", "vlm", "--vision", clip, "--data-dir", data, "--out", out,
                          *TINY_VLM, "--epochs", "2", "--batch-size", "16", "--warmup-steps", "2")
    expect(code == 0, "sieve train vlm exits 0", err)
    expect("stage 1: 5 steps" in text and "epoch 2:" in text and "test exact match:" in text,
           "the run reports stage 1, each epoch and the final exact match", text)
    with open(os.path.join(out, "metrics.csv")) as f:
        expect(len(list(csv.DictReader(f))) == 2, "metrics.csv has a row per epoch")
    with open(os.path.join(out, "answers.csv")) as f:
        rows = list(csv.reader(f))
    expect(rows and rows[0] == ["epoch", "what", "even", "corner", "count", "sum", "bag", "all"] and len(rows) == 3,
           "answers.csv: exact match per question kind, a row per epoch", str(rows))
    ckpt = os.path.join(out, "checkpoint.safetensors")
    meta = test_train.metadata_of(ckpt)
    config = json.loads(meta.get("config", "{}"))
    expect(meta.get("model") == "vlm" and config.get("vision_dim") == 16 and config.get("vision_patch") == 4,
           "the checkpoint is a vlm whose tower keys come from the clip checkpoint", str(config))
    return ckpt


def check_resume(tmp, data, clip):
    """A run stopped by --max-steps (in stage 1, at a stage-2 epoch's end, inside the next) and resumed equals, to the bit,
    the run that never stopped: weights, optimizer state, answers.csv and metrics.csv's epoch rows."""
    common = ("train", "vlm", "--vision", clip, "--data-dir", data, *TINY_VLM, "--epochs", "2", "--batch-size", "16",
              "--warmup-steps", "2", "--threads", "2", "--quiet")
    straight, stopped = os.path.join(tmp, "vlm-straight"), os.path.join(tmp, "vlm-stopped")
    code, _, err = run(*common, "--out", straight)
    expect(code == 0, "a 2-epoch run straight (5 + 2·4 steps)", err)
    ckpt = os.path.join(stopped, "checkpoint.safetensors")
    code, _, err = run(*common, "--out", stopped, "--max-steps", "3")
    expect(code == 0 and test_train.metadata_of(ckpt) and
           json.loads(test_train.metadata_of(ckpt)["training"])["finished"] is True,
           "stopped inside stage 1 by --max-steps 3 (its invocation finished)", err)
    code, _, err = run("train", "vlm", "--resume", ckpt, "--max-steps", "9", "--threads", "2", "--quiet")
    expect(code == 0, "resumed to step 9: through stage 1's end to the end of stage 2's first epoch", err)
    code, _, err = run("train", "vlm", "--resume", ckpt, "--max-steps", "11", "--threads", "2", "--quiet")
    expect(code == 0, "resumed from that epoch boundary to step 11, inside the second epoch", err)
    training = json.loads(test_train.metadata_of(ckpt).get("training", "{}"))
    expect(training.get("step") == 11 and training.get("summed") == 2,
           "the checkpoint stands at step 11, two steps into epoch 2", str(training))
    code, text, err = run("train", "vlm", "--resume", ckpt, "--threads", "2")
    expect(code == 0 and "resumed at step 11" in text, "resumed again without --max-steps: runs to the end", text + err)
    broken = test_train.rewritten(ckpt, os.path.join(tmp, "vlm-broken", "checkpoint.safetensors"),
                                  drop=lambda name: name.startswith("optimizer."))
    one_line_error(["train", "vlm", "--resume", broken], ["--resume", "should hold its stage's optimizer state"],
                   "--resume of a run inside stage 2 without its optimizer state")
    a, b = test_train.tensors_of(os.path.join(straight, "checkpoint.safetensors")), test_train.tensors_of(ckpt)
    differ = [name for name in a if a[name] != b.get(name)]
    expect(set(a) == set(b) and not differ, "stopped and resumed: the same weights and optimizer state to the bit",
           f"differ: {differ}")
    for name in ("answers.csv", "metrics.csv"):
        rows = [list(csv.reader(open(os.path.join(d, name)))) for d in (straight, stopped)]
        keep = (lambda r: r) if name == "answers.csv" else (lambda r: r[:7])  # seconds and samples/s differ
        expect([keep(r) for r in rows[0]] == [keep(r) for r in rows[1]] and len(rows[0]) == 3,
               f"{name}: the same epoch rows as the run that never stopped", str(rows))


def check_eval_and_chat(tmp, data, ckpt):
    code, text, err = run("--threads", "2", "eval", ckpt, "--data-dir", data, "--quiet")
    kinds = ("what", "even", "corner", "count", "sum", "bag")
    expect(code == 0 and "exact match" in text and all(f"  {k} " in text for k in kinds) and text.count("of 3)") == 6,
           "eval asks every kind its run's test_examples questions", text + err)
    image = os.path.join(tmp, "three.bmp")  # 28×28: scale 1
    test_train.write_bmp(image, [[200 if 10 <= r < 13 and 4 <= c < 24 else 10 for c in range(28)] for r in range(28)],
                         scale=1)
    code, text, err = run("chat", ckpt, "--image", image, "what is this?")
    expect(code == 0 and len(text.splitlines()) == 1, "chat answers one question on one line", text + err)
    grid = os.path.join(tmp, "grid.bmp")  # 56×56: four cells
    test_train.write_bmp(grid, [[(r * 7 + c * 3) % 256 for c in range(28)] for r in range(28)], scale=2)
    p = test_cli.subprocess.run([test_cli.SIEVE, "chat", ckpt, "--image", grid], input="what is this?\n\nis there a bag?\n",
                                capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0 and len(p.stdout.splitlines()) == 2,
           "chat reads questions from standard input, one answer line each (blank lines skipped)", p.stdout + p.stderr)
    return image


def check_mamba_lm(tmp, data, clip, image):
    out = os.path.join(tmp, "vlm-mamba")
    code, text, err = run("--threads", "2", "train", "vlm", "--vision", clip, "--data-dir", data, "--out", out,
                          *TINY_VLM, "--lm", "mamba", "--d_state", "4", "--stage1_trains", "all", "--epochs", "1",
                          "--batch-size", "16", "--quiet")
    expect(code == 0 and "test exact match:" in text, "--lm mamba (and stage 1 training all) trains the same way",
           text + err)
    ckpt = os.path.join(out, "checkpoint.safetensors")
    code, text, err = run("chat", ckpt, "--image", image, "is the digit even?")
    expect(code == 0 and len(text.splitlines()) == 1, "chat with a mamba language model (its cached state)", text + err)


def check_bench(tmp):
    """bench vlm's rows without PyTorch (cached bytes cheaper than recomputing); with /usr/bin/python3's
    torch, the same parameter count and the target line."""
    path = os.path.join(tmp, "vlm-bench.csv")
    code, out, err = run("bench", "vlm", "--quick", "--batch", "2", "--csv", path, "--threads", "2",
                         env={"SIEVE_PYTHON": "none"})
    expect(code == 0 and "parameters: sieve 1060483" in out and "projector" in out,
           "bench vlm --quick exits 0, counts parameters and splits the prefill", out + err)
    rows = {r["bench"]: r for r in csv.DictReader(open(path))} if os.path.exists(path) else {}
    names = ["vlm_prefill_b1", "vlm_prefill_b2", "vlm_decode_n1", "vlm_decode_n8", "vlm_decode_n32"]
    expect(sorted(rows) == sorted(names) and all(float(rows[n]["figure"]) > 0 for n in names),
           "bench vlm writes its five rows", str(rows))
    if rows.get("vlm_decode_n32"):
        expect(float(rows["vlm_decode_n32"]["reference_figure"]) > float(rows["vlm_decode_n32"]["figure"]),
               "a cached byte costs less than recomputing the sequence for it", str(rows["vlm_decode_n32"]))
    if test_bench_mamba.torch_importable():
        code, out, err = run("bench", "vlm", "--quick", "--batch", "2", "--threads", "2",
                             env={"SIEVE_PYTHON": "/usr/bin/python3"})
        expect(code == 0 and "parameters: sieve 1060483, PyTorch 1060483" in out and "target ≤ 0.4×" in out,
               "bench vlm beside PyTorch: the same parameter count, and the target line", out + err)


def check_errors(tmp, data, clip, ckpt, image):
    base = ["train", "vlm", "--data-dir", data, *TINY_VLM, "--epochs", "1", "--batch-size", "16"]
    one_line_error([*base, "--out", os.path.join(tmp, "e1")], ["--vision", "CLIP checkpoint"], "no --vision")
    one_line_error([*base, "--vision", ckpt, "--out", os.path.join(tmp, "e2")], ["--vision", "clip checkpoint is needed"],
                   "a vlm checkpoint as --vision")
    mnist_clip = train_clip(tmp, data, dataset="mnist", name="clip-mnist")
    one_line_error([*base, "--vision", mnist_clip, "--out", os.path.join(tmp, "e3")], ["--vision", "mnist+fashion-mnist"],
                   "a clip trained on mnist alone")
    one_line_error([*base, "--vision", clip, "--vision_dim", "32", "--out", os.path.join(tmp, "e4")],
                   ["--vision_dim 32", "from --vision"], "a tower key contradicting the clip checkpoint")
    one_line_error([*base, "--vision", clip, "--projector", "conv", "--out", os.path.join(tmp, "e5")],
                   ["--projector", "conv", "linear, lowrank, mlp, gated, lora"], "an unknown projector")
    one_line_error([*base, "--vision", clip, "--lm", "rnn", "--out", os.path.join(tmp, "e7")],
                   ["--lm", "rnn", "transformer or mamba"], "an unknown language model")
    one_line_error([*base, "--vision", clip, "--stage1_trains", "lm", "--out", os.path.join(tmp, "e8")],
                   ["--stage1_trains", "projector or all"], "an unknown stage-1 choice")
    one_line_error(["train", "vlm", "--data-dir", data, "--vision", clip, "--visual_tokens", "shuffle", "--out",
                    os.path.join(tmp, "e6")], ["--visual_tokens shuffle", "7×7"], "pixel shuffle on a 7×7 grid")
    one_line_error([*base, "--init", ckpt], ["--init", "--vision tower"], "--init")
    one_line_error(["train", "vlm", "--resume", ckpt, "--lr", "0.5"], ["--resume", "--lr cannot change"],
                   "--resume with a changed --lr")
    one_line_error(["train", "vlm", "--resume", clip], ["--resume", "'clip'", "not of 'vlm'"], "--resume of a clip")
    one_line_error([*base, "--vision", clip, "--dataset", "mnist"], ["--dataset", "mnist+fashion-mnist"], "--dataset")
    small = os.path.join(tmp, "small.bmp")
    test_train.write_bmp(small, [[0] * 15 for _ in range(15)], scale=2)
    one_line_error(["chat", ckpt, "--image", small, "what?"], ["--image", "30×30", "56×56"], "chat on a 30×30 image")
    one_line_error(["chat", ckpt, "--image", image, ""], ["QUESTION", "empty"], "an empty question")
    one_line_error(["chat", ckpt, "--image", image, "x" * 300], ["QUESTION", "300 bytes"], "an overlong question")
    one_line_error(["chat", clip, "--image", image, "what?"], ["'clip' checkpoint", "sieve train vlm"],
                   "chat with a clip checkpoint")
    one_line_error(["infer", ckpt, image], ["vlm answers questions", "sieve chat"], "infer with a vlm checkpoint")
    one_line_error(["profile", "vlm"], ["profile", "vlm"], "profile vlm")
    one_line_error(["profile", "--checkpoint", ckpt], ["profile", "vlm"], "profile of a vlm checkpoint")


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = test_clip.make_data(tmp)
        clip = train_clip(tmp, data)
        ckpt = check_train(tmp, data, clip)
        check_resume(tmp, data, clip)
        image = check_eval_and_chat(tmp, data, ckpt)
        check_mamba_lm(tmp, data, clip, image)
        check_bench(tmp)
        check_errors(tmp, data, clip, ckpt, image)
    return test_cli.report("vlm")


if __name__ == "__main__":
    sys.exit(main())
