"""tests/tools/test_misuse.py — the misuse harness: hostile checkpoints, configs, inputs and command
lines, run against the built `sieve` under time and memory limits.

Usage (meson does this as the test 'misuse'):  python3 tests/tools/test_misuse.py PATH/TO/sieve

Every case is one run of the binary, judged by what a user would see:
  crash    killed by a signal (SIGSEGV, SIGABRT from std::terminate, ...) or a sanitizer report
  hang     still running after the time limit
  memory   its resident memory passed the limit (an allocation the checks let through)
  leak     internal text in the message: "unexpected error", a C++ library's or JSON parser's words
  message  a failure that is not one line "sieve: ..." (exit 1, or 2 for a bad command line), or
           one that begins with the name of a library function rather than the file, flag or key
  silent   exit 0 where the input must be refused (a broken file, NaN weights, a flag out of range)
The cases are generated from four small runs it trains itself (an MLP and a ViT on a generated
MNIST, a Transformer on a synthetic task, a VLM on a tiny CLIP's tower, whose checkpoints also go
through `sieve chat`) and from the flags each command's --help lists (so a new flag is tried
without editing this file); the hostile values are fixed, the sampling is seeded.
It prints how many cases it tried and how many of each kind went wrong; any is a failure.

Extend: a new kind of hostile input is a generator yielding Case(...) (see checkpoint_cases), added
to the list in main().
"""
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cli  # noqa: E402
import test_train  # noqa: E402

TIME_LIMIT = 60          # seconds per case (sanitizer builds are slow; a real case takes < 2 s)
RSS_LIMIT = 3 << 30      # bytes of resident memory; tensors are capped below it by SIEVE_MEMORY_LIMIT
ENV = {"OMP_NUM_THREADS": "2", "SIEVE_MEMORY_LIMIT": "1G"}
LEAKS = ("unexpected error", "terminate called", "what():", "json.exception", "[json.", "vector::", "basic_string",
         "filesystem error", "std::", "stoi", "stoll", "AddressSanitizer", "LeakSanitizer", "runtime error:",
         "Segmentation", "core dumped")
KINDS = ("crash", "hang", "memory", "leak", "message", "silent")
COMMANDS = {"train", "eval", "infer", "chat", "ckpt", "bench", "profile", "experiment"}


