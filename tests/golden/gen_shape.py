"""tests/golden/gen_shape.py — PyTorch goldens for cat and stack (tests/ops/test_shape.cpp).
Run: /usr/bin/python3 tests/golden/gen_shape.py
"""
import os

import torch

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("shape")
    g.case("cat_dim0", lambda a, b, c: torch.cat([a, b, c], 0), a=g.randn(2, 3), b=g.randn(1, 3), c=g.randn(4, 3))
    g.case("cat_dim1", lambda a, b: torch.cat([a, b], 1), a=g.randn(2, 2, 4), b=g.randn(2, 3, 4))
    g.case("stack_dim1", lambda a, b, c: torch.stack([a, b, c], 1), a=g.randn(2, 4), b=g.randn(2, 4), c=g.randn(2, 4))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
