"""tests/golden/gen_index.py — PyTorch goldens for sieve's index family (tests/ops/test_index.cpp).

Cases: embedding (with repeated ids, so the backward must accumulate), index_select along a
middle dim, gather, scatter_add (repeated targets), topk (largest and smallest; the indices are
stored as "<case>.indices") and argsort (distinct values, both directions).
Run: /usr/bin/python3 tests/golden/gen_index.py
"""
import os

import torch

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("index")
    ids = torch.tensor([[1, 4, 1], [0, 9, 4]], dtype=torch.int64)
    g.case("embedding", lambda weight, ids: torch.nn.functional.embedding(ids, weight), weight=g.randn(10, 6), ids=ids)

    idx = torch.tensor([3, 0, 3, 2], dtype=torch.int64)
    g.case("index_select_dim1", lambda x, index: torch.index_select(x, 1, index), x=g.randn(2, 5, 3), index=idx)

    gidx = g.randint(0, 5, 3, 4)
    g.case("gather_dim1", lambda x, index: torch.gather(x, 1, index), x=g.randn(3, 5), index=gidx)
    gidx0 = g.randint(0, 4, 2, 3)
    g.case("gather_dim0", lambda x, index: torch.gather(x, 0, index), x=g.randn(4, 3), index=gidx0)

    sidx = g.randint(0, 3, 4, 5)
    g.case("scatter_add_dim0", lambda x, index, src: torch.scatter_add(x, 0, index, src),
           x=g.randn(3, 5), index=sidx, src=g.randn(4, 5))

    for name, largest in (("topk_largest", True), ("topk_smallest", False)):
        x = g.randn(3, 8)
        g.case(name, lambda x: torch.topk(x, 3, dim=1, largest=largest).values, x=x)
        g.tensors[f"{name}.indices"] = torch.topk(x, 3, dim=1, largest=largest).indices

    x = g.randn(4, 6)
    g.case("argsort_dim0", lambda x: torch.argsort(x, dim=0), x=x)
    g.case("argsort_desc", lambda x: torch.argsort(x, dim=1, descending=True), x=x)
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