def internal_names():
    """The names the library's own checks start their messages with ("cat", "Linear", "adamw_step"):
    read from its sources, so a new op's checks are known without editing this file. A refusal that
    begins with one ("sieve: cat: expected at least one tensor") names code, not the user's input."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    names = set()
    pattern = re.compile(r'(?:SIEVE_CHECK\([^;]*?|fail\()"([A-Za-z_][A-Za-z0-9_]*): ', re.S)
    for folder in ("core", "autograd", "ops", "nn", "models", "datasets"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if name.endswith((".cpp", ".h", ".cu")):
                    with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                        names.update(pattern.findall(f.read()))
    return names - COMMANDS


INTERNAL = internal_names()


class Case:
    """One run: args (after the binary); must_refuse: exit 0 would be a silent wrong answer."""
    def __init__(self, what, args, must_refuse):
        self.what, self.args, self.must_refuse = what, list(args), must_refuse


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_case(case, cwd):
    """Runs a case and returns (kind or None, detail)."""
    p = subprocess.Popen([test_cli.SIEVE, *case.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd, env=dict(os.environ, **ENV), start_new_session=True)
    start, rss, kind = time.time(), 0, None
    while p.poll() is None:
        rss = max(rss, peak_rss(p.pid))
        if rss > RSS_LIMIT:
            kind = "memory"
        elif time.time() - start > TIME_LIMIT:
            kind = "hang"
        if kind:
            os.killpg(p.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    out, err = p.communicate()
    err = err.decode("utf-8", "replace")
    detail = f"exit {p.returncode}, {rss >> 20} MB: " + err.strip()[:400]
    if kind:
        return kind, detail
    if p.returncode < 0 or p.returncode >= 128 or "Sanitizer" in err or "runtime error:" in err:
        return "crash", detail
    if any(w in err for w in LEAKS):
        return "leak", detail
    lines = err.strip().splitlines()
    if p.returncode != 0 and (p.returncode not in (1, 2) or len(lines) != 1 or not lines[0].startswith("sieve: ")):
        return "message", detail
    if p.returncode != 0 and lines[0][len("sieve: "):].split(":")[0] in INTERNAL:
        return "message", "begins with an internal name: " + detail
    if p.returncode == 0 and case.must_refuse:
        return "silent", detail + " " + out.decode("utf-8", "replace")[:200]
    return None, detail


# --- hostile files ---------------------------------------------------------------------------------

def parse(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    return blob, n, json.loads(blob[8:8 + n])


def write_header(out, header, data):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return test_cli.write(out, struct.pack("<Q", len(text)) + text + data)


def with_metadata(path, out, key, edit):
    """A copy whose metadata JSON `key` (config, data, training) is replaced by edit(parsed)."""
    blob, n, header = parse(path)
    meta = header["__metadata__"]
    value = json.loads(meta[key]) if meta.get(key) not in (None, "") else None
    meta[key] = json.dumps(edit(value))
    return write_header(out, header, blob[8 + n:])


HOSTILE_VALUES = [-1, 0, 10 ** 6, 10 ** 12, 2 ** 63, -2 ** 63, 1.5, 1e308, "x", "", None, [], {}, True, "nan",
                  [1, 2], {"a": 1}]


def structural_mutations(path, tmp, tag, rng):
    """(what, file, kind) triples: kind "file" (a damaged safetensors file: every reader refuses it),
    "weights" (a sound file whose tensors do not fit the model: eval, infer and --resume refuse it),
    "optimizer" (only --resume reads optimizer state) or "metadata" (not a sieve checkpoint as
    written: all but `ckpt info`, which describes any safetensors file, refuse it)."""
    blob, n, header = parse(path)
    data = blob[8 + n:]
    names = sorted(k for k in header if k != "__metadata__")
    out = lambda name: os.path.join(tmp, f"{tag}-{name}.safetensors")  # noqa: E731
    yield "empty file", test_cli.write(out("empty"), b""), "file"
    for cut in sorted({4, 8, 9, 8 + n // 2, 8 + n, 8 + n + len(data) // 2, len(blob) - 1}):
        yield f"truncated at byte {cut}", test_cli.write(out(f"cut{cut}"), blob[:cut]), "file"
    yield "trailing bytes", test_cli.write(out("trailing"), blob + b"\0" * 8), "file"
    for value in (0, 2, n + 1, 2 ** 40, 2 ** 64 - 1):
        yield (f"header length {value}", test_cli.write(out(f"len{value}"), struct.pack("<Q", value) + blob[8:]),
               "file")
    yield "header not JSON", test_cli.write(out("notjson"), struct.pack("<Q", n) + b"{" * n + data), "file"
    for name in rng.sample(names, min(2, len(names))):
        e = header[name]
        cases = {"dropped": None,
                 "wider": dict(e, shape=e["shape"][:-1] + [e["shape"][-1] + 1] if e["shape"] else [2]),
                 "f64": dict(e, dtype="F64"),
                 "offsets past the end": dict(e, data_offsets=[e["data_offsets"][0], len(data) + 64]),
                 "offsets reversed": dict(e, data_offsets=e["data_offsets"][::-1]),
                 "huge shape": dict(e, shape=[2 ** 31, 2 ** 31]),
                 "negative shape": dict(e, shape=[-e["shape"][0]] + e["shape"][1:] if e["shape"] else [-1])}
        sound = "optimizer" if name.startswith("optimizer.") else "weights"
        for label, entry in cases.items():
            h = {k: v for k, v in header.items() if k != name}
            if entry is not None:
                h[name] = entry
            # A dropped tensor or a dtype whose bytes still fit leaves a sound file.
            kind = sound if label == "dropped" or (label == "f64" and e["dtype"] in ("I64", "F64")) else "file"
            yield f"{name} {label}", write_header(out(f"{name}-{label.replace(' ', '_')}"), h, data), kind
    # A renamed tensor: the model no longer matches the file.
    h = dict(header)
    h["surplus.weight"] = h.pop(names[0])
    yield f"{names[0]} renamed", write_header(out("renamed"), h, data), "weights"
    meta = dict(header["__metadata__"])
    for key in ("model", "config", "format"):
        for value in ("", "nonsense", "{", "[]"):
            h = dict(header, __metadata__=dict(meta, **{key: value}))
            yield f"metadata {key} = {value!r}", write_header(out(f"meta-{key}-{len(value)}"), h, data), "metadata"
    h = dict(header, __metadata__={k: v for k, v in meta.items() if k != "config"})
    yield "metadata without config", write_header(out("noconfig"), h, data), "metadata"


def poisoned(path, out, value):
    """A copy with the first float of its first float weight set to value (NaN, inf)."""
    blob, n, header = parse(path)
    data = bytearray(blob[8 + n:])
    name = next(k for k in sorted(header) if k != "__metadata__" and header[k]["dtype"] == "F32"
                and not k.startswith("optimizer."))
    start = header[name]["data_offsets"][0]
    data[start:start + 4] = struct.pack("<f", value)
    return write_header(out, header, bytes(data))


def checkpoint_cases(runs, tmp, rng):
    """Hostile checkpoints through every command that reads one, and hostile configs (every config
    and data key set to every hostile value)."""
    for tag, (ckpt, extra, image) in runs.items():
        readers = {"ckpt": (["ckpt", "info", "FILE"], {"file"}),
                   "eval": (["eval", "FILE", *extra], {"file", "weights", "metadata"}),
                   "infer": (["infer", "FILE", image], {"file", "weights", "metadata"}),
                   "resume": (["train", runs_model(tag), "--resume", "FILE"],
                              {"file", "weights", "optimizer", "metadata"})}
        if tag == "vlm":  # a vlm is talked to; infer refuses it whatever the file holds
            readers["chat"] = (["chat", "FILE", "--image", image, "what is this?"], {"file", "weights", "metadata"})
            readers["infer"] = (["infer", "FILE", image], {"file", "weights", "metadata", "optimizer"})
        for what, bad, kind in structural_mutations(ckpt, tmp, tag, rng):
            # A damaged file fails in the one safetensors reader they all share: ckpt info and one other.
            chosen = ["ckpt", rng.choice(sorted(set(readers) - {"ckpt"}))] if kind == "file" else list(readers)
            for reader in chosen:
                args, refuses = readers[reader]
                yield Case(f"{tag}: {what}: {reader}", [bad if a == "FILE" else a for a in args],
                           must_refuse=kind in refuses)
        for key in ("config", "data"):
            blob, n, header = parse(ckpt)
            for field in sorted(json.loads(header["__metadata__"][key])):
                for value in rng.sample(HOSTILE_VALUES, 3):
                    bad = with_metadata(ckpt, os.path.join(tmp, f"{tag}-{key}-{field}-{abs(hash(repr(value)))}.st"),
                                        key, lambda d, f=field, v=value: dict(d, **{f: v}))
                    command = rng.choice([["eval", bad, *extra], ["infer", bad, image], ["ckpt", "info", bad]])
                    # ckpt info only describes the file; eval and infer may accept a harmless value
                    # (a dropout of 0) but never crash, hang or blow memory.
                    yield Case(f"{tag}: {key}.{field} = {value!r}: {command[0]}", command, must_refuse=False)
        for value in (float("nan"), float("inf")):
            bad = poisoned(ckpt, os.path.join(tmp, f"{tag}-poison-{value}.safetensors"), value)
            yield Case(f"{tag}: a {value} weight: eval", ["eval", bad, *extra], must_refuse=True)
            yield Case(f"{tag}: a {value} weight: infer", ["infer", bad, image], must_refuse=True)


def runs_model(tag):
    return {"mlp": "mlp", "vit": "vit", "seq": "transformer", "vlm": "vlm"}[tag]


def input_cases(runs, tmp):
    """Hostile inputs to infer: NaN pixels, wrong shapes and dtypes, a huge declared image, empty sets."""
    ckpt, _, _ = runs["mlp"]
    f32 = lambda values: struct.pack(f"<{len(values)}f", *values)  # noqa: E731
    files = {
        "nan pixels": ({"images": ("F32", [1, 1, 28, 28], f32([float("nan")] * 784))}, True),
        "inf pixels": ({"images": ("F32", [1, 1, 28, 28], f32([float("inf")] * 784))}, True),
        "wrong shape": ({"images": ("F32", [1, 1, 27, 28], f32([0.0] * 756))}, True),
        "int pixels": ({"images": ("I64", [1, 1, 28, 28], b"\0" * 8 * 784)}, False),
        "two tensors": ({"a": ("F32", [1, 784], f32([0.0] * 784)), "b": ("F32", [1], f32([0.0]))}, True),
        "no tensors": ({}, True),
        "declared 10^12 images": ({"images": ("F32", [10 ** 12, 1, 28, 28], b"")}, True),
    }
    for what, (entries, refuse) in files.items():
        path = test_cli.write(os.path.join(tmp, f"input-{what.replace(' ', '_')}.safetensors"),
                              test_cli.safetensors_bytes(entries))
        yield Case(f"infer on {what}", ["infer", ckpt, path], must_refuse=refuse)
    header = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + struct.pack(">II", 20000, 20000) + b"\x08\0\0\0\0" + b"\0" * 4
    png = test_cli.write(os.path.join(tmp, "huge.png"), header)
    yield Case("infer on a 20000×20000 PNG header with no pixels", ["infer", ckpt, png], must_refuse=True)
    yield Case("infer on a directory with no images", ["infer", ckpt, tmp + "/empty-dir"], must_refuse=True)
    os.makedirs(tmp + "/empty-dir", exist_ok=True)
    loop = os.path.join(tmp, "loop")
    if not os.path.lexists(loop):
        os.symlink(loop, loop)
    yield Case("infer on a symlink to itself", ["infer", ckpt, loop], must_refuse=True)
    yield Case("eval of a directory", ["eval", tmp], must_refuse=True)
    yield Case("eval of /dev/null", ["eval", "/dev/null"], must_refuse=True)


# --- hostile command lines -------------------------------------------------------------------------

FLAG = re.compile(r"^\s+(--[a-z0-9][a-z0-9_-]*)(?:,\S+)?\s+(INT|UINT|FLOAT|TEXT|FLOAT:\S+|INT:\S+|UINT:\S+)?")


RANGE = re.compile(r"; (-?[0-9.e+]+) to (-?[0-9.e+]+)\)\s*$")


def flags_of(*command):
    """(flag, type) for every option `sieve COMMAND --help` lists; type is INT/UINT/FLOAT/TEXT or None."""
    return [(flag, kind) for flag, kind, _ in flags_and_ranges_of(*command)]


def flags_and_ranges_of(*command):
    """(flag, type, (min, max) or None): a model option's help ends with "; MIN to MAX)"."""
    code, out, _ = test_cli.run(*command, "--help")
    flags = []
    for line in out.splitlines():
        m = FLAG.match(line)
        if m and m.group(1) != "--help":
            r = RANGE.search(line)
            flags.append((m.group(1), (m.group(2) or "").split(":")[0] or None,
                          (float(r.group(1)), float(r.group(2))) if r else None))
    return flags


