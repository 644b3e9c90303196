"""tests/golden/gen_conv.py — PyTorch goldens for the conv family (tests/ops/test_conv.cpp).

conv1d_causal_depthwise is PyTorch's Conv1d(C, C, K, groups=C, padding=K−1) on (B, C, L), cut to
the first L steps, with sieve's channels-last layout (B, L, C) and weight (C, K).
conv2d_depthwise is Conv2d(C, C, k, padding=(k−1)/2, groups=C) on (B, C, H, W), channels last
here (B, H, W, C), weight (C, k, k).
unfold_patches is F.unfold(kernel_size=p, stride=p) transposed to (B, patches, C·p·p); the
patch_embed case checks the promise in ops/conv.h that unfold + Linear equals Conv2d(stride=p).
Run: /usr/bin/python3 tests/golden/gen_conv.py
"""
import os

import torch
import torch.nn.functional as F

from golden_lib import GoldenFile


def causal_depthwise(x, weight, bias=None):
    B, L, C = x.shape
    K = weight.shape[1]
    y = F.conv1d(x.transpose(1, 2), weight.unsqueeze(1), bias, padding=K - 1, groups=C)
    return y[..., :L].transpose(1, 2)


def depthwise_2d(x, weight, bias=None):
    """conv2d_depthwise: channels last (B, H, W, C), weight (C, k, k), zero padding (k − 1)/2."""
    C, k = weight.shape[0], weight.shape[1]
    y = F.conv2d(x.permute(0, 3, 1, 2), weight.unsqueeze(1), bias, padding=(k - 1) // 2, groups=C)
    return y.permute(0, 2, 3, 1)


def generate(directory):
    g = GoldenFile("conv")
    g.case("conv1d_bias", causal_depthwise, x=g.randn(2, 9, 5), weight=g.randn(5, 4), bias=g.randn(5))
    g.case("conv1d_nobias", lambda x, weight: causal_depthwise(x, weight), x=g.randn(3, 6, 40), weight=g.randn(40, 3))
    g.case("conv1d_k1", causal_depthwise, x=g.randn(1, 4, 3), weight=g.randn(3, 1), bias=g.randn(3))

    p = 4
    g.case("unfold_p4", lambda x: F.unfold(x, kernel_size=p, stride=p).transpose(1, 2), x=g.randn(2, 3, 8, 12))
    g.case("patch_embed_p4",
           lambda x, weight, bias: F.conv2d(x, weight, bias, stride=p).flatten(2).transpose(1, 2),
           x=g.randn(2, 3, 8, 12), weight=g.randn(5, 3, p, p), bias=g.randn(5))

    # After the older cases, so their random inputs stay what they were.
    g.case("conv2d_dw_k3", depthwise_2d, x=g.randn(2, 5, 6, 7), weight=g.randn(7, 3, 3), bias=g.randn(7))
    g.case("conv2d_dw_k5_nobias", lambda x, weight: depthwise_2d(x, weight), x=g.randn(1, 4, 9, 35),
           weight=g.randn(35, 5, 5))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
