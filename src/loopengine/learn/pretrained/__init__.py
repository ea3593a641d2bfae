"""Pretrained models shipped with the package, addressable from a task file as
`model.init_from = "pretrained:NAME"`.

Each NAME has two files here: `NAME.pt`, a weights-only torch file ({"model": state dict,
"vocabulary": the problem tokens by name, "model_shape": layers/heads/width/context}), and
`NAME.json`, how it was made (the training task file, the data generator's settings, the
learning curve). They are package data: `torch.load(weights_only=True)` reads the weights, and
nothing in them is executed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

PREFIX = "pretrained:"


DIRECTORY = Path(__file__).resolve().parent  # installed as package data beside this file


def available() -> list[str]:
    return sorted(p.stem for p in DIRECTORY.glob("*.pt"))


def path_of(name: str) -> Path:
    return DIRECTORY / f"{name}.pt"


def load(name: str) -> tuple[dict[str, torch.Tensor], list[str], dict[str, Any]]:
    """(weights as float32, vocabulary, model shape) of a shipped model; KeyError if unknown."""
    if name not in available():
        raise KeyError(name)
    data = torch.load(path_of(name), map_location="cpu", weights_only=True)
    state = {k: v.float() for k, v in data["model"].items()}
    return state, list(data["vocabulary"]), dict(data["model_shape"])


def record(name: str) -> dict[str, Any]:
    """NAME.json: how a shipped model was made (plain JSON, read as data)."""
    return json.loads(path_of(name).with_suffix(".json").read_text())


def save(name: str, state: dict[str, torch.Tensor], vocabulary: list[str], model_shape: dict[str, Any],
         record: dict[str, Any], directory: Path | None = None) -> Path:
    """Write NAME.pt (weights in float16: half the size, and the proposer samples the same) and
    NAME.json. `directory` defaults to this package's folder (for `ship`)."""
    directory = Path(directory) if directory is not None else DIRECTORY
    path = directory / f"{name}.pt"
    torch.save({"model": {k: v.detach().to("cpu", torch.float16) for k, v in state.items()},
                "vocabulary": list(vocabulary), "model_shape": dict(model_shape)}, path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return path