def range_poison(lo, hi):
    """Values a model option of range [lo, hi] must refuse: just outside it, and not numbers."""
    whole = lo == int(lo) and hi == int(hi) and hi < 1e6
    outside = [str(int(lo) - 1), str(int(hi) + 1)] if whole else [repr(lo - 0.5), repr(hi + 0.5)]
    return outside + ["nan", "inf", ""]


NUMBER_POISON = ["nan", "", "inf", "-inf", "abc", "1e400", "1,5"]
INT_POISON = ["99999999999999999999", "1.5", "-99999999999999999999"]
ANY_VALUES = ["-1", "0", "1e308", "9223372036854775807", "-9223372036854775808", "a" * 5000, "/", "/dev/null",
              "/nonexistent/x", "../../..", "\x01\x7f", "evit:2", "tome:-1", "l2:nan"]


def command_line_cases(runs, data, rng, per_command):
    """Every numeric flag of every command with values no number flag may take (must be refused),
    and a seeded sample of all flags with odd values (may be accepted, never crash or hang)."""
    mlp, _, image = runs["mlp"]
    seq, seq_extra, _ = runs["seq"]
    base = {
        ("train", "mlp"): ["train", "mlp", "--data-dir", data, "--max-steps", "1", "--epochs", "1", "--quiet",
                           "--hidden", "8", "--out", "run-out", "--overwrite"],
        ("train", "transformer"): ["train", "transformer", "--task", "majority", "--train-size", "64",
                                   "--test-size", "32", "--batch-size", "16", "--max-steps", "1", "--epochs", "1", "--quiet",
                                   "--out", "seq-out", "--overwrite"],
        ("eval",): ["eval", mlp, "--data-dir", data, "--quiet"],
        ("infer",): ["infer", mlp, image],
        ("ckpt", "strip-head"): ["ckpt", "strip-head", mlp, "--out", "stripped.safetensors"],
        ("profile", "mlp"): ["profile", "mlp", "--data-dir", data, "--steps", "1", "--batch-size", "8"],
    }
    for command, args in base.items():
        flags = flags_of(*command)
        if command[0] == "train":
            flags += flags_of("train")
        for flag, kind in flags:
            if kind in ("INT", "UINT", "FLOAT"):
                values = ["nan", ""] + rng.sample(NUMBER_POISON[2:], 2)
                values += [rng.choice(INT_POISON)] if kind != "FLOAT" else []
                for value in values:
                    yield Case(f"{' '.join(command)} {flag} {value!r}", [*args, flag, value], must_refuse=True)
        sample = [(f, v) for f, _ in flags for v in ANY_VALUES]
        for flag, value in rng.sample(sample, min(per_command, len(sample))):
            yield Case(f"{' '.join(command)} {flag} {value[:20]!r}", [*args, flag, value], must_refuse=False)
    # Model options outside their declared range (read from --help: "; 1 to 4096)"), on train and on
    # the studies, which take the same flags.
    for command, args in ((("train", "vit"), ["train", "vit", "--data-dir", data, "--max-steps", "1", "--quiet",
                                                "--out", "vit-out", "--overwrite"]),
                          (("train", "mamba"), ["train", "mamba", "--task", "majority", "--train-size", "64",
                                                 "--test-size", "32", "--max-steps", "1", "--quiet",
                                                 "--out", "mamba-out", "--overwrite"]),
                          (("train", "vmamba"), ["train", "vmamba", "--data-dir", data, "--max-steps", "1", "--quiet",
                                                  "--out", "vmamba-out", "--overwrite"]),
                          (("train", "vim"), ["train", "vim", "--data-dir", data, "--max-steps", "1", "--quiet",
                                               "--out", "vim-out", "--overwrite"]),
                          (("experiment", "vtp"), ["experiment", "vtp", "--quick", "--quiet", "--out", "vtp-out"])):
        for flag, _, bounds in flags_and_ranges_of(*command):
            for value in range_poison(*bounds) if bounds else []:
                yield Case(f"{' '.join(command)} {flag} {value!r}", [*args, flag, value], must_refuse=True)
    # The numeric flags of the long-running commands (studies, benches) and of eval on a sequence
    # checkpoint: refused before anything runs.
    poison_only = [("experiment", study) for study in ("vtp", "ddvit", "mrss", "induction", "selective-copy", "vmamba",
                                                       "projectors")]
    poison_only += [("bench", b) for b in ("ops", "loader", "vit", "clip", "mamba", "vmamba")]
    for command in poison_only:
        flags = flags_of(*command)
        quiet = ["--quiet"] if ("--quiet", None) in flags else []  # so a wrongly accepted value cannot run long
        for flag, kind in flags:
            if kind in ("INT", "UINT", "FLOAT"):
                for value in ["nan", rng.choice(NUMBER_POISON[1:])]:
                    yield Case(f"{' '.join(command)} {flag} {value!r}", [*command, *quiet, flag, value],
                               must_refuse=True)
    for flag, kind in flags_of("eval"):
        if kind in ("INT", "UINT", "FLOAT"):
            yield Case(f"eval (sequence) {flag} nan", ["eval", seq, *seq_extra, "--quiet", flag, "nan"], must_refuse=True)
    # Sizes out of reason: refused in one line naming the flag, before memory runs out.
    for flag, value in (("--depth", "1000000"), ("--dim", "10000000"), ("--patch", "0")):
        yield Case(f"train vit {flag} {value}", ["train", "vit", "--data-dir", data, "--max-steps", "1", "--quiet",
                                                  "--out", "big-out", "--overwrite", flag, value], must_refuse=True)
    for flag, value in (("--seq-len", "10000000"), ("--train-size", "1000000000"), ("--vocab", "1000000000")):
        yield Case(f"train transformer {flag} {value}", [*base[("train", "transformer")], flag, value],
                   must_refuse=True)
    yield Case("eval --seq-len 10000000", ["eval", seq, *seq_extra, "--seq-len", "10000000"], must_refuse=True)
    yield Case("--threads 100000", ["--threads", "100000", "eval", mlp, "--data-dir", data], must_refuse=True)
    yield Case("no command", [], must_refuse=True)
    yield Case("unknown model", ["train", "resnet"], must_refuse=True)


