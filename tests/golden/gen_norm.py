"""Golden cases for ops/norm (see golden_lib.py for the file layout).

PyTorch 1.13 has no rms_norm, so it is written here by hand from its definition:
y = x / sqrt(mean(x²) + eps) · w.
"""
import os

import torch
import torch.nn.functional as F

from golden_lib import GoldenFile


def rms_norm(x, w=None, eps=1e-6):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if w is None else y * w


def generate(directory):
    g = GoldenFile("norm")
    x = g.randn(4, 3, 16) * 2 + 0.5
    w, b = g.randn(16), g.randn(16)
    g.case("layer_norm_affine", lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-5), x=x, w=w, b=b)
    g.case("layer_norm_plain", lambda x: F.layer_norm(x, (16,), None, None, 1e-5), x=x)
    g.case("layer_norm_weight_only", lambda x, w: F.layer_norm(x, (16,), w, None, 1e-3), x=x, w=w)
    wide = g.randn(6, 200) + 3  # a row longer than one vector, with an offset mean
    ww, bw = g.randn(200), g.randn(200)
    g.case("layer_norm_wide", lambda x, w, b: F.layer_norm(x, (200,), w, b, 1e-5), x=wide, w=ww, b=bw)
    g.case("rms_norm_weight", lambda x, w: rms_norm(x, w, 1e-6), x=x, w=w)
    g.case("rms_norm_plain", lambda x: rms_norm(x, None, 1e-5), x=x)
    g.case("layer_norm_f64", lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5),
           x=g.randn(3, 5, dtype=torch.float64), w=g.randn(5, dtype=torch.float64),
           b=g.randn(5, dtype=torch.float64))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
