"""Golden cases for ops/elementwise (see golden_lib.py for the file layout)."""
import os

import torch
import torch.nn.functional as F

from golden_lib import GoldenFile


def generate(directory):
    g = GoldenFile("elementwise")
    a, b = g.randn(3, 1, 4), g.randn(2, 4)
    g.case("add_broadcast", lambda a, b: a + b, a=a, b=b)
    g.case("sub_broadcast", lambda a, b: a - b, a=a, b=b)
    g.case("mul_broadcast", lambda a, b: a * b, a=a, b=b)
    g.case("div_broadcast", lambda a, b: a / b, a=a, b=b.abs() + 0.5)
    x = g.randn(5, 7) * 2
    g.case("neg", lambda x: -x, x=x)
    g.case("exp", lambda x: torch.exp(x), x=x)
    g.case("tanh", lambda x: torch.tanh(x), x=x)
    g.case("sigmoid", lambda x: torch.sigmoid(x), x=x)
    g.case("relu", lambda x: torch.relu(x), x=x)
    g.case("abs", lambda x: torch.abs(x), x=x)
    g.case("gelu", lambda x: F.gelu(x), x=x)
    g.case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), x=x)
    g.case("silu", lambda x: F.silu(x), x=x)
    g.case("softplus", lambda x: F.softplus(x), x=x)
    g.case("pow3", lambda x: torch.pow(x, 3.0), x=x)
    positive = x.abs() + 0.1
    g.case("log", lambda x: torch.log(x), x=positive)
    g.case("sqrt", lambda x: torch.sqrt(x), x=positive)
    g.case("rsqrt", lambda x: torch.rsqrt(x), x=positive)
    cond = (g.randn(3, 4) > 0).to(torch.int64)
    g.case("where", lambda cond, a, b: torch.where(cond != 0, a, b), cond=cond, a=g.randn(3, 4), b=g.randn(4))
    mask = (g.randn(4) > 0).to(torch.float32)
    g.case("masked_fill", lambda x, mask: x.masked_fill(mask != 0, -2.5), x=g.randn(3, 4), mask=mask)
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
