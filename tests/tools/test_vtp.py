"""tests/tools/test_vtp.py — `sieve experiment vtp --quick` on tiny generated data, run as a user would.

Usage (meson does this as the test 'vtp'):  python3 tests/tools/test_vtp.py PATH/TO/sieve
On the tiny mnist and fashion-mnist of test_clip.py (a depth-2 CLIP at patch 4): every row is
written (the baseline, evit at keep 1, every method at keeps 0.7 and 0.5), keep 1.0 equals the
baseline exactly (cosine 1, same accuracies and FLOPs), every reduced row runs fewer tokens and
fewer measured FLOPs and is fine-tuned too, the table renders for RESULTS.md, a second run reuses
every model, and bad flags are one-line errors. Never asserts on timing. Standard-library Python only.
"""
import os
import sys
import tempfile

import test_cli
import test_clip


def main():
    test_cli.SIEVE = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        test_clip.check_experiment_vtp(tmp, test_clip.make_data(tmp))
    return test_cli.report("vtp")


if __name__ == "__main__":
    sys.exit(main())
