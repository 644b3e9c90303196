"""tests/tools/test_ddp.py — data-parallel training (dist/) run as a user would: `sieve train --nproc 2`
and `mpirun -np 2 sieve train`, two ranks of one thread each on the 2-core machine.

Usage (meson does this as the test 'ddp'):  python3 tests/tools/test_ddp.py PATH/TO/sieve
On a tiny generated MNIST (test_train.py's) and the majority task: a tiny MLP, ViT and Mamba trained
by 2 ranks end within the stated bound of the same run in one process (the sums inside backward's
products run over other rows, so rounding differs: after 10 steps no weight or AdamW moment differs
by more than 1e-3 of its tensor's largest value; seen: up to 8e-5, the ViT's key bias); two 2-rank runs (mpirun and --nproc) give the
same bits; ranks that start from other weights are overwritten by rank 0's (the same bits again);
rank 0 alone writes (one metrics row, one report); ZeRO-1 gives the same bits as plain data
parallel, and its checkpoint resumes with or without it; a checkpoint resumes on the other number of
ranks (within the bound) and on the same number to the bit; a rank killed mid-run, or stopped (a
hang: SIEVE_DDP_TIMEOUT 3 s), ends the job with one line in bounded time; and the one-line refusals (clip's batch-coupled loss, a vlm, fewer rows
than ranks, --nproc against mpirun's -np, a command other than train under mpirun); and `bench ddp
--quick`'s rows. A sieve built without MPI refuses --nproc in one line
(the only check then). Never asserts on timing. Standard-library Python only.
"""
import array
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import test_cli
import test_clip
import test_train
from test_cli import expect, run