def check_messages_name_the_cause(runs, data, work):
    """Beyond "one line": these refusals name the flag or key the user can change, and what is valid."""
    mlp, _, _ = runs["mlp"]
    cases = [
        (["train", "vit", "--dropout", "5", "--data-dir", data, "--out", "d5"], ["--dropout", "largest allowed, 1"]),
        (["train", "mlp", "--seed", "99999999999999999999"], ["--seed", "whole number up to"]),
        (["train", "mlp", "--lr", ""], ["--lr", "got nothing"]),
        (["train", "vit", "--depth", "1000000", "--data-dir", data, "--out", "big"], ["--depth", "largest allowed, 4096"]),
        # In every option's range, but together too large for memory: refused naming the flags given.
        (["train", "vit", "--dim", "65536", "--data-dir", data, "--out", "wide"], ["--dim 65536", "too large"]),
        (["train", "transformer", "--task", "majority", "--seq-len", "10000000", "--out", "long"],
         ["--seq-len", "does not fit in memory"]),
        (["train", "mlp", "--hidden", "0", "--data-dir", data, "--out", "h0"], ["--hidden", "positive integers"]),
        # An unknown name where a model, study or command belongs lists the known ones.
        (["train", "--epochs", "2", "resnet"], ["train: unknown model 'resnet'", "mlp, vit"]),
        (["experiment", "--quiet", "vtpp"], ["experiment: unknown subcommand 'vtpp'", "vtp"]),
        (["evaluate", "x"], ["unknown command 'evaluate'", "eval"]),
        # In range but not a value the model takes: its own check, naming the flag.
        (["train", "vmamba", "--routes", "3", "--data-dir", data, "--out", "r3"], ["--routes 3", "routes must be 1, 2 or 4"]),
        # A flag that only means something beside another is refused alone, not silently ignored.
        (["eval", mlp, "--data-dir", data, "--probe-epochs", "3"], ["--probe-epochs requires --probe"]),
    ]
    for args, words in cases:
        code, _, err = test_cli.run(*args, env=ENV, cwd=work)
        lines = err.strip().splitlines()
        test_cli.expect(code in (1, 2) and len(lines) == 1 and all(w in lines[0] for w in words),
                        f"sieve {' '.join(args[:4])}: one line naming {words}", err)
    for out in ("d5", "big", "wide", "long", "h0", "r3"):
        test_cli.expect(not os.path.exists(os.path.join(work, out)), f"a refused run leaves no directory {out}/")


