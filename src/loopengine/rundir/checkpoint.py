"""Checkpoint codec: the loop's state as tensors and plain data, so `model.pt` loads with
`torch.load(..., weights_only=True)`.

A run directory is data that people send each other. A pickle can run any code when it is
loaded, so a checkpoint must never need one: `encode` turns everything the loop carries
between generations (model and optimizer state, LoopState with its EliteArchive and Pools,
sets of fingerprints, training examples, numpy arrays, the problem's state_dict, RNG
states) into tensors, dicts, lists, tuples, str, int, float, bool and None, which the
weights-only unpickler reads without importing or calling anything; `decode` turns it back.

Anything that is not one of those plain types is written as a tagged dict
`{TAG: kind, ...}`:
- numpy arrays: dtype string, shape and the raw bytes as a uint8 tensor (bit-exact);
  object arrays (Pool.origin) element by element;
- numpy scalars, bytes, sets (a set of 64-bit ints, the novelty fingerprints, as one sorted
  uint64 array: compact, and independent of set iteration order);
- dataclasses, but only the engine's own types listed in DATACLASSES (an allowlist: a
  checkpoint cannot make `decode` build anything else);
- a dict that happens to hold the tag as a key, so no user data is misread as a tag.
An unknown type is an error at write time, never silently pickled. Tensors are written as CPU
tensors whatever device they lived on, so a checkpoint is the same data on every machine, and a
run trained on a GPU resumes on a CPU and back (the model and optimizer load onto the device of
the run that reads them).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np
import torch

TAG = "__loopengine__"
# The dataclasses a checkpoint may contain: tag name -> "module:Class", imported on decode.
DATACLASSES: dict[str, str] = {
    "LoopState": "loopengine.loop:LoopState",
    "EliteArchive": "loopengine.selection:EliteArchive",
    "Pool": "loopengine.pool:Pool",
}
_PLAIN = (str, int, float, bool, type(None))
_U64 = 1 << 64


class CheckpointFormatError(ValueError):
    """A checkpoint holds something `decode` does not know (damaged or not ours)."""


def _dataclass_name(value: Any) -> str | None:
    cls = type(value)
    for name, where in DATACLASSES.items():
        module, qual = where.split(":")
        if cls.__name__ == qual and cls.__module__ == module:
            return name
    return None


def _array(arr: np.ndarray) -> dict[str, Any]:
    if arr.dtype.hasobject:
        return {TAG: "objarray", "shape": list(arr.shape), "items": [encode(v) for v in arr.reshape(-1).tolist()]}
    data = arr.tobytes(order="C")  # (not ascontiguousarray: it turns a 0-d array into 1-d)
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
    return {TAG: "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape), "data": raw}


def _set(items: set | frozenset) -> dict[str, Any]:
    if all(type(v) is int and 0 <= v < _U64 for v in items):
        return {TAG: "set_u64", "data": _array(np.array(sorted(items), dtype=np.uint64))}
    return {TAG: "set", "items": [encode(v) for v in items]}


def encode(value: Any) -> Any:
    """`value` as tensors and plain types (see the module docstring)."""
    if isinstance(value, torch.Tensor):
        # CPU tensors (no copy when already there): a checkpoint written on a GPU then loads
        # on any machine, and decode's numpy views need host memory anyway
        return value.detach().cpu()
    if type(value) in _PLAIN:
        return value
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, np.generic):
        return {TAG: "npscalar", "data": _array(np.asarray(value))}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "data": _array(np.frombuffer(bytes(value), dtype=np.uint8))}
    if isinstance(value, (set, frozenset)):
        return _set(value)
    if isinstance(value, tuple):
        return tuple(encode(v) for v in value)
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if TAG in value or not all(type(k) in _PLAIN for k in value):
            return {TAG: "dict", "items": [(encode(k), encode(v)) for k, v in value.items()]}
        return {k: encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _dataclass_name(value)
        if name is not None:
            return {TAG: "dataclass", "type": name,
                    "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise TypeError(f"checkpoint cannot hold a {type(value).__module__}.{type(value).__qualname__} "
                    "(only tensors, plain data, numpy arrays and the engine's own dataclasses)")


def _decode_array(spec: dict[str, Any]) -> np.ndarray:
    if spec.get(TAG) == "objarray":
        out = np.empty(len(spec["items"]), dtype=object)
        out[:] = [decode(v) for v in spec["items"]]
        return out.reshape(tuple(spec["shape"]))
    dtype = np.dtype(spec["dtype"])
    if dtype.hasobject:
        raise CheckpointFormatError("an ndarray entry claims an object dtype")
    data = spec["data"]
    if not isinstance(data, torch.Tensor):
        raise CheckpointFormatError("an ndarray entry has no byte tensor")
    return np.frombuffer(data.numpy().tobytes(), dtype=dtype).reshape(tuple(spec["shape"])).copy()


def _decode_dataclass(spec: dict[str, Any]) -> Any:
    where = DATACLASSES.get(spec.get("type"))
    if where is None:
        raise CheckpointFormatError(f"unknown type {spec.get('type')!r} (not one of {', '.join(DATACLASSES)})")
    module, qual = where.split(":")
    cls = getattr(importlib.import_module(module), qual)
    names = {f.name for f in dataclasses.fields(cls)}
    fields = spec["fields"]
    if set(fields) != names:
        raise CheckpointFormatError(f"{qual} fields {sorted(fields)} do not match {sorted(names)}")
    obj = cls.__new__(cls)  # the saved fields as they were, without __init__/__post_init__ side effects
    for name, v in fields.items():
        object.__setattr__(obj, name, decode(v))
    return obj


def _decode_tagged(spec: dict[str, Any]) -> Any:
    kind = spec[TAG]
    if kind in ("ndarray", "objarray"):
        return _decode_array(spec)
    if kind == "npscalar":
        return _decode_array(spec["data"])[()]
    if kind == "bytes":
        return _decode_array(spec["data"]).tobytes()
    if kind == "set_u64":
        return set(_decode_array(spec["data"]).tolist())
    if kind == "set":
        return {decode(v) for v in spec["items"]}
    if kind == "dict":
        return {decode(k): decode(v) for k, v in spec["items"]}
    if kind == "dataclass":
        return _decode_dataclass(spec)
    raise CheckpointFormatError(f"unknown entry kind {kind!r}")


def decode(value: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(value, dict):
        if TAG in value:
            try:
                return _decode_tagged(value)
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, CheckpointFormatError):
                    raise
                raise CheckpointFormatError(f"damaged {value.get(TAG)!r} entry ({type(exc).__name__}: {exc})") from None
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode(v) for v in value)
    return value
