"""tests/golden/gen_matmul.py — PyTorch goldens for sieve's matmul (tests/ops/test_matmul.cpp).

Cases: a plain 2-D product, a batched one, batch dims that broadcast on both sides, a 2-D b shared
by a batch (a Linear), a 2-D a against a batched b, and a float64 case. Gradients of broadcast
inputs are summed over the batch dims they were broadcast along, as PyTorch does.
Run: /usr/bin/python3 tests/golden/gen_matmul.py
"""
import os

import torch

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("matmul")
    mm = lambda a, b: torch.matmul(a, b)
    g.case("mm_2d", mm, a=g.randn(5, 7), b=g.randn(7, 3))
    g.case("batched", mm, a=g.randn(2, 3, 4, 5), b=g.randn(2, 3, 5, 6))
    g.case("broadcast_both", mm, a=g.randn(2, 1, 4, 5), b=g.randn(3, 5, 6))
    g.case("shared_b", mm, a=g.randn(3, 4, 5), b=g.randn(5, 6))
    g.case("shared_a", mm, a=g.randn(4, 5), b=g.randn(3, 5, 6))
    g.case("mm_f64", mm, a=g.randn(6, 4, dtype=torch.float64), b=g.randn(4, 5, dtype=torch.float64))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
