"""Golden cases for ops/loss (see golden_lib.py for the file layout).

sieve's cross_entropy takes the class dim last, (..., C); PyTorch's takes it at dim 1, so the
3-d case moves it there before calling PyTorch.
"""
import os

import torch
import torch.nn.functional as F

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("loss")
    logits = g.randn(8, 5) * 2
    target = g.randint(0, 5, 8)
    ignored = target.clone()
    ignored[1] = -100
    ignored[6] = -100
    g.case("ce_mean", lambda x, t: F.cross_entropy(x, t), x=logits, t=target)
    g.case("ce_sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), x=logits, t=target)
    g.case("ce_none", lambda x, t: F.cross_entropy(x, t, reduction="none"), x=logits, t=target)
    g.case("ce_ignore_mean", lambda x, t: F.cross_entropy(x, t), x=logits, t=ignored)
    g.case("ce_smooth_mean", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), x=logits, t=target)
    g.case("ce_smooth_ignore_mean", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2), x=logits, t=ignored)
    g.case("ce_smooth_ignore_sum",
           lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2, reduction="sum"), x=logits, t=ignored)
    g.case("ce_smooth_ignore_none",
           lambda x, t: F.cross_entropy(x, t, label_smoothing=0.3, reduction="none"), x=logits, t=ignored)
    other = target.clone()
    other[2] = 3
    g.case("ce_ignore_index_3",
           lambda x, t: F.cross_entropy(x, t, ignore_index=3, label_smoothing=0.1), x=logits, t=other)
    seq_logits = g.randn(2, 3, 4)
    seq_target = g.randint(0, 4, 2, 3)
    g.case("ce_3d", lambda x, t: F.cross_entropy(x.permute(0, 2, 1), t, label_smoothing=0.05),
           x=seq_logits, t=seq_target)
    g.case("ce_f64", lambda x, t: F.cross_entropy(x, t), x=g.randn(4, 6, dtype=torch.float64),
           t=g.randint(0, 6, 4))
    a, b = g.randn(3, 4), g.randn(3, 4)
    g.case("mse_mean", lambda a, b: F.mse_loss(a, b), a=a, b=b)
    g.case("mse_sum", lambda a, b: F.mse_loss(a, b, reduction="sum"), a=a, b=b)
    g.case("mse_none", lambda a, b: F.mse_loss(a, b, reduction="none"), a=a, b=b)
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