# --- main ------------------------------------------------------------------------------------------

def train_runs(tmp, data):
    """Four small checkpoints: (path, eval's extra args, an input infer — or, for the vlm, chat —
    accepts); the vlm's tower comes from a tiny clip trained on the same data."""
    def go(out, *args):
        code, _, err = test_cli.run("--threads", "2", "train", *args, "--out", out, "--quiet", "--epochs", "1",
                                    "--max-steps", "4", "--warmup-steps", "1")
        test_cli.expect(code == 0, f"setup: train {args[0]}", err)
        return os.path.join(out, "checkpoint.safetensors")
    image = os.path.join(data, "mnist", "t10k-images-idx3-ubyte")
    tokens = test_cli.write(os.path.join(tmp, "tokens.safetensors"), test_cli.safetensors_bytes(
        {"tokens": ("I64", [2, 16], struct.pack("<32q", *([1] * 32)))}))
    clip = go(os.path.join(tmp, "clip"), "clip", "--dataset", "mnist+fashion-mnist", "--data-dir", data, "--patch", "4",
              "--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "16", "--text_dim", "16", "--text_depth",
              "1", "--text_heads", "2", "--text_mlp_hidden", "16", "--embed_dim", "16")
    cell = os.path.join(tmp, "cell.bmp")
    test_train.write_bmp(cell, [[(7 * r + 3 * c) % 256 for c in range(28)] for r in range(28)], scale=1)
    return {
        "vlm": (go(os.path.join(tmp, "vlm"), "vlm", "--vision", clip, "--data-dir", data, "--visual_tokens", "all",
                   "--dim", "16", "--depth", "1", "--heads", "2", "--mlp_hidden", "16", "--stage1_steps", "2",
                   "--train_examples", "32", "--test_examples", "2", "--batch-size", "8"),
                ["--data-dir", data, "--test-size", "1"], cell),
        "mlp": (go(os.path.join(tmp, "mlp"), "mlp", "--data-dir", data, "--hidden", "16"), ["--data-dir", data], image),
        "vit": (go(os.path.join(tmp, "vit"), "vit", "--data-dir", data, "--dim", "16", "--depth", "2", "--heads", "2",
                   "--patch", "7", "--mlp_hidden", "16"), ["--data-dir", data], image),
        "seq": (go(os.path.join(tmp, "seq"), "transformer", "--task", "majority", "--train-size", "64", "--test-size",
                   "32", "--seq-len", "16", "--batch-size", "16"), ["--test-size", "32"], tokens),
    }


