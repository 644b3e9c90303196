"""Golden cases for ops/softmax (see golden_lib.py for the file layout)."""
import os

import torch

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("softmax")
    x = g.randn(4, 3, 10) * 3
    g.case("softmax_last", lambda x: torch.softmax(x, -1), x=x)
    g.case("softmax_dim1", lambda x: torch.softmax(x, 1), x=x)
    g.case("softmax_dim0", lambda x: torch.softmax(x, 0), x=x)
    g.case("log_softmax_last", lambda x: torch.log_softmax(x, -1), x=x)
    g.case("log_softmax_dim1", lambda x: torch.log_softmax(x, 1), x=x)
    wide = g.randn(5, 300) * 4  # longer rows than one vector, with a tail
    g.case("softmax_wide", lambda x: torch.softmax(x, -1), x=wide)
    g.case("log_softmax_wide", lambda x: torch.log_softmax(x, -1), x=wide)
    g.case("softmax_f64", lambda x: torch.softmax(x, -1), x=g.randn(6, 7, dtype=torch.float64))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
