"""tests/tools/test_projectors.py — `sieve experiment projectors` on tiny settings, run as a user would.

Usage (meson does this as the test 'projectors'):  python3 tests/tools/test_projectors.py PATH/TO/sieve
On the tiny mnist and fashion-mnist of test_clip.py, trains a depth-2 CLIP tower (patch 4: 7×7 patch
tokens), then runs the study with a tiny language model and a few steps per VLM. Checks: a row per
projector and one more for the best projector with the pruned visual tokens (pixel shuffle is
skipped on the odd 7×7 grid); the projectors' parameter counts by their formulas and the same
language model in every row; the same tower FLOPs in every row and fewer language-model FLOPs
with fewer visual tokens; a finite proxy MSE; exact-match columns that are shares and whose single
and grid columns average the right kinds; the verdict and ranking lines; the table rendered for
RESULTS.md; a second run reusing every VLM, and an interrupted one finished to the bit; and one-line errors for flags the study sets itself
or does not know. Never asserts on timing or on accuracy. Standard-library Python only.
"""
import math
import os
import sys
import tempfile

import test_cli
import test_clip
import test_train
import test_vlm
from test_cli import expect, run

TINY_VLM = ["--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "32", "--stage1_steps", "3",
            "--train_examples", "64", "--test_examples", "2", "--visual_tokens", "all"]
STUDY = ["--epochs", "1", "--batch-size", "8", "--max-steps", "6", "--warmup-steps", "2", "--proxy-steps", "5",
         "--proxy-images", "64", "--timing-reps", "1", "--quiet", "--threads", "2"]
SINGLE, GRID = ("what", "even"), ("corner", "count", "sum", "bag")


def projector_params(kind, d_in, d_out, rank):
    """The trained parameters of each projector (models/projectors.h's legend), written out by hand."""
    return {"linear": d_in * d_out + d_out,
            "lowrank": d_in * rank + rank * d_out + d_out,
            "mlp": d_in * d_out + d_out + d_out * d_out + d_out,
            "gated": 2 * (d_in * d_out + d_out),
            "lora": d_in * rank + rank * d_out}[kind]


