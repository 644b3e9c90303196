"""Regenerates every golden file: /usr/bin/python3 tests/golden/gen_all.py (needs PyTorch).

Each gen_<family>.py defines generate(directory). The files are committed; tests never need PyTorch.
"""
import glob
import importlib
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
for path in sorted(glob.glob(os.path.join(here, "gen_*.py"))):
    name = os.path.basename(path)[:-3]
    if name == "gen_all":
        continue
    importlib.import_module(name).generate(here)
