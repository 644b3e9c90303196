# tests/nn/gen_optim_values.py — prints the reference values hard-coded in tests/nn/test_optim.cpp.
#
# Run by hand where PyTorch is installed (Debian's python3-torch, 1.13):
#   /usr/bin/python3 tests/nn/gen_optim_values.py
# Three steps of each optimizer on one float64 parameter with fixed gradients; the printed
# parameters (and AdamW's state) are pasted into the test.
import torch

torch.set_printoptions(precision=17)
W0 = [0.5, -1.0, 2.0, 0.0]
GRADS = [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.05, 1.0], [0.2, 0.2, -0.1, 0.0]]

CASES = {
    "sgd_plain": lambda p: torch.optim.SGD([p], lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
}

for name, make in CASES.items():
    p = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    opt = make(p)
    for g in GRADS:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    print(name, [float(x) for x in p.detach()])
    if name == "adamw":
        st = opt.state[p]
        print("  exp_avg", [float(x) for x in st["exp_avg"]])
        print("  exp_avg_sq", [float(x) for x in st["exp_avg_sq"]])

# clip_grad_norm_
a = torch.zeros(2, requires_grad=True, dtype=torch.float64)
b = torch.zeros(2, requires_grad=True, dtype=torch.float64)
a.grad = torch.tensor([3.0, 0.0], dtype=torch.float64)
b.grad = torch.tensor([0.0, 4.0], dtype=torch.float64)
total = torch.nn.utils.clip_grad_norm_([a, b], 1.0)
print("clip total", float(total), [float(x) for x in a.grad], [float(x) for x in b.grad])
