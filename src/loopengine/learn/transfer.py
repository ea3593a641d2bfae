"""Warm start: begin a run's model from the model of an earlier run (`[model] init_from`).

The use it is built for is the size curriculum of C4-free graphs (a model trained at n
starts the run at n + 1), but nothing here is specific to a problem. Weights are matched by
meaning, not by index:
- token embeddings and output rows by the token's *name* (the vocabulary strings the
  checkpoint records): edge "3-17" at n = 40 is edge "3-17" at n = 41, although its id
  differs, because pair ids are laid out row by row. Tokens the source never had (edges to
  the new vertex) keep their fresh initialisation;
- position embeddings by position: the first min(source, target) rows;
- every other weight by name, and it must have the same shape (same layers, width, heads).
The optimizer starts fresh: its moments belong to the old vocabulary's rows.

Only data is read from the source run: its last complete generation's model.pt, weights-only
(archive.load_checkpoint) and decoded by the checkpoint codec's allowlist.
"""
from __future__ import annotations

from pathlib import Path

import torch

from loopengine.errors import ArchiveError, ConfigError
from loopengine.learn import pretrained
from loopengine.learn.model import N_SPECIAL, Transformer
from loopengine.rundir import archive
from loopengine.rundir.checkpoint import CheckpointFormatError, decode

KEY = "model.init_from"
BY_TOKEN = ("tok.weight", "head.weight")
BY_POSITION = ("pos.weight",)


def source_model(run_dir: Path, source: Path | str) -> tuple[dict[str, torch.Tensor], list[str], int]:
    """The model weights and vocabulary of a run's last complete generation, and its number.
    Errors name the task file and key (`source`, KEY) and then the run directory."""
    done = archive.complete_generations(run_dir)
    if not done:
        raise ConfigError(source, KEY, f"a run directory with a complete generation (gen_*/model.pt); {run_dir} "
                                       f"has none")
    try:
        checkpoint = decode(archive.load_checkpoint(run_dir, done[-1]))
    except (ArchiveError, CheckpointFormatError) as exc:
        raise ConfigError(source, KEY, f"a readable loopengine checkpoint ({exc})") from None
    state, vocabulary = checkpoint.get("model"), checkpoint.get("vocabulary")
    if not isinstance(state, dict) or not state:
        raise ConfigError(source, KEY, f"a run that trained a model ({run_dir} ran with model.enabled = false)")
    if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
        raise ConfigError(source, KEY, f"a checkpoint that records its vocabulary ({run_dir} was written before "
                                       f"checkpoints did)")
    return state, vocabulary, done[-1]


def token_rows(source_vocab: list[str], target_vocab: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(target ids, source ids) of the tokens both vocabularies share, engine tokens included."""
    where = {name: i + N_SPECIAL for i, name in enumerate(source_vocab)}
    pairs = [(i, i) for i in range(N_SPECIAL)]
    pairs += [(i + N_SPECIAL, where[name]) for i, name in enumerate(target_vocab) if name in where]
    target, source = zip(*pairs)
    return torch.tensor(target), torch.tensor(source)


@torch.no_grad()
def load_matching(model: Transformer, state: dict[str, torch.Tensor], source_vocab: list[str],
                  target_vocab: list[str]) -> int:
    """Copy `state` into `model` as the module docstring says; the number of shared problem
    tokens. A ValueError names the first weight whose shape does not fit."""
    own = model.state_dict()
    missing = sorted(set(own) ^ set(state))
    if missing:
        raise ValueError(f"the source model has other weights ({', '.join(missing[:4])}): not the same layers")
    target_ids, source_ids = token_rows(source_vocab, target_vocab)
    for name, weight in own.items():
        src = state[name].to(weight.dtype)
        if name in BY_TOKEN or name in BY_POSITION:
            if src.shape[1:] != weight.shape[1:]:
                raise ValueError(f"{name} is {tuple(src.shape)} in the source, {tuple(weight.shape)} here: "
                                 f"not the same model.width")
            if name in BY_TOKEN:
                weight[target_ids.to(weight.device)] = src[source_ids].to(weight.device)
            else:
                rows = min(len(src), len(weight))
                weight[:rows] = src[:rows].to(weight.device)
        elif src.shape != weight.shape:
            raise ValueError(f"{name} is {tuple(src.shape)} in the source, {tuple(weight.shape)} here: "
                             f"set model.layers, heads and width as the source run had them")
        else:
            weight.copy_(src.to(weight.device))
    return len(target_ids) - N_SPECIAL


def warm_start(model: Transformer, init_from: str | Path, target_vocab: list[str], source: Path | str) -> str:
    """Begin `model` from `init_from`: a run directory (its last model) or "pretrained:NAME"
    (a model shipped with the package, learn/pretrained/); a one-line account of what was
    carried over."""
    init_from = str(init_from)
    if init_from.startswith(pretrained.PREFIX):
        name = init_from[len(pretrained.PREFIX):]
        try:
            state, source_vocab, shape = pretrained.load(name)
        except KeyError:
            raise ConfigError(source, KEY, f"a shipped model, one of: {', '.join(pretrained.available()) or 'none'} "
                                           f"(got {name!r})") from None
        origin = f"{init_from} ({shape.get('layers')} layers x {shape.get('width')} wide)"
    else:
        state, source_vocab, g = source_model(Path(init_from), source)
        origin = f"{init_from} (generation {g})"
    try:
        shared = load_matching(model, state, source_vocab, target_vocab)
    except ValueError as exc:
        raise ConfigError(source, KEY, f"a model that fits this one: {exc}") from None
    return (f"model starts from {origin}: {shared} of {len(target_vocab)} tokens carried over, "
            f"{len(target_vocab) - shared} new")
