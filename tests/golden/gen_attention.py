"""Golden cases for ops/attention and the nn attention layers (see golden_lib.py for the layout).

PyTorch 1.13 has no F.scaled_dot_product_attention, so attention is written with explicit ops:
softmax(q·kᵀ·scale, masked to −∞)·v. The causal mask is bottom-right aligned (query i sees keys
j ≤ i + Lk − Lq), as sieve's. No case has a query row with every key masked: PyTorch gives NaN
there, sieve a zero row (tested in C++ without PyTorch).

The layer cases (patch_embed, block) store the module's parameters under "<case>.param.<name>"
(PyTorch state-dict names) and their gradients under "<case>.grad.<name>"; the C++ test loads
them with load_state_dict. The modules mirror timm's PatchEmbed and ViT Block (pre-LN,
LayerNorm eps 1e-6, fused qkv, exact GELU).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_lib import GoldenFile


def attention(q, k, v, mask=None, causal=False, scale=None):
    lq, lk, d = q.shape[-2], k.shape[-2], q.shape[-1]
    s = (q @ k.transpose(-2, -1)) * (d ** -0.5 if scale is None else scale)
    if causal:
        hidden = ~torch.ones(lq, lk, dtype=torch.bool).tril(lk - lq)
        s = s.masked_fill(hidden, float("-inf"))
    if mask is not None:
        s = s.masked_fill(mask.bool()[:, None, None, :], float("-inf"))
    return s.softmax(-1) @ v


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        return self.proj(attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, channels, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def module_case(g, name, module, x):
    """Stores x, the parameters, the output, an upstream gradient and every gradient."""
    with torch.no_grad():  # non-trivial norm weights and biases, so their gradients matter
        for p in module.parameters():
            p.add_(0.1 * g.randn(*p.shape))
    x = x.clone().requires_grad_(True)
    out = module(x)
    gout = g.randn(*out.shape)
    out.backward(gout)
    g.tensors[f"{name}.in.x"] = x.detach()
    g.tensors[f"{name}.out"] = out.detach()
    g.tensors[f"{name}.gout"] = gout
    g.tensors[f"{name}.grad.x"] = x.grad
    for key, p in module.named_parameters():
        g.tensors[f"{name}.param.{key}"] = p.detach().clone()
        g.tensors[f"{name}.grad.{key}"] = p.grad


def generate(directory):
    g = GoldenFile("attention")
    q, k, v = g.randn(2, 3, 5, 4), g.randn(2, 3, 7, 4), g.randn(2, 3, 7, 4)
    g.case("plain", lambda q, k, v: attention(q, k, v), q=q, k=k, v=v)
    g.case("scale", lambda q, k, v: attention(q, k, v, scale=0.3), q=q, k=k, v=v)
    mask = torch.tensor([[0, 1, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0, 1]])
    g.case("padding", lambda q, k, v, mask: attention(q, k, v, mask=mask), q=q, k=k, v=v, mask=mask)
    g.case("causal_kv", lambda q, k, v: attention(q, k, v, causal=True), q=q, k=k, v=v)  # Lq 5 < Lk 7
    qs, ks, vs = g.randn(2, 2, 6, 8), g.randn(2, 2, 6, 8), g.randn(2, 2, 6, 8)
    g.case("causal", lambda q, k, v: attention(q, k, v, causal=True), q=qs, k=ks, v=vs)
    pad = torch.tensor([[0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]])  # key 0 stays: row 0 sees it
    g.case("causal_padding", lambda q, k, v, mask: attention(q, k, v, mask=mask, causal=True),
           q=qs, k=ks, v=vs, mask=pad)
    d = torch.float64
    g.case("f64", lambda q, k, v: attention(q, k, v),
           q=g.randn(1, 2, 3, 5, dtype=d), k=g.randn(1, 2, 4, 5, dtype=d), v=g.randn(1, 2, 4, 5, dtype=d))

    torch.manual_seed(0)
    module_case(g, "block", Block(8, 2, 16), g.randn(2, 5, 8))
    module_case(g, "patch_embed", PatchEmbed(3, 2, 8), g.randn(2, 3, 4, 6))
    g.save(directory)


if __name__ == "__main__":
    generate(os.path.dirname(os.path.abspath(__file__)))
