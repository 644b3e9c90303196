"""Golden cases for ops/scan (see golden_lib.py for the file layout).

PyTorch has no selective scan, so it is written here as the plain sequential loop of its
definition (ops/scan.h), one time step at a time, and PyTorch's autograd gives the gradients:
    h_t = exp(delta_t * A) * h_{t-1} + delta_t * x_t * B_t
    y_t = <C_t, h_t> + D * x_t;   y_t *= silu(z_t) when z is given
"""
import os

import torch
import torch.nn.functional as F

from golden_lib import GoldenFile


def selective_scan(x, delta, A, Bm, Cm, D=None, z=None):
    # x, delta, z: (B, L, C); A: (C, N); Bm, Cm: (B, L, N); D: (C)
    batch, length, channels = x.shape
    h = torch.zeros(batch, channels, A.shape[1], dtype=x.dtype)
    ys = []
    for t in range(length):
        dt = delta[:, t, :, None]                                    # (B, C, 1)
        h = torch.exp(dt * A) * h + dt * x[:, t, :, None] * Bm[:, t, None, :]
        y = (h * Cm[:, t, None, :]).sum(-1)                          # (B, C)
        if D is not None:
            y = y + D * x[:, t]
        ys.append(y)
    y = torch.stack(ys, 1)
    return y * F.silu(z) if z is not None else y


def inputs(g, batch, length, channels, n, dtype=torch.float32, skip=True, gate=True):
    d = dict(x=g.randn(batch, length, channels, dtype=dtype),
             delta=F.softplus(g.randn(batch, length, channels, dtype=dtype) - 1),
             A=-torch.exp(0.5 * g.randn(channels, n, dtype=dtype)),
             Bm=g.randn(batch, length, n, dtype=dtype),
             Cm=g.randn(batch, length, n, dtype=dtype))
    if skip:
        d["D"] = g.randn(channels, dtype=dtype)
    if gate:
        d["z"] = g.randn(batch, length, channels, dtype=dtype)
    return d


def generate(directory):
    g = GoldenFile("scan")
    g.case("gated", selective_scan, **inputs(g, 2, 5, 3, 4))
    g.case("plain", selective_scan, **inputs(g, 2, 7, 18, 2, skip=False, gate=False))
    g.case("long", selective_scan, **inputs(g, 2, 150, 17, 16))  # crosses chunks of 64; 16 + 1 lanes
    g.case("f64", selective_scan, **inputs(g, 1, 70, 9, 3, dtype=torch.float64))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
