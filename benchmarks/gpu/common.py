"""What the GPU scripts share: numeric precision as a context, and model sizes as text.

benchmarks/ is put on sys.path so the scripts here reuse train_throughput.py, gcd_base30.py
and two_set.py instead of copying them."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

PRECISIONS = ("fp32", "tf32", "bf16")


@contextlib.contextmanager
def precision(device: torch.device, mode: str) -> Iterator[None]:
    """fp32: plain float32. tf32: float32 tensors, matmuls on TF32 tensor cores (GPUs; the
    CPU ignores it). bf16: autocast to bfloat16 (matmuls and attention in bf16, weights,
    optimizer and loss in float32), with TF32 for what stays float32."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {mode!r})")
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest" if mode == "fp32" else "high")
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == "bf16"):
            yield
    finally:
        torch.set_float32_matmul_precision(before)


def parse_model(spec: str) -> tuple[int, int, int]:
    """'4x512x8' -> (layers 4, width 512, heads 8); 'LxW' takes heads = W // 64, at least 2."""
    parts = [int(p) for p in spec.lower().split("x")]
    if len(parts) == 2:
        parts.append(max(2, parts[1] // 64))
    if len(parts) != 3 or min(parts) < 1 or parts[1] % parts[2]:
        raise SystemExit(f"--model {spec!r}: expected LAYERSxWIDTH[xHEADS], width a multiple of heads")
    return parts[0], parts[1], parts[2]


def model_overrides(spec: str) -> list[str]:
    layers, width, heads = parse_model(spec)
    return [f"model.layers={layers}", f"model.width={width}", f"model.heads={heads}"]


def gpu_line() -> str:
    if not torch.cuda.is_available():
        return f"torch {torch.__version__}: no CUDA device"
    p = torch.cuda.get_device_properties(0)
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}): {p.name}, {p.total_memory / 2**30:.0f} GiB, "
            f"{p.multi_processor_count} SMs")
