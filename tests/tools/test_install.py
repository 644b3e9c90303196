"""tests/tools/test_install.py — sieve as a library: the example program, in the tree and installed.

Usage (meson does this as the test 'install'):
    python3 tests/tools/test_install.py BUILD_DIR SOURCE_DIR PATH/TO/train_mnist
Checks, on a tiny MNIST-shaped data set it writes itself (test_train.make_mnist):
- the example built in the tree (tools/examples/train_mnist) trains and learns;
- `meson install --destdir` into a temporary folder puts libsieve.a, every public header under
  include/sieve/, sieve.pc, bench_torch.py and the `sieve` command there;
- the example, copied out of the tree and compiled with `c++` and `pkg-config --cflags --libs sieve`
  alone (the .pc found in the temporary prefix; it is relocatable), builds, runs and prints exactly
  what the in-tree build printed; the installed `sieve --help` runs.
Standard-library Python only; needs a C++ compiler and pkg-config (tools/setup installs both).
Extend: a new check is a check_* function called from main().
"""
import os
import shutil
import subprocess
import sys
import tempfile

import test_train
from test_cli import expect, report

# Headers that stay inside the CUDA backend (they see CUDA's own headers or only .cu files do).
CUDA_PRIVATE = {"blas.h", "entry.h", "launchers.h", "runtime.h", "tensor_arg.h"}
PUBLIC_FOLDERS = ["core", "autograd", "ops", "ops/cpu", "nn", "models", "datasets", "cuda"]


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def source_headers(source):
    found = set()
    for folder in PUBLIC_FOLDERS:
        for name in os.listdir(os.path.join(source, folder)):
            if name.endswith(".h") and not (folder == "cuda" and name in CUDA_PRIVATE):
                found.add(f"{folder}/{name}")
    return found


def find(root, name):
    for dirpath, _, files in os.walk(root):
        if name in files:
            return os.path.join(dirpath, name)
    return None


def run_example(exe, data, cwd):
    r = sh([exe, os.path.join(data, "mnist"), "3"], cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="2"))
    return r.returncode, r.stdout, r.stderr


def check_in_tree(exe, data, tmp):
    code, out, err = run_example(exe, data, tmp)
    expect(code == 0, "the in-tree example runs", err)
    lines = out.strip().splitlines()
    expect(len(lines) == 4 and lines[0].startswith("epoch 1: train loss") and lines[-1].startswith("test accuracy"),
           "it prints three epochs and a test accuracy", out)
    accuracy = float(lines[-1].split()[2].rstrip("%")) if lines else 0.0
    expect(accuracy > 80, f"it learns the tiny set (test accuracy {accuracy}% > 80%)", out)
    bad_code, _, bad_err = run_example(exe, os.path.join(tmp, "nowhere"), tmp)
    expect(bad_code == 1 and bad_err.startswith("train_mnist: ") and bad_err.count("\n") == 1 and "nowhere" in bad_err,
           "a missing data folder is one line naming the file", bad_err)
    return out


def check_installed(build, source, data, tmp, in_tree_out):
    dest = os.path.join(tmp, "dest")
    r = sh(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest])
    expect(r.returncode == 0, "meson install --destdir succeeds", r.stdout + r.stderr)
    pc = find(dest, "sieve.pc")
    lib = find(dest, "libsieve.a")
    expect(pc is not None and lib is not None, "sieve.pc and libsieve.a are installed", str((pc, lib)))
    if pc is None or lib is None:
        return
    include = find(dest, "tensor.h")
    root = os.path.dirname(os.path.dirname(include)) if include else ""
    installed = {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs} if root else set()
    missing = sorted(source_headers(source) - installed)
    expect(root.endswith(os.path.join("include", "sieve")) and not missing,
           "every public header is installed under include/sieve/", f"root {root}; missing {missing}")
    expect(find(dest, "bench_torch.py") is not None, "bench_torch.py is installed (share/sieve)", "")
    sieve = find(dest, "sieve")
    r = sh([sieve, "--help"]) if sieve else None
    expect(r is not None and r.returncode == 0 and "train" in r.stdout, "the installed sieve --help runs",
           r.stderr if r else "no sieve installed")

    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc))
    # Where the libraries sieve.pc requires have no .pc files of their own (a GPU node built from
    # unpacked .debs, whose pkg-config sees only that prefix), a user could not link this way
    # either: say so and stop here. On a Debian machine with tools/setup's packages they are there.
    deps = sh(["pkg-config", "--exists", "openblas", "fmt", "zlib", "nlohmann_json"], env=env) \
        if shutil.which("pkg-config") else None
    if deps is None or deps.returncode != 0:
        print("install: pkg-config finds no openblas, fmt, zlib or nlohmann_json here; "
              "the build against the installed copy is not tried")
        return
    flags = sh(["pkg-config", "--cflags", "--libs", "sieve"], env=env)
    expect(flags.returncode == 0 and "-lsieve" in flags.stdout and dest in flags.stdout,
           "pkg-config --cflags --libs sieve names the installed copy", flags.stdout + flags.stderr)
    # The example, away from the source tree: only the installed headers can be found.
    work = os.path.join(tmp, "user")
    os.makedirs(work)
    shutil.copy(os.path.join(source, "tools", "examples", "train_mnist.cpp"), work)
    cxx = os.environ.get("CXX", "c++")
    compile_cmd = [cxx, "train_mnist.cpp", "-o", "train_mnist", *flags.stdout.split()]
    r = sh(compile_cmd, cwd=work, env=env)
    expect(r.returncode == 0, "the example compiles against the installed sieve with pkg-config alone",
           " ".join(compile_cmd) + "\n" + r.stderr[-3000:])
    if r.returncode != 0:
        return
    code, out, err = run_example(os.path.join(work, "train_mnist"), data, work)
    expect(code == 0 and out == in_tree_out, "built against the installed copy it prints what the in-tree build printed",
           f"installed:\n{out}{err}\nin tree:\n{in_tree_out}")


def main():
    build, source, example = (os.path.abspath(a) for a in sys.argv[1:4])
    with tempfile.TemporaryDirectory() as tmp:
        data = test_train.make_mnist(os.path.join(tmp, "data"), n_train=1280, n_test=200)
        in_tree_out = check_in_tree(example, data, tmp)
        check_installed(build, source, data, tmp, in_tree_out)
    return report("install")


if __name__ == "__main__":
    sys.exit(main())
