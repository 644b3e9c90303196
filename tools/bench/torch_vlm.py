"""tools/bench/torch_vlm.py — models/vlm.h's small LLaVA in plain PyTorch, for `sieve bench vlm`.

The same architecture and shapes from torch.nn primitives: the CLIP image tower (bench_torch.py's
Vit: patch conv, CLS and positions, blocks) read after its penultimate block with CLS dropped and
2×2 pixel-shuffled; the MLP projector (Linear, exact GELU, Linear); the byte-level causal
Transformer language model (embedding of 259 tokens, sinusoidal positions, bench_torch.py's
VitBlock with causal masking and LayerNorm eps 1e-5, final LayerNorm and Linear to 259 logits).
Steps: "prefill1" reads one 2×2-grid scene (4 cells) and a question of --question-bytes bytes plus
start and newline; "prefill_batch" reads --batch such scenes at once. Eval mode, no gradients.
Run through bench_torch.py --mode vlm (its flags). What it is not: LLaVA's code; a test of sieve's model.
"""
import math

import torch

from bench_torch import Vit, VitBlock

F = torch.nn.functional


def sinusoids(length, dim):
    """models/transformer.h's positions: PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(...)."""
    t = torch.arange(length, dtype=torch.float64)[:, None]
    inv = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(t * inv)
    table[:, 1::2] = torch.cos(t * inv)[:, :dim // 2]
    return table.float()


class SmallLlava(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.vision_tower = Vit(a)
        self.side = a.image_size // a.patch
        self.mm_projector = torch.nn.Sequential(torch.nn.Linear(4 * a.dim, a.lm_dim), torch.nn.GELU(),
                                                torch.nn.Linear(a.lm_dim, a.lm_dim))
        self.embed = torch.nn.Embedding(259, a.lm_dim)
        self.blocks = torch.nn.ModuleList(VitBlock(a.lm_dim, a.lm_heads, a.lm_mlp_hidden, 1e-5, True)
                                          for _ in range(a.lm_depth))
        self.norm = torch.nn.LayerNorm(a.lm_dim, eps=1e-5)
        self.head = torch.nn.Linear(a.lm_dim, 259)
        self.dim = a.lm_dim

    def vision(self, cells):
        tower = self.vision_tower
        x = tower.patch_embed(cells).flatten(2).transpose(1, 2)
        x = torch.cat([tower.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + tower.pos_embed
        for block in tower.blocks[:-1]:  # LLaVA's hidden_states[-2]
            x = block(x)
        n, d, h = x.shape[0], x.shape[2], self.side // 2
        patches = x[:, 1:].reshape(n, h, 2, h, 2, d).permute(0, 1, 3, 2, 4, 5).reshape(n, h * h, 4 * d)
        return patches

    def prefill(self, cells, scenes, ids):
        visual = self.mm_projector(self.vision(cells)).reshape(scenes, -1, self.dim)
        x = torch.cat([visual, self.embed(ids.expand(scenes, -1))], dim=1)
        x = x + sinusoids(x.shape[1], self.dim)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def vlm_steps(a):
    model = SmallLlava(a).eval()
    one = torch.randn(4, a.in_channels, a.image_size, a.image_size)
    many = torch.randn(4 * a.batch, a.in_channels, a.image_size, a.image_size)
    ids = torch.randint(0, 256, (1, a.question_bytes + 2))

    def prefill(cells, scenes):
        def step():
            with torch.no_grad():
                model.prefill(cells, scenes, ids)
        return step

    params = sum(p.numel() for p in model.parameters())
    return params, {"prefill1": prefill(one, 1), "prefill_batch": prefill(many, a.batch)}


if __name__ == "__main__":
    raise SystemExit("run through bench_torch.py --mode vlm")
