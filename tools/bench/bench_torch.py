"""tools/bench/bench_torch.py — PyTorch reference timings for `sieve bench ops`, `vit`, `clip`, `mamba`
and `vmamba` (whose model lives in torch_vmamba.py).

Run by those commands (with /usr/bin/python3, where Debian's python3-torch lives); prints one
JSON object on stdout:
    --mode ops (default):  {"torch": "1.13.1", "threads": 2, "seconds": {"softmax_6400x64": 0.00012, ...}}
    --mode vit:            {"torch": ..., "threads": 2, "params": 136970,
                            "seconds": {"vit_train_step": 0.26, "vit_infer": 0.17}}
    --mode mamba:          {"torch": ..., "params": 132554, "chunk": 16,
                            "seconds": {"mamba_train": ..., "mamba_train_sequential": ..., "mamba_scan_256": ...}}
Each figure is the median wall time (time.perf_counter) after warm-up, on the same shapes, dtype
(float32) and thread count as sieve's side. --mode vit --serve instead prints that header (without
"seconds") and then times one step per line read from stdin: `sieve bench vit` alternates them
with its own steps. ops: forward + backward of one op. vit: the ViT of
models/vit.h rebuilt from torch.nn primitives (timm's layout; explicit attention, since 1.13 has
no scaled_dot_product_attention): a training step (forward, cross-entropy, backward,
clip_grad_norm_, AdamW with no decay on biases / norms / cls_token / pos_embed, zero_grad as
set_to_none, loss.item()), and an eval-mode forward under no_grad; with --device cuda the same on
the GPU (TF32 off; attention through scaled_dot_product_attention where torch has it; each step
ends synchronised). clip (--serve as vit): models/clip.h's dual encoder (the vit model at the image
flags with --classes as the embedding size, a causal byte-level text tower), a training step with
the contrastive loss over same-class positives, the trainer's zero-shot logits under no_grad and the
logit-scale clamp; and zero-shot inference. mamba (--serve as vit, commands
"train", "train_sequential", "scan_L"): models/mamba.h's classifier rebuilt from torch.nn primitives
(MambaMixer below, hand-written RMSNorm), trained as vit's step, with the chunked scan
(selective_scan_chunked) or a sequential one; and the chunked scan alone, forward + backward.
What it is not: a general benchmark suite; the cases mirror tools/bench/ops.cpp and
tools/bench/vit.cpp and must keep the same names.
Extend: an ops case goes in CASES with the matching row in tools/bench/ops.cpp; a new model is a
mode of its own, with its figures under keys its bench file reads.
"""
import argparse
import json
import math
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("bench_torch: PyTorch is not importable by " + sys.executable, file=sys.stderr)
    sys.exit(3)


def softmax_case(rows, cols):
    x = torch.randn(rows, cols, requires_grad=True)
    g = torch.randn(rows, cols)

    def step():
        x.grad = None
        torch.softmax(x, dim=-1).backward(g)
    return step


def layer_norm_case(rows, cols):
    x = torch.randn(rows, cols, requires_grad=True)
    w = torch.randn(cols, requires_grad=True)
    b = torch.randn(cols, requires_grad=True)
    g = torch.randn(rows, cols)

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.layer_norm(x, (cols,), w, b, eps=1e-5).backward(g)
    return step


def attention_case(b, h, l, d, backward):
    """softmax(q·kᵀ/√d)·v written out, as models of PyTorch 1.13 do (it has no fused attention)."""
    q, k, v = (torch.randn(b, h, l, d, requires_grad=backward) for _ in range(3))
    g = torch.randn(b, h, l, d)
    scale = 1.0 / math.sqrt(d)

    def step():
        if backward:
            q.grad = k.grad = v.grad = None
        with torch.set_grad_enabled(backward):
            out = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v
            if backward:
                out.backward(g)
    return step


CASES = {
    "attention_fwd_128x4x50x16": lambda: attention_case(128, 4, 50, 16, False),
    "attention_fwd_bwd_128x4x50x16": lambda: attention_case(128, 4, 50, 16, True),
    "attention_fwd_64x4x197x16": lambda: attention_case(64, 4, 197, 16, False),
    "attention_fwd_bwd_64x4x197x16": lambda: attention_case(64, 4, 197, 16, True),
    "softmax_6400x64": lambda: softmax_case(6400, 64),
    "softmax_4096x1024": lambda: softmax_case(4096, 1024),
    "layer_norm_6400x64": lambda: layer_norm_case(6400, 64),
    "layer_norm_4096x1024": lambda: layer_norm_case(4096, 1024),
}


