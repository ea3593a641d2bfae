"""Run a benchmark script under a numeric precision (common.precision), on the device the
engine picks:

    python benchmarks/gpu/with_precision.py bf16 benchmarks/two_set.py --tasks gcd ...

The script runs as its own __main__ with the remaining arguments; the precision holds for
everything it does (training, sampling, evaluation)."""
from __future__ import annotations

import runpy
import sys

from common import PRECISIONS, precision

from loopengine.learn.model import pick_device

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in PRECISIONS:
        raise SystemExit(f"usage: with_precision.py {{{','.join(PRECISIONS)}}} SCRIPT [ARGS...]")
    mode, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]
    device = pick_device()
    print(f"{script} on {device}, precision {mode}", flush=True)
    with precision(device, mode):
        runpy.run_path(script, run_name="__main__")
