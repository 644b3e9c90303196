"""tools/bench/torch_vmamba.py — models/vmamba.h's VMamba in plain PyTorch, for `sieve bench vmamba`.

The same architecture, shapes and initialisation from torch.nn primitives: patch embedding (a
strided Conv2d) + LayerNorm; stages of VSS blocks — LayerNorm, SS2D (in_proj, depthwise 3×3 Conv2d,
SiLU, the K routes read with reshapes, transposes and flips, every route's x_proj and Δ projection as
one einsum, ONE chunked selective scan over K·C channels with grouped B and C (bench_torch.py's
selective_scan_chunked), the routes turned back and summed, out_norm, SiLU(z) gate, out_proj) and an
optional MLP — with 2×2 patch merging between stages; LayerNorm, mean, Linear head.
Run through bench_torch.py --mode vmamba (its flags); "train" times the trainer's step as vit's.
What it is not: MzeroMiko/VMamba's code (which needs its CUDA extension); a test of sieve's model.
"""
import math

import torch

from bench_torch import selective_scan_chunked

F = torch.nn.functional


class SS2D(torch.nn.Module):
    def __init__(self, dim, inner, n, r, routes, chunk):
        super().__init__()
        self.c, self.n, self.r, self.k, self.chunk = inner, n, r, routes, chunk
        self.in_proj = torch.nn.Linear(dim, 2 * inner, bias=False)
        self.conv2d = torch.nn.Conv2d(inner, inner, 3, padding=1, groups=inner)
        bound = inner ** -0.5
        self.x_proj_weight = torch.nn.Parameter(torch.empty(routes, r + 2 * n, inner).uniform_(-bound, bound))
        self.dt_projs_weight = torch.nn.Parameter(torch.empty(routes, inner, r).uniform_(-r ** -0.5, r ** -0.5))
        dt = torch.exp(torch.empty(routes, inner).uniform_(math.log(1e-3), math.log(1e-1))).clamp(min=1e-4)
        self.dt_projs_bias = torch.nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_logs = torch.nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(routes * inner, 1))
        self.Ds = torch.nn.Parameter(torch.ones(routes * inner))
        self.out_norm = torch.nn.LayerNorm(inner)
        self.out_proj = torch.nn.Linear(inner, dim, bias=False)

    def forward(self, x):  # (B, H, W, D)
        b, h, w, _ = x.shape
        c, k, length = self.c, self.k, h * w
        xp, z = self.in_proj(x).chunk(2, dim=-1)
        xp = F.silu(self.conv2d(xp.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)  # (B, H, W, C)
        rows, cols = xp.reshape(b, length, c), xp.transpose(1, 2).reshape(b, length, c)
        xs = torch.stack([rows, cols, rows.flip(1), cols.flip(1)][:k], 1)  # (B, K, L, C)
        dts, bs, cs = torch.einsum("bklc,kdc->bkld", xs, self.x_proj_weight).split([self.r, self.n, self.n], -1)
        delta = F.softplus(torch.einsum("bklr,kcr->bklc", dts, self.dt_projs_weight) + self.dt_projs_bias[:, None])
        to_channels = lambda t: t.permute(0, 2, 1, 3).reshape(b, length, k * c)  # noqa: E731
        y = selective_scan_chunked(to_channels(xs), to_channels(delta), -torch.exp(self.A_logs),
                                   bs.permute(0, 2, 1, 3), cs.permute(0, 2, 1, 3), self.Ds, None, self.chunk)
        y = y.view(b, length, k, c)
        from_cols = lambda t: t.reshape(b, w, h, c).transpose(1, 2).reshape(b, length, c)  # noqa: E731
        out = y[:, :, 0]
        if k >= 2:
            out = out + from_cols(y[:, :, 1])
        if k == 4:
            out = out + y[:, :, 2].flip(1) + from_cols(y[:, :, 3].flip(1))
        return self.out_proj(self.out_norm(out.view(b, h, w, c)) * F.silu(z))


class VSSBlock(torch.nn.Module):
    def __init__(self, dim, a):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.op = SS2D(dim, a.ssm_ratio * dim, a.d_state, a.dt_rank or -(-dim // 16), a.routes, a.chunk)
        self.mlp = None
        if a.mlp_ratio > 0:
            self.norm2 = torch.nn.LayerNorm(dim)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, a.mlp_ratio * dim), torch.nn.GELU(),
                                           torch.nn.Linear(a.mlp_ratio * dim, dim))

    def forward(self, x):
        x = x + self.op(self.norm(x))
        return x + self.mlp(self.norm2(x)) if self.mlp is not None else x


class PatchMerging2D(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = torch.nn.LayerNorm(4 * dim)
        self.reduction = torch.nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        if x.shape[1] % 2 or x.shape[2] % 2:
            x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        return self.reduction(self.norm(torch.cat(parts, -1)))


class VMamba(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.patch_embed = torch.nn.Conv2d(a.in_channels, a.dim, a.patch, stride=a.patch)
        self.patch_norm = torch.nn.LayerNorm(a.dim)
        depths = [int(v) for v in a.depths.split(",")]
        stages, width = [], a.dim
        for s, depth in enumerate(depths):
            blocks = [VSSBlock(width, a) for _ in range(depth)]
            if s + 1 < len(depths):
                blocks.append(PatchMerging2D(width))
                width *= 2
            stages.append(torch.nn.Sequential(*blocks))
        self.layers = torch.nn.Sequential(*stages)
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, a.classes)

    def forward(self, images):
        x = self.patch_norm(self.patch_embed(images).permute(0, 2, 3, 1))
        return self.head(self.norm(self.layers(x)).mean((1, 2)))


def vmamba_steps(a):
    """The parameter count and the timed body "train": forward, cross-entropy, backward,
    clip_grad_norm_, AdamW (no decay on biases, norms, A_logs, Ds, dt_projs_bias), zero_grad."""
    torch.manual_seed(0)
    model = VMamba(a)
    no_decay = [p for n, p in model.named_parameters()
                if n.endswith("bias") or p.dim() < 2 or n.endswith(("A_logs", "Ds", "dt_projs_bias"))]
    decay = [p for n, p in model.named_parameters() if all(p is not q for q in no_decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    images = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size)
    labels = torch.randint(0, a.classes, (a.batch,))

    def train_step():
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
    return sum(p.numel() for p in model.parameters()), {"train": train_step}