class VitBlock(torch.nn.Module):
    """Pre-LN block as nn/attention.h's TransformerBlock: x + attn(norm1(x)), then x + mlp(norm2(x)).
    causal: query i sees keys j ≤ i (the CLIP text tower)."""

    def __init__(self, dim, heads, hidden, eps=1e-6, causal=False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.norm1 = torch.nn.LayerNorm(dim, eps=eps)
        self.qkv = torch.nn.Linear(dim, 3 * dim, bias=True)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim, eps=eps)
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        if x.is_cuda and hasattr(torch.nn.functional, "scaled_dot_product_attention"):
            # On the GPU, what a PyTorch user would write: the fused kernel (torch ≥ 2.0).
            attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            scores = (q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5
            if self.causal:
                scores = scores.masked_fill(torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            attended = torch.softmax(scores, dim=-1) @ v
        x = x + self.proj(attended.transpose(1, 2).reshape(B, L, D))
        # approximate="none": the exact erf GELU, as sieve's MLP (GeluApprox::none)
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x)), approximate="none"))


class Vit(torch.nn.Module):
    """models/vit.h: patch conv → CLS + positions → blocks → norm and head on CLS only."""

    def __init__(self, a):
        super().__init__()
        patches = (a.image_size // a.patch) ** 2
        self.patch_embed = torch.nn.Conv2d(a.in_channels, a.dim, kernel_size=a.patch, stride=a.patch)
        self.cls_token = torch.nn.Parameter(torch.randn(1, 1, a.dim) * 0.02)
        self.pos_embed = torch.nn.Parameter(torch.randn(1, 1 + patches, a.dim) * 0.02)
        self.blocks = torch.nn.ModuleList(VitBlock(a.dim, a.heads, a.mlp_hidden) for _ in range(a.depth))
        self.norm = torch.nn.LayerNorm(a.dim, eps=1e-6)
        self.head = torch.nn.Linear(a.dim, a.classes)

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


def vit_steps(a):
    """The model's parameter count and its two timed bodies: {"train": step, "infer": forward}."""
    device = torch.device(a.device)
    model = Vit(a).to(device)
    # sieve's no_weight_decay_for_biases_and_norms: biases and every parameter under 2 dims
    # (norm weights); cls_token and pos_embed are registered undecayed by models/vit.cpp.
    no_decay = [p for n, p in model.named_parameters()
                if n.endswith("bias") or p.dim() < 2 or n in ("cls_token", "pos_embed")]
    decay = [p for n, p in model.named_parameters() if all(p is not q for q in no_decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    images = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size).to(device)
    labels = torch.randint(0, a.classes, (a.batch,)).to(device)
    infer_images = torch.randn(a.infer_batch, a.in_channels, a.image_size, a.image_size).to(device)

    def train_step():
        model.train()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # sieve's zero_grad drops the gradients
        loss.item()

    def infer():
        model.eval()
        with torch.no_grad():
            model(infer_images)
        if device.type == "cuda":
            torch.cuda.synchronize()  # the GPU's work, not the queueing (train_step's item() waits too)

    return sum(p.numel() for p in model.parameters()), {"train": train_step, "infer": infer}


# ---- --mode clip: models/clip.h's dual encoder, loss and zero-shot logits ----

class ByteText(torch.nn.Module):
    """models/clip.h's ByteTextEncoder: 259 byte tokens + learned positions → causal blocks → norm → the
    end token's features → proj (no bias)."""

    def __init__(self, a):
        super().__init__()
        self.token_embed = torch.nn.Embedding(259, a.text_dim)
        self.pos_embed = torch.nn.Parameter(torch.randn(a.context, a.text_dim) * 0.01)
        self.blocks = torch.nn.ModuleList(VitBlock(a.text_dim, a.text_heads, a.text_mlp_hidden, 1e-5, True)
                                          for _ in range(a.text_depth))
        self.norm = torch.nn.LayerNorm(a.text_dim, eps=1e-5)
        self.proj = torch.nn.Linear(a.text_dim, a.classes, bias=False)

    def forward(self, tokens, ends):
        x = self.token_embed(tokens) + self.pos_embed[:tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.proj(self.norm(x[torch.arange(x.shape[0], device=x.device), ends]))


def clip_steps(a):
    """The training step of `sieve train clip` (--classes is the embedding size; --zero-shot-classes
    the classes, 4 held-out captions each): captions and class texts are random byte rows of the
    same shapes as sieve's; loss with same-class positives; the logit scale clamped after the step;
    the trainer's zero-shot logits without gradients."""
    device = torch.device(a.device)
    model = torch.nn.ModuleDict({"visual": Vit(a), "text": ByteText(a)}).to(device)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    no_decay = [p for n, p in model.named_parameters()
                if n.endswith("bias") or p.dim() < 2 or n.endswith(("cls_token", "pos_embed"))] + [logit_scale]
    decay = [p for n, p in model.named_parameters() if all(p is not q for q in no_decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    images = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size).to(device)
    labels = torch.randint(0, a.zero_shot_classes, (a.batch,)).to(device)
    captions = torch.randint(0, 256, (a.batch, a.context)).to(device)
    ends = torch.randint(a.context // 3, a.context - 1, (a.batch,)).to(device)
    class_texts = torch.randint(0, 256, (4 * a.zero_shot_classes, a.context)).to(device)
    class_ends = torch.randint(a.context // 3, a.context - 1, (4 * a.zero_shot_classes,)).to(device)
    infer_images = torch.randn(a.infer_batch, a.in_channels, a.image_size, a.image_size).to(device)
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(1, keepdim=True)

    def classes():
        each = torch.nn.functional.normalize(model["text"](class_texts, class_ends), dim=-1)
        return torch.nn.functional.normalize(each.view(a.zero_shot_classes, 4, -1).mean(1), dim=-1)

    def train_step():
        model.train()
        image = torch.nn.functional.normalize(model["visual"](images), dim=-1)
        text = torch.nn.functional.normalize(model["text"](captions, ends), dim=-1)
        logits = logit_scale.exp() * image @ text.t()
        loss = -0.5 * ((targets * logits.log_softmax(1)).sum() + (targets * logits.t().log_softmax(1)).sum()) / a.batch
        with torch.no_grad():
            (100 * image @ classes().t()).argmax(-1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + [logit_scale], a.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        loss.item()

    def infer():
        model.eval()
        with torch.no_grad():
            image = torch.nn.functional.normalize(model["visual"](infer_images), dim=-1)
            (100 * image @ classes().t()).argmax(-1)
        if device.type == "cuda":
            torch.cuda.synchronize()

    params = sum(p.numel() for p in model.parameters()) + 1
    return params, {"train": train_step, "infer": infer}


# ---- --mode mamba: the Mamba classifier of models/mamba.h and its selective scan ----

class RMSNorm(torch.nn.Module):
    """x · rsqrt(mean(x²) + eps) · weight, written out: torch 1.13 has no torch.nn.RMSNorm."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def scan_pairs(a, b, dim):
    """Inclusive scan of the pairs (a_t, b_t) along `dim` under (a2, b2) ∘ (a1, b1) = (a2·a1, a2·b1 + b2),
    by Hillis–Steele doubling: log2(size) rounds of whole-tensor products, no Python loop over t.
    Returns (Π a up to t, the state at t from a zero state). Only products of decays in (0, 1] are
    formed, so nothing can overflow (unlike exp(−cumsum) forms)."""
    size, step = a.shape[dim], 1
    while step < size:
        head_a, head_b = a.narrow(dim, 0, step), b.narrow(dim, 0, step)
        a_hi, a_lo = a.narrow(dim, step, size - step), a.narrow(dim, 0, size - step)
        b_hi, b_lo = b.narrow(dim, step, size - step), b.narrow(dim, 0, size - step)
        b = torch.cat([head_b, a_hi * b_lo + b_hi], dim)
        a = torch.cat([head_a, a_hi * a_lo], dim)
        step *= 2
    return a, b


def selective_scan_chunked(x, delta, A, Bm, Cm, D, z, chunk):
    """ops/scan.h's selective scan in whole-tensor PyTorch ops: a chunked scan (no Python loop over t).
    x, delta, z (B, L, C) (z may be None: no gate); A (C, N); Bm, Cm (B, L, N), or (B, L, G, N) for
    G groups of channels (ops/scan.h); D (C) → y (B, L, C).
    h_t = exp(Δ_t·A)·h_{t−1} + Δ_t·x_t·B_t, materialised as (B, L, C, N) tensors:
      1. The sequence is cut into chunks of T steps. Within every chunk at once, with the log-decays
         a_t = Δ_t·A ≤ 0 and S_t = their cumulative sum from the chunk's start (torch.cumsum), the
         state from a zero state at the chunk's start is
             local_t = exp(S_t) · Σ_{s≤t} exp(−S_s)·Δ_s·x_s·B_s       (a second cumsum).
         exp(−S_s) grows with the decay accumulated inside one chunk, so this is exact in float32
         while that stays under e^80 (T·max Δ·|A| < 80: at Mamba's init Δ ≤ 0.1, |A| ≤ 16, T = 16
         gives ≤ 26). Where a chunk exceeds it, the call falls back to a log-depth doubling scan of
         products of decays (scan_pairs: slower, never overflows), so the result is never inf/nan.
      2. The chunks' (decay, end state) pairs, (B, L/T, C, N), are scanned across chunks (scan_pairs)
         into the true state at each chunk's end.
      3. h_t = local_t + exp(S_t)·(previous chunk's end state); y_t = ⟨C_t, h_t⟩, + D·x, · SiLU(z).
    Autograd differentiates all of it."""
    batch, length, channels = x.shape
    grouped = Bm.dim() == 4  # (B, L, G, N): group g's B and C serve channels g·C/G … (g+1)·C/G − 1
    if grouped:
        Bm, Cm = (t.repeat_interleave(channels // t.shape[2], dim=2) for t in (Bm, Cm))  # (B, L, C, N)
    T = min(chunk, length)
    pad = (-length) % T  # padded steps: Δ = 0, so decay 1 and no input; cut off at the end
    if pad:
        x, delta, Bm, Cm = (torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x, delta, Bm, Cm))
    chunks, n = (length + pad) // T, A.shape[1]
    shape = (batch, chunks, T, channels, n)
    log_decay = (delta.unsqueeze(-1) * A).view(shape)                 # Δ·A ≤ 0, (B, K, T, C, N)
    dBx = ((delta * x).unsqueeze(-1) * (Bm if grouped else Bm.unsqueeze(2))).view(shape)   # Δ·x·B
    S = torch.cumsum(log_decay, dim=2)
    if float(S.detach().min()) > -80.0:
        decay = torch.exp(S)
        local = decay * torch.cumsum(torch.exp(-S) * dBx, dim=2)
    else:
        decay, local = scan_pairs(torch.exp(log_decay), dBx, 2)
    _, ends = scan_pairs(decay[:, :, -1], local[:, :, -1], 1)          # (B, K, C, N): true end states
    before = torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], 1)  # the state entering each chunk
    h = (local + decay * before.unsqueeze(2)).view(batch, chunks * T, channels, n)
    if grouped:
        y = (h * Cm).sum(-1)                                           # (B, L, C): ⟨C_t, h_t⟩ per channel
    else:
        y = (h @ Cm.unsqueeze(-1)).squeeze(-1)
    if pad:
        y, x = y[:, :length], x[:, :length]
    return (y + x * D) * torch.nn.functional.silu(z) if z is not None else y + x * D


def selective_scan_sequential(x, delta, A, Bm, Cm, D, z, chunk=None):
    """The same scan as a Python loop over t (the textbook form): L steps of small ops."""
    batch, length, channels = x.shape
    h = x.new_zeros(batch, channels, A.shape[1])
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, t].unsqueeze(-1) * A) * h + (delta[:, t] * x[:, t]).unsqueeze(-1) * Bm[:, t].unsqueeze(1)
        ys.append((h @ Cm[:, t].unsqueeze(-1)).squeeze(-1))
    return (torch.stack(ys, 1) + x * D) * torch.nn.functional.silu(z)


class MambaMixer(torch.nn.Module):
    """models/mamba.h's MambaMixer, same names and shapes: in_proj → causal depthwise conv1d → SiLU →
    x_proj → (δ, B, C) → Δ = softplus(dt_proj(δ)), A = −exp(A_log) → scan with D skip and SiLU(z)
    gate → out_proj. Init as the paper's code (A_log = log(n+1), D = 1, dt_proj's Δ in [1e-3, 1e-1])."""

    def __init__(self, a, scan):
        super().__init__()
        c, self.n, self.r = a.expand * a.dim, a.d_state, a.dt_rank or -(-a.dim // 16)
        self.scan, self.chunk = scan, a.chunk
        self.in_proj = torch.nn.Linear(a.dim, 2 * c, bias=False)
        self.conv1d = torch.nn.Conv1d(c, c, a.d_conv, groups=c, padding=a.d_conv - 1)
        self.x_proj = torch.nn.Linear(c, self.r + 2 * self.n, bias=False)
        self.dt_proj = torch.nn.Linear(self.r, c)
        torch.nn.init.uniform_(self.dt_proj.weight, -self.r ** -0.5, self.r ** -0.5)
        dt = torch.exp(torch.empty(c).uniform_(math.log(1e-3), math.log(1e-1))).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = torch.nn.Parameter(torch.log(torch.arange(1, self.n + 1, dtype=torch.float32)).repeat(c, 1))
        self.D = torch.nn.Parameter(torch.ones(c))
        self.out_proj = torch.nn.Linear(c, a.dim, bias=False)

    def forward(self, u):
        length = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = torch.nn.functional.silu(self.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2))
        delta, Bm, Cm = self.x_proj(x).split([self.r, self.n, self.n], dim=-1)
        delta = torch.nn.functional.softplus(self.dt_proj(delta))
        y = self.scan(x, delta, -torch.exp(self.A_log), Bm, Cm, self.D, z, self.chunk)
        return self.out_proj(y)


class MambaBlock(torch.nn.Module):
    def __init__(self, a, scan):
        super().__init__()
        self.mixer = MambaMixer(a, scan)
        self.norm = RMSNorm(a.dim)

    def forward(self, x):
        return x + self.mixer(self.norm(x))  # pre-norm residual


class Mamba(torch.nn.Module):
    """models/mamba.h's MambaModel as a classifier: token embedding → blocks → RMSNorm + Linear head
    on the last position (per_token false)."""

    def __init__(self, a, scan):
        super().__init__()
        self.embed = torch.nn.Embedding(a.vocab, a.dim)
        self.layers = torch.nn.ModuleList(MambaBlock(a, scan) for _ in range(a.depth))
        self.head_norm = RMSNorm(a.dim)
        self.head = torch.nn.Linear(a.dim, a.classes)

    def forward(self, tokens):
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.head_norm(x[:, -1]))


def mamba_steps(a):
    """The parameter count and the timed bodies: "train" (chunked scan), "train_sequential" (the
    same step with the Python-loop scan) and "scan_L" per --scan-lengths (the chunked scan alone,
    forward + backward into every input, batch 1, C = expand·dim channels, N = d_state)."""
    steps = {}
    for name, scan in (("train", selective_scan_chunked), ("train_sequential", selective_scan_sequential)):
        torch.manual_seed(0)
        model = Mamba(a, scan)
        # as sieve: biases, parameters under 2 dims (norms, D) and A_log are not decayed
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or p.dim() < 2 or n.endswith("A_log")]
        decay = [p for n, p in model.named_parameters() if all(p is not q for q in no_decay)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
        tokens = torch.randint(0, a.vocab, (a.batch, a.length))
        labels = torch.randint(0, a.classes, (a.batch,))

        def train_step(model=model, optimizer=optimizer, tokens=tokens, labels=labels):
            loss = torch.nn.functional.cross_entropy(model(tokens), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()
        steps[name] = train_step
        params = sum(p.numel() for p in model.parameters())

    c, n = a.expand * a.dim, a.d_state
    scan_inputs = {}
    for length in (int(v) for v in a.scan_lengths.split(",") if v):
        def scan_step(length=length):
            # inputs made once per length on first use, then kept
            if length not in scan_inputs:
                delta = torch.exp(torch.empty(1, length, c).uniform_(math.log(1e-3), math.log(1e-1)))
                leaves = [torch.randn(1, length, c), delta, -torch.arange(1, n + 1.0).repeat(c, 1),
                          torch.randn(1, length, n), torch.randn(1, length, n), torch.ones(c), torch.randn(1, length, c)]
                scan_inputs[length] = ([t.requires_grad_() for t in leaves], torch.randn(1, length, c))
            leaves, g = scan_inputs[length]
            for t in leaves:
                t.grad = None
            x, delta, A, Bm, Cm, D, z = leaves
            selective_scan_chunked(x, delta, A, Bm, Cm, D, z, a.chunk).backward(g)
        steps["scan_%d" % length] = scan_step
    return params, steps


def serve(result, steps):
    """--serve: print the header line, then time one step per command line read ("train",
    "infer"), answering each with its seconds; an empty line or end of input ends it. The caller
    alternates these with its own steps, so a neighbour's load hits both sides alike."""
    print(json.dumps(result), flush=True)
    for line in sys.stdin:
        step = steps.get(line.strip())
        if step is None:
            break
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)


def median_seconds(step, warmup, reps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--mode", choices=("ops", "vit", "clip", "mamba", "vmamba", "vlm"), default="ops")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="vit: where the model runs (cuda: TF32 off, as sieve's default)")
    parser.add_argument("--serve", action="store_true",
                        help="vit, mamba: time single steps on request from stdin instead of medians (see serve())")
    vit = parser.add_argument_group("vit and mamba modes: the model and batches (sieve passes its own configuration)")
    for flag, default in (("batch", 128), ("infer-batch", 256), ("image-size", 28), ("in-channels", 1),
                          ("classes", 10), ("patch", 4), ("dim", 64), ("depth", 4), ("heads", 4),
                          ("mlp-hidden", 128)):
        vit.add_argument("--" + flag, type=int, default=default)
    for flag, default in (("lr", 1e-3), ("weight-decay", 0.05), ("clip", 1.0)):
        vit.add_argument("--" + flag, type=float, default=default)
    clip = parser.add_argument_group("clip mode only (with the vit flags for the image tower; --classes: embedding)")
    for flag, default in (("text-dim", 64), ("text-depth", 2), ("text-heads", 4), ("text-mlp-hidden", 128),
                          ("context", 48), ("zero-shot-classes", 20)):
        clip.add_argument("--" + flag, type=int, default=default)
    mamba = parser.add_argument_group("mamba mode only (with --batch, --classes, --dim, --depth, --lr, ...)")
    for flag, default in (("length", 256), ("vocab", 16), ("d-state", 16), ("expand", 2), ("d-conv", 4),
                          ("dt-rank", 0), ("chunk", 16)):
        mamba.add_argument("--" + flag, type=int, default=default)
    mamba.add_argument("--scan-lengths", default="", help="comma-separated L of the scan-alone cases (scan_L)")
    vmamba = parser.add_argument_group("vmamba mode only (with --batch, --image-size, --classes, --patch, --dim, ...)")
    vmamba.add_argument("--depths", default="2,2", help="VSS blocks per stage")
    for flag, default in (("ssm-ratio", 2), ("routes", 4), ("mlp-ratio", 0)):
        vmamba.add_argument("--" + flag, type=int, default=default)
    vlm = parser.add_argument_group("vlm mode only (with the vit flags for the image tower; torch_vlm.py)")
    for flag, default in (("lm-dim", 128), ("lm-depth", 4), ("lm-heads", 4), ("lm-mlp-hidden", 512),
                          ("question-bytes", 30)):
        vlm.add_argument("--" + flag, type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_torch.py: --device cuda, but this torch sees no GPU")
        # sieve uses no TF32 unless asked (cuda::set_tf32); PyTorch's convolutions would by default.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        result["gpu"] = torch.cuda.get_device_name()
    if args.mode in ("mamba", "vmamba"):
        # Products of decays reach float32's denormal range, where x86 arithmetic slows ~100×;
        # flushing them to zero changes nothing visible (< 1.2e-38) and only helps PyTorch's side.
        torch.set_flush_denormal(True)
    if args.mode in ("vit", "clip", "mamba", "vmamba", "vlm"):
        if args.mode == "vmamba":
            from torch_vmamba import vmamba_steps  # noqa: E402 (its models use this file's scan)
        if args.mode == "vlm":
            from torch_vlm import vlm_steps  # noqa: E402 (its models use this file's blocks)
        make_steps = {"vit": vit_steps, "clip": clip_steps, "mamba": mamba_steps,
                      "vmamba": vmamba_steps if args.mode == "vmamba" else None,
                      "vlm": vlm_steps if args.mode == "vlm" else None}[args.mode]
        result["params"], steps = make_steps(args)
        if args.mode == "mamba":
            result["chunk"] = args.chunk
        if args.serve:
            return serve(result, steps)
        names = {"train": args.mode + "_train_step", "infer": args.mode + "_infer"} if args.mode != "mamba" else {}
        result["seconds"] = {names.get(name, args.mode + "_" + name): median_seconds(step, args.warmup, args.reps)
                             for name, step in steps.items()}
    else:
        result["seconds"] = {name: median_seconds(make(), args.warmup, args.reps) for name, make in CASES.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