BOUND = 1e-3
TINY_VIT = ["--patch", "7", "--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "32"]
MAJORITY = ["--task", "majority", "--train-size", "256", "--test-size", "64", "--dim", "16", "--depth", "1"]


def mpirun(*args):
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    p = subprocess.run(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", "--quiet", "--mca",
                        "btl_vader_single_copy_mechanism", "none", *root,
                        test_cli.SIEVE, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def worst_difference(a_path, b_path):
    """Over every tensor of two checkpoints (weights and AdamW's moments): max |a − b| ÷ max |a|, the
    difference measured against the tensor's own scale. Not element by element: a direction the loss
    is blind to (a key's bias, which the softmax cancels) gets a gradient of pure rounding noise, which
    Adam scales up to a full step, so such an element differs by a fraction of the learning rate
    whatever its size."""
    a, b = test_train.tensors_of(a_path), test_train.tensors_of(b_path)
    if set(a) != set(b):
        return float("inf")
    worst = 0.0
    for name in a:
        x, y = array.array("f", a[name]), array.array("f", b[name])
        scale = max((abs(v) for v in x), default=0.0) or 1.0
        worst = max([worst] + [abs(p - q) / scale for p, q in zip(x, y)])
    return worst


def same_bits(a_path, b_path):
    a, b = test_train.tensors_of(a_path), test_train.tensors_of(b_path)
    return set(a) == set(b) and all(a[k] == b[k] for k in a)


def ckpt(d):
    return os.path.join(d, "checkpoint.safetensors")


def check_models(tmp, data):
    for model, extra in (("mlp", ["--dataset", "mnist", "--data-dir", data]),
                         ("vit", ["--dataset", "mnist", "--data-dir", data, *TINY_VIT]),
                         ("mamba", MAJORITY)):
        one, two, three = (os.path.join(tmp, f"{model}-{n}") for n in ("one", "two", "mpirun"))
        common = ["train", model, *extra, "--max-steps", "10", "--batch-size", "32", "--seed", "3", "--quiet"]
        code, _, err = run("--threads", "1", *common, "--out", one)
        expect(code == 0, f"{model}: 10 steps in one process", err)
        code, text, err = run("--threads", "1", *common, "--nproc", "2", "--out", two)
        expect(code == 0 and text.count("checkpoint:") == 1, f"{model}: the same on 2 ranks (--nproc 2), one report",
               text + err)
        code, _, err = mpirun("--threads", "1", *common, "--out", three)
        expect(code == 0, f"{model}: the same under mpirun -np 2", err)
        if code != 0 or not os.path.exists(ckpt(one)):
            continue
        worst = worst_difference(ckpt(one), ckpt(two))
        expect(worst <= BOUND, f"{model}: 2 ranks within {BOUND} of one process (max relative difference {worst:.2e})")
        expect(same_bits(ckpt(two), ckpt(three)), f"{model}: --nproc 2 and mpirun -np 2 give the same bits")


def check_broadcast_and_writes(tmp, data):
    """Ranks that build other weights are overwritten by rank 0's; only rank 0 writes the run's files."""
    common = ["--threads", "1", "train", "mlp", "--dataset", "mnist", "--data-dir", data, "--epochs", "1",
              "--batch-size", "64", "--seed", "3", "--quiet", "--nproc", "2"]
    plain, skewed = os.path.join(tmp, "plain"), os.path.join(tmp, "skewed")
    code, text, err = run(*common, "--out", plain)
    expect(code == 0 and text.count("test accuracy:") == 1, "an epoch on 2 ranks reports once", text + err)
    code, _, err = run(*common, "--out", skewed, env={"SIEVE_TEST_SKEW_INIT": "1"})
    expect(code == 0, "the same with rank 1 building other weights first", err)
    if code == 0:
        expect(same_bits(ckpt(plain), ckpt(skewed)), "rank 0's weights reach every rank: the same bits either way")
    rows = open(os.path.join(plain, "metrics.csv")).read().splitlines() if os.path.exists(plain) else []
    expect(len(rows) == 2, "metrics.csv: the header and one epoch row, written by rank 0 alone", str(rows))
    # The test split was evaluated in halves, one per rank, and summed: one process's figure.
    reported = text.split("test accuracy: ")[1].split("%")[0] if "test accuracy: " in text else "?"
    loss = text.split("(loss ")[1].split(",")[0] if "(loss " in text else "?"
    code, out, err = run("eval", ckpt(plain), "--data-dir", data)
    expect(code == 0 and f"accuracy {reported}%  loss {loss}" in out,
           f"the 2-rank evaluation (accuracy {reported}%, loss {loss}) is sieve eval's", text + out + err)


def check_resume_across_ranks(tmp, data):
    common = ["--threads", "1", "train", "mlp", "--dataset", "mnist", "--data-dir", data, "--batch-size", "32",
              "--seed", "4", "--quiet"]
    straight1, straight2 = os.path.join(tmp, "r-straight-1"), os.path.join(tmp, "r-straight-2")
    run(*common, "--max-steps", "10", "--out", straight1)
    run(*common, "--max-steps", "10", "--nproc", "2", "--out", straight2)
    for first, then, against, bitwise in ((2, 1, straight1, False), (1, 2, straight2, False), (2, 2, straight2, True)):
        d = os.path.join(tmp, f"r-{first}-{then}")
        code, _, err = run(*common, "--max-steps", "5", "--nproc", str(first), "--out", d)
        expect(code == 0, f"5 steps on {first} rank(s)", err)
        code, _, err = run("--threads", "1", "train", "mlp", "--resume", ckpt(d), "--max-steps", "10", "--nproc",
                           str(then), "--quiet")
        expect(code == 0, f"resumed on {then} rank(s) to step 10", err)
        if code != 0:
            continue
        if bitwise:
            expect(same_bits(ckpt(d), ckpt(against)), "2 ranks, resumed on 2: the same bits as 2 ranks straight")
        else:
            worst = worst_difference(ckpt(d), ckpt(against))
            expect(worst <= BOUND, f"{first} rank(s), resumed on {then}: within {BOUND} of {then} straight ({worst:.2e})")


def check_zero1(tmp, data):
    """ZeRO-1 (AdamW's state sharded over the ranks) gives plain data parallel's weights and optimizer
    state to the bit, and its checkpoint (the state gathered on rank 0) resumes with or without it."""
    common = ["--threads", "1", "train", "vit", "--dataset", "mnist", "--data-dir", data, *TINY_VIT, "--batch-size",
              "32", "--seed", "5", "--quiet", "--nproc", "2"]
    plain, zero = os.path.join(tmp, "z-plain"), os.path.join(tmp, "z-zero")
    run(*common, "--max-steps", "10", "--out", plain)
    code, _, err = run(*common, "--max-steps", "10", "--zero", "1", "--out", zero)
    expect(code == 0 and same_bits(ckpt(plain), ckpt(zero)), "--zero 1: plain data parallel's weights and AdamW "
           "state, to the bit", err)
    for then in (["--zero", "1"], []):
        d = os.path.join(tmp, f"z-resume{len(then)}")
        run(*common, "--max-steps", "5", "--zero", "1", "--out", d)
        code, _, err = run("--threads", "1", "train", "vit", "--resume", ckpt(d), "--max-steps", "10", "--nproc", "2",
                           *then, "--quiet")
        expect(code == 0 and same_bits(ckpt(d), ckpt(plain)),
               f"a ZeRO-1 checkpoint resumed {'with' if then else 'without'} --zero 1: the same bits", err)


def rank_one_of(job, out):
    """The pid of rank 1 of the job started by `sieve train --nproc 2 ... --out OUT` (found by its
    environment and its command line, so no other job's ranks), or None."""
    for _ in range(100):
        time.sleep(0.1)
        for pid in os.listdir("/proc"):
            try:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except (OSError, ValueError):
                continue
            if b"OMPI_COMM_WORLD_RANK=1" in env and out.encode() in argv:
                return int(pid)
        if job.poll() is not None:
            return None
    return None


def check_faults(tmp, data):
    """A rank killed mid-run, or stopped (a hang): the job ends, non-zero, with one line saying so,
    in bounded time (the hang after SIEVE_DDP_TIMEOUT seconds, 3 here)."""
    for signum, words in ((signal.SIGKILL, ["was killed"]), (signal.SIGSTOP, ["waited", "stopping the job"])):
        name = signal.Signals(signum).name
        out = os.path.join(tmp, f"fault-{name}")
        args = [test_cli.SIEVE, "--threads", "1", "train", "mlp", "--dataset", "mnist", "--data-dir", data,
                "--epochs", "1000", "--batch-size", "32", "--quiet", "--nproc", "2", "--out", out]
        job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, SIEVE_DDP_TIMEOUT="3"))
        victim = rank_one_of(job, out)
        expect(victim is not None, f"{name}: rank 1 of the job is found")
        if victim is None:
            job.kill()
            continue
        time.sleep(1.0)
        start = time.monotonic()
        os.kill(victim, signum)
        try:
            _, err = job.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
            subprocess.run(["pkill", "-KILL", "-f", out])  # whatever is left of it
            expect(False, f"{name}: the job ends within 60 s")
            continue
        expect(job.returncode != 0 and all(w in err for w in words) and err.strip().count("\n") == 0,
               f"{name} on rank 1 ends the job with one line (after {time.monotonic() - start:.1f} s)", err)


