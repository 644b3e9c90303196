"""Golden cases for ops/reduce (see golden_lib.py for the file layout)."""
import os

import torch

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("reduce")
    x = g.randn(3, 4, 5)
    g.case("sum_all", lambda x: x.sum(), x=x)
    g.case("sum_dim1", lambda x: x.sum(1), x=x)
    g.case("sum_dims_keepdim", lambda x: x.sum((0, 2), keepdim=True), x=x)
    g.case("mean_last", lambda x: x.mean(-1), x=x)
    g.case("mean_dims", lambda x: x.mean((0, 1)), x=x)
    g.case("amax_dim1", lambda x: torch.amax(x, 1), x=x)
    g.case("amin_dims_keepdim", lambda x: torch.amin(x, (0, 2), keepdim=True), x=x)
    # Small integers make ties, so these check that the gradient is split evenly among them.
    ties = torch.randint(0, 3, (4, 6), generator=g.generator).to(torch.float32)
    g.case("amax_ties", lambda x: torch.amax(x, 1), x=ties)
    g.case("amin_ties_all", lambda x: torch.amin(x), x=ties)
    g.case("argmax_dim1", lambda x: torch.argmax(x, 1), x=ties)
    g.case("argmax_dim0_keepdim", lambda x: torch.argmax(x, 0, keepdim=True), x=x)
    g.case("var_dim1", lambda x: x.var(1), x=x)
    g.case("var_dims_population", lambda x: x.var((0, 2), unbiased=False, keepdim=True), x=x)
    g.case("var_all", lambda x: x.var(), x=x)
    g.case("cumsum_dim1", lambda x: torch.cumsum(x, 1), x=x)
    g.case("cumsum_last", lambda x: torch.cumsum(x, -1), x=x)
    g.case("sum_to_size", lambda x: x.sum_to_size(4, 1), x=x)
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
