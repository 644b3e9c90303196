"""tools/bench_torch.py — PyTorch reference timings for `sieve bench ops`.

Run by `sieve bench ops` (with /usr/bin/python3, where Debian's python3-torch lives); prints one
JSON object on stdout:
    {"torch": "1.13.1", "threads": 2, "seconds": {"softmax_6400x64": 0.00012, ...}}
Each figure is the median wall time (time.perf_counter) of forward + backward after warm-up, on
the same shapes, dtype (float32) and thread count as sieve's side.
What it is not: a general benchmark suite; the cases mirror tools/cmd_bench.cpp and must keep the
same names. Extend: add a case in CASES and the matching row in tools/cmd_bench.cpp.
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seconds = {name: median_seconds(make(), args.warmup, args.reps) for name, make in CASES.items()}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": seconds}))


if __name__ == "__main__":
    main()