def check_bench(tmp):
    """bench ddp --quick: its rows (figures only, never their values) and the cost model's models."""
    path = os.path.join(tmp, "ddp.csv")
    code, out, err = run("bench", "ddp", "--quick", "--batch", "16", "--csv", path)
    rows = [line.split(",") for line in open(path).read().splitlines()[1:]] if os.path.exists(path) else []
    expect(code == 0 and [r[0] for r in rows] == ["ddp_allreduce_1MB", "ddp_allreduce_8MB", "vit_step_b16_2x1"]
           and all(float(r[1]) > 0 and float(r[4]) > 0 for r in rows),
           "bench ddp writes its rows: all-reduce beside MPI_Allreduce, the 2-rank step beside one process",
           out + err + str(rows))
    expect("vit_step_comm_share:" in out and "ring all-reduce" in out and all(m in out for m in ("vit", "mamba")),
           "bench ddp prints the gradient-reduction share and each model's ring all-reduce cost", out)


def check_refusals(tmp, data):
    tiny = os.path.join(tmp, "refused")
    for args, words, what in (
            (["train", "--nproc", "2", "clip", "--dataset", "mnist+fashion-mnist"], ["clip", "couples the whole batch"],
             "clip's contrastive loss"),
            (["train", "--nproc", "2", "mlp", "--dataset", "mnist", "--batch-size", "1"],
             ["--batch-size 1", "fewer rows than"], "fewer rows than ranks"),
            (["train", "--nproc", "2", "vlm", "--vision", "x"], ["vlm", "one process"], "a vlm")):
        code, _, err = run("--threads", "1", *args, "--data-dir", data, "--out", tiny, "--quiet")
        expect(code == 1 and err.count("\n") == 1 and all(w in err for w in words), f"{what}: one line, exit 1", err)
    code, _, err = mpirun("--threads", "1", "train", "--nproc", "3", "mlp", "--dataset", "mnist", "--data-dir", data,
                          "--out", tiny, "--quiet")
    expect(code != 0 and "--nproc 3" in err and err.count("\n") == 1, "--nproc against mpirun's -np: one line", err)
    code, _, err = mpirun("eval", os.path.join(tmp, "plain", "checkpoint.safetensors"), "--data-dir", data)
    expect(code != 0 and "only `sieve train` runs as a job" in err and err.count("\n") == 1,
           "eval under mpirun -np 2: one line, refused", err)


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = test_clip.make_data(tmp)  # mnist and fashion-mnist (clip's refusal needs both)
        code, _, err = run("train", "--nproc", "2", "mlp", "--dataset", "mnist", "--data-dir", data, "--max-steps", "1",
                           "--out", os.path.join(tmp, "probe"), "--quiet")
        if "built without MPI" in err or shutil.which("mpirun") is None:
            expect(code == 1 and err.count("\n") == 1 and ("built without MPI" in err or "mpirun" in err),
                   "without MPI, --nproc is refused in one line", err)
            print("ddp: this sieve has no MPI (or no mpirun): only the refusal was checked")
            return test_cli.report("ddp")
        expect(code == 0, "--nproc 2 runs", err)
        check_models(tmp, data)
        check_broadcast_and_writes(tmp, data)
        check_resume_across_ranks(tmp, data)
        check_zero1(tmp, data)
        check_faults(tmp, data)
        check_refusals(tmp, data)
        check_bench(tmp)
    return test_cli.report("ddp")


if __name__ == "__main__":
    sys.exit(main())