def main():
    if len(sys.argv) != 2:
        print("usage: test_misuse.py PATH/TO/sieve", file=sys.stderr)
        return 2
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    rng = random.Random(17)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="sieve-misuse-") as tmp:
        data = test_train.make_mnist(os.path.join(tmp, "data"), n_train=128, n_test=64)
        test_train.make_mnist(data, n_train=128, n_test=64, seed=1, name="fashion-mnist", columns=True)
        runs = train_runs(tmp, data)
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        tried, wrong = 0, {k: [] for k in KINDS}
        for case in [*checkpoint_cases(runs, tmp, rng), *input_cases(runs, tmp),
                     *command_line_cases(runs, data, rng, per_command=8)]:
            kind, detail = run_case(case, work)
            tried += 1
            if kind:
                wrong[kind].append(f"{case.what}\n      {detail}")
        print(f"misuse harness: {tried} cases in {time.time() - start:.0f} s; " +
              ", ".join(f"{k} {len(v)}" for k, v in wrong.items()))
        for kind, cases in wrong.items():
            for c in cases:
                test_cli.expect(False, f"{kind}: {c}")
        check_messages_name_the_cause(runs, data, work)
        test_cli.expect(tried >= 400, f"the harness tried at least 400 cases (tried {tried})")
    return test_cli.report("misuse")


if __name__ == "__main__":
    sys.exit(main())
