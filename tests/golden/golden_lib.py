"""tests/golden/golden_lib.py — helpers for the scripts that write PyTorch golden files.

Run by hand where PyTorch is installed (Debian: /usr/bin/python3 with python3-torch):
    /usr/bin/python3 tests/golden/gen_all.py
Each gen_<family>.py adds cases; a case stores, under "<case>.":
    in.<name>    every input (float tensors and int64 indices)
    out          the output of the PyTorch op
    gout         a random upstream gradient of out's shape
    grad.<name>  d(sum(out * gout))/d input, for every float input that takes a gradient
The C++ side (tests/golden/golden.h) reruns each case with sieve and compares.
The file is real safetensors, written here without the safetensors package (Debian lacks it).
"""
import json
import struct

import torch

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


class GoldenFile:
    def __init__(self, family):
        self.family = family
        self.tensors = {}
        self.generator = torch.Generator().manual_seed(0)

    def randn(self, *shape, dtype=torch.float32):
        return torch.randn(shape, generator=self.generator, dtype=torch.float64).to(dtype)  # shape () works too

    def randint(self, low, high, *shape):
        return torch.randint(low, high, shape, generator=self.generator, dtype=torch.int64)

    def case(self, name, fn, **inputs):
        """Runs fn(**inputs), a random upstream gradient through it, and stores everything."""
        assert not any(k.startswith(name + ".") for k in self.tensors), f"duplicate case {name}"
        leaves = {}
        for key, value in inputs.items():
            v = value.clone()
            if v.is_floating_point():
                v.requires_grad_(True)
            leaves[key] = v
        out = fn(**leaves)
        for key, value in inputs.items():
            self.tensors[f"{name}.in.{key}"] = value
        self.tensors[f"{name}.out"] = out.detach()
        if out.is_floating_point() and out.requires_grad:
            gout = self.randn(*out.shape, dtype=out.dtype)
            out.backward(gout)
            self.tensors[f"{name}.gout"] = gout
            for key, v in leaves.items():
                if v.is_floating_point() and v.grad is not None:
                    self.tensors[f"{name}.grad.{key}"] = v.grad

    def save(self, directory):
        path = f"{directory}/{self.family}.safetensors"
        save_safetensors(path, self.tensors, {"family": self.family, "torch": torch.__version__})
        print(f"wrote {path}: {len(self.tensors)} tensors")