def check_study(tmp, data, clip):
    out = os.path.join(tmp, "projectors")
    args = ("experiment", "projectors", "--data-dir", data, "--out", out, "--vision", clip, *TINY_VLM, *STUDY)
    code, text, err = run(*args)
    expect(code == 0, "experiment projectors on tiny settings exits 0", err)
    rows = {r["row"]: r for r in test_clip.read_csv(os.path.join(out, "projectors.csv"))}
    names = ["linear", "lowrank", "mlp", "gated", "lora"]
    extra = [name for name in rows if name not in names]
    expect(all(n in rows for n in names) and len(extra) == 1 and extra[0].endswith("-prune"),
           "a row per projector, then the best one with pruned visual tokens (no shuffle on a 7×7 grid)", str(list(rows)))
    if not all(n in rows for n in names) or len(extra) != 1:
        return
    pruned = rows[extra[0]]
    expect(all(rows[n]["tokens_per_image"] == "49" for n in names) and pruned["tokens_per_image"] == "25",
           "49 visual tokens per image, 25 when pruned to half", str(pruned))
    expect(all(int(rows[n]["projector_params"]) == projector_params(n, 16, 16, 8) for n in names),
           "each projector's trained parameters match its formula",
           str({n: rows[n]["projector_params"] for n in names}))
    lm = {int(r["trained_params"]) - int(r["projector_params"]) for r in rows.values()}
    expect(len(lm) == 1 and lm.pop() > 0, "every row trains the same language model beside its projector")
    towers = {r["tower_mflops"] for r in rows.values()}
    expect(len(towers) == 1 and float(towers.pop()) > 0, "the same frozen tower's FLOPs in every row")
    best = rows[pruned["projector"]]
    expect(float(pruned["lm_mflops"]) < float(best["lm_mflops"]) and float(pruned["projector_mflops"]) <
           float(best["projector_mflops"]), "fewer visual tokens: fewer language-model and projector FLOPs",
           f"{pruned} {best}")
    expect(all(math.isfinite(float(r["proxy_mse"])) and float(r["proxy_mse"]) > 0 for r in rows.values()),
           "every row has a finite proxy MSE")
    expect(all(float(r["prefill_ms"]) > 0 and 0 < float(r["projector_share"]) < 1 for r in rows.values()),
           "every row times the prefill and the projector's share of it")
    for r in rows.values():
        shares = [float(r[k]) for k in (*SINGLE, *GRID)]
        expect(all(0 <= s <= 1 for s in shares)
               and abs(float(r["single"]) - sum(shares[:2]) / 2) < 1e-3
               and abs(float(r["grid"]) - sum(shares[2:]) / 4) < 1e-3,
               f"{r['row']}: exact match per kind; single and grid average their kinds", str(r))
    expect("best projector:" in text and "(target ≥ 97% and ≥ 90%)" in text
           and "ranking by the study's proxy — the study: mlp > lowrank > linear > gated > lora; here:" in text
           and "ranking by exact match" in text, "the verdict and both rankings are printed", text)
    test_cli.expect_renders(os.path.join(out, "projectors.csv"), "projectors", "| linear | 49 |")
    code, text, err = run(*args)
    expect(code == 0 and text.count("reusing the finished run") == 6 and ": training" not in text,
           "a second run reuses every VLM", text + err)
    check_interrupted_run_resumes(tmp, data, clip, out, args)
    for extra_args, message in ((("--projector", "mlp"), "--projector: the study sets each row's projector"),
                                (("--projectors", "linear,conv"), "--projectors: unknown projector 'conv'"),
                                ((), "holds a run with other settings than this experiment's")):
        changed = [*args, *extra_args] if extra_args else \
            [("4" if i and args[i - 1] == "--stage1_steps" else a) for i, a in enumerate(args)]
        code, _, err = run(*changed)
        expect(code == 1 and err.count("\n") == 1 and message in err, f"{message!r}: one line, exit 1", err)


def check_interrupted_run_resumes(tmp, data, clip, out, args):
    """The linear row's run, replaced by one stopped after 4 of its 6 steps (what a killed study leaves):
    the study finishes it, and it ends equal to the bit to the run that never stopped."""
    linear = os.path.join(out, "linear", "checkpoint.safetensors")
    straight = test_train.tensors_of(linear)
    partial = os.path.join(tmp, "partial")
    code, _, err = run("train", "vlm", "--vision", clip, "--data-dir", data, "--out", partial, *TINY_VLM,
                       "--projector", "linear", "--epochs", "1", "--batch-size", "8", "--max-steps", "4",
                       "--warmup-steps", "2", "--quiet", "--threads", "2")
    expect(code == 0, "a linear vlm stopped after 4 steps", err)

    def as_interrupted(training):
        training["options"]["max_steps"] = 6  # the study's run, not yet finished
        training["finished"] = False
    test_train.rewritten(os.path.join(partial, "checkpoint.safetensors"), linear, edit_training=as_interrupted)
    code, text, err = run(*args)
    expect(code == 0 and f"{os.path.join(out, 'linear')}: finishing the interrupted run" in text
           and text.count("reusing the finished run") == 5, "the study finishes the interrupted run", text + err)
    resumed = test_train.tensors_of(linear)
    expect(set(resumed) == set(straight) and all(resumed[k] == straight[k] for k in straight),
           "the finished run equals the one that never stopped, to the bit")


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = test_clip.make_data(tmp)
        clip = test_vlm.train_clip(tmp, data, depth=2)
        check_study(tmp, data, clip)
    return test_cli.report("projectors")


if __name__ == "__main__":
    sys.exit(main())
