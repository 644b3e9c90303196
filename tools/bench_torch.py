"""tools/bench_torch.py — PyTorch reference timings for `sieve bench ops` and `sieve bench vit`.

Run by those commands (with /usr/bin/python3, where Debian's python3-torch lives); prints one
JSON object on stdout:
    --mode ops (default):  {"torch": "1.13.1", "threads": 2, "seconds": {"softmax_6400x64": 0.00012, ...}}
    --mode vit:            {"torch": ..., "threads": 2, "params": 136970,
                            "seconds": {"vit_train_step": 0.26, "vit_infer": 0.17}}
Each figure is the median wall time (time.perf_counter) after warm-up, on the same shapes, dtype
(float32) and thread count as sieve's side. --mode vit --serve instead prints that header (without
"seconds") and then times one step per line read from stdin: `sieve bench vit` alternates them
with its own steps. ops: forward + backward of one op. vit: the ViT of
models/vit.h rebuilt from torch.nn primitives (timm's layout; explicit attention, since 1.13 has
no scaled_dot_product_attention): a training step (forward, cross-entropy, backward,
clip_grad_norm_, AdamW with no decay on biases / norms / cls_token / pos_embed, zero_grad as
set_to_none, loss.item()), and an eval-mode forward under no_grad.
What it is not: a general benchmark suite; the cases mirror tools/cmd_bench.cpp and
tools/cmd_bench_vit.cpp and must keep the same names.
Extend: an ops case goes in CASES with the matching row in tools/cmd_bench.cpp; a new model is a
mode of its own, with its figures under keys its bench file reads.
"""
import argparse
import json
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


CASES = {
    "softmax_6400x64": lambda: softmax_case(6400, 64),
    "softmax_4096x1024": lambda: softmax_case(4096, 1024),
    "layer_norm_6400x64": lambda: layer_norm_case(6400, 64),
    "layer_norm_4096x1024": lambda: layer_norm_case(4096, 1024),
}


class VitBlock(torch.nn.Module):
    """Pre-LN block as nn/attention.h's TransformerBlock: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.qkv = torch.nn.Linear(dim, 3 * dim, bias=True)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        probs = torch.softmax((q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5, dim=-1)
        x = x + self.proj((probs @ v).transpose(1, 2).reshape(B, L, D))
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
    model = Vit(a)
    # sieve's no_weight_decay_for_biases_and_norms: biases and every parameter under 2 dims
    # (norm weights); cls_token and pos_embed are registered undecayed by models/vit.cpp.
    no_decay = [p for n, p in model.named_parameters()
                if n.endswith("bias") or p.dim() < 2 or n in ("cls_token", "pos_embed")]
    decay = [p for n, p in model.named_parameters() if all(p is not q for q in no_decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    images = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size)
    labels = torch.randint(0, a.classes, (a.batch,))
    infer_images = torch.randn(a.infer_batch, a.in_channels, a.image_size, a.image_size)

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

    return sum(p.numel() for p in model.parameters()), {"train": train_step, "infer": infer}


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
    parser.add_argument("--mode", choices=("ops", "vit"), default="ops")
    parser.add_argument("--serve", action="store_true",
                        help="vit: time single steps on request from stdin instead of medians (see serve())")
    vit = parser.add_argument_group("vit mode: the model and batches (sieve passes its own configuration)")
    for flag, default in (("batch", 128), ("infer-batch", 256), ("image-size", 28), ("in-channels", 1),
                          ("classes", 10), ("patch", 4), ("dim", 64), ("depth", 4), ("heads", 4),
                          ("mlp-hidden", 128)):
        vit.add_argument("--" + flag, type=int, default=default)
    for flag, default in (("lr", 1e-3), ("weight-decay", 0.05), ("clip", 1.0)):
        vit.add_argument("--" + flag, type=float, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.mode == "vit":
        result["params"], steps = vit_steps(args)
        if args.serve:
            return serve(result, steps)
        result["seconds"] = {"vit_train_step": median_seconds(steps["train"], args.warmup, args.reps),
                             "vit_infer": median_seconds(steps["infer"], args.warmup, args.reps)}
    else:
        result["seconds"] = {name: median_seconds(make(), args.warmup, args.reps) for name, make in CASES.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
