"""A small decoder-only transformer and batched sampling with a KV cache.

Sequences are [BOS] prompt [SEP] answer [EOS]; unconditional problems have an empty prompt.
Engine ids 0..3 are reserved (PAD, BOS, SEP, EOS); problem token i is id i + 4, so a problem's
vocabulary is fixed for the whole run and checkpoints never drift between generations.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from loopengine.errors import ConfigError

if TYPE_CHECKING:
    from loopengine.config import Task
    from loopengine.problems.base import Problem

PAD, BOS, SEP, EOS = 0, 1, 2, 3
N_SPECIAL = 4


DEVICE_ENV = "LOOPENGINE_DEVICE"


def pick_device() -> torch.device:
    """Where the model trains and samples: the GPU when there is one, else the CPU.

    LOOPENGINE_DEVICE=cpu | cuda | cuda:N forces one (auto or unset: the default). An
    environment variable, not a task key, because the device is a property of the machine,
    not of the experiment: a run directory copied to a machine without a GPU resumes there
    unchanged (checkpoints hold CPU tensors, see rundir/checkpoint.py)."""
    wanted = os.environ.get(DEVICE_ENV, "").strip().lower()
    if wanted in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(DEVICE_ENV, None, f"cpu, cuda, cuda:N or auto (got {wanted!r})")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            build = torch.version.cuda or "no"
            raise ConfigError(DEVICE_ENV, None, f"{wanted} asks for a GPU, and torch sees {count} "
                                                f"(torch {torch.__version__}, CUDA build: {build})")
    return device


def set_cpu_threads(threads: int) -> None:
    """Use the cores we were given; torch's default can oversubscribe next to C++ kernels."""
    torch.set_num_threads(max(1, threads or os.cpu_count() or 1))


@dataclass(frozen=True)
class ModelShape:
    vocab: int  # problem tokens + N_SPECIAL
    context: int
    layers: int
    heads: int
    width: int
    dropout: float = 0.0


def mask_disallowed(logits: torch.Tensor, constraint) -> None:
    """Set to -inf the logits of tokens the constraint forbids at this step. A row left
    with no allowed token may always end, so sampling never sees an all -inf row."""
    tokens_ok, eos_ok = constraint.allowed()
    eos_ok = eos_ok | ~tokens_ok.any(dim=1)
    logits[:, N_SPECIAL:N_SPECIAL + tokens_ok.shape[1]].masked_fill_(~tokens_ok, -math.inf)
    logits[:, EOS].masked_fill_(~eos_ok, -math.inf)


class Block(nn.Module):
    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.heads = shape.heads
        self.ln1 = nn.LayerNorm(shape.width)
        self.qkv = nn.Linear(shape.width, 3 * shape.width)
        self.proj = nn.Linear(shape.width, shape.width)
        self.ln2 = nn.LayerNorm(shape.width)
        self.mlp = nn.Sequential(
            nn.Linear(shape.width, 4 * shape.width), nn.GELU(), nn.Linear(4 * shape.width, shape.width)
        )
        self.dropout = shape.dropout

    def forward(self, x: torch.Tensor, cache: list | None = None, keep_from: int = 0) -> torch.Tensor:
        """keep_from > 0: return only positions keep_from.. (their queries still see every
        earlier key), skipping the attention output and MLP of rows nobody reads."""
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        split = lambda z: z.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        if cache is not None:
            if cache:  # decoding: append this step's keys/values to the cache
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        dropout = self.dropout if self.training else 0.0
        if keep_from:
            # query i (position keep_from + i) sees keys 0..keep_from + i
            mask = torch.ones(t - keep_from, t, dtype=torch.bool, device=x.device).tril(keep_from)
            y = F.scaled_dot_product_attention(q[:, :, keep_from:], k, v, attn_mask=mask, dropout_p=dropout)
            x, t = x[:, keep_from:], t - keep_from
        else:
            # With a cache, a single new query may attend to every cached key: no mask needed.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, dropout_p=dropout)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        if shape.width % shape.heads:
            raise ValueError(f"model.width ({shape.width}) must be a multiple of model.heads ({shape.heads})")
        self.shape = shape
        self.tok = nn.Embedding(shape.vocab, shape.width)
        self.pos = nn.Embedding(shape.context, shape.width)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.layers))
        self.ln = nn.LayerNorm(shape.width)
        self.head = nn.Linear(shape.width, shape.vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, start: int = 0, caches: list | None = None,
                keep_from: int = 0) -> torch.Tensor:
        """Logits of every position, or (keep_from > 0, training only) of positions
        keep_from.. : the last block then skips the rows before it (a prompt's rows carry
        no loss), about a third of the work for the integer tasks."""
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(pos)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], keep_from if i == last else 0)
        return self.head(self.ln(x))

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        max_new: int,
        temperature: float,
        generator: torch.Generator | None = None,
        constraint=None,
        begun: int = 0,
    ) -> list[list[int]]:
        """Continue equal-length prefixes ([BOS] prompt [SEP] and `begun` answer tokens) until
        EOS or max_new tokens. temperature 0 = greedy. Returns problem-token ids (engine id -
        N_SPECIAL) per row, the begun tokens first. `constraint`: the problem's decoding
        constraint (Problem.decoding_constraint) or None; it is told the begun tokens, so a
        completed answer obeys it as a whole."""
        self.eval()
        b = prefix.shape[0]
        given = prefix[:, prefix.shape[1] - begun:]
        if constraint is not None:
            constraint.reset(b, prefix.device)
            for column in given.T:
                constraint.update(column - N_SPECIAL)
        max_new = min(max_new, self.shape.context - prefix.shape[1])
        caches: list = [[] for _ in self.blocks]
        logits = self(prefix, 0, caches)[:, -1]
        out = torch.full((b, max(max_new, 0)), PAD, dtype=torch.long, device=prefix.device)
        done = torch.zeros(b, dtype=torch.bool, device=prefix.device)
        banned = torch.tensor([PAD, BOS, SEP], device=prefix.device)
        pos = prefix.shape[1]
        for step in range(max_new):
            logits[:, banned] = -math.inf
            if constraint is not None:
                mask_disallowed(logits, constraint)
            if temperature <= 0:
                nxt = logits.argmax(dim=-1)
            else:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, EOS), nxt)
            out[:, step] = nxt
            done |= nxt == EOS
            if constraint is not None:
                constraint.update(torch.where(done, -1, nxt - N_SPECIAL))
            if bool(done.all()) or step == max_new - 1:
                break
            logits = self(nxt[:, None], pos, caches)[:, -1]
            pos += 1
        rows = []
        for start, row in zip(given.tolist(), out.tolist()):
            answer = [tok - N_SPECIAL for tok in start]
            for tok in row:
                if tok in (EOS, PAD):
                    break
                answer.append(tok - N_SPECIAL)
            rows.append(answer)
        return rows


def adamw_options() -> dict[str, bool]:
    """fused=True where this torch has the fused AdamW for CPU (one kernel per step instead
    of a dozen per parameter: ~1.2x training examples per CPU second at the default GCD
    size, benchmarks/train_throughput.py); plain AdamW elsewhere."""
    try:
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return {}
    return {"fused": True}


def shape_for(task: Task, problem: Problem) -> ModelShape:
    """The model a task asks for, sized to the problem's vocabulary and longest sequence."""
    m = task.model
    prompt = problem.max_prompt_tokens() if problem.conditional else 0
    need = prompt + problem.codec.max_answer_tokens() + 3  # BOS, SEP, EOS
    return ModelShape(vocab=len(problem.codec.vocabulary()) + N_SPECIAL, context=m.context or need,
                      layers=m.layers, heads=m.heads, width=m.width, dropout=m.dropout)


def build(task: Task, problem: Problem, seed: int,
          device: torch.device) -> tuple[Transformer, torch.optim.Optimizer]:
    """A fresh model (its initial weights follow `seed`) and its optimizer."""
    torch.manual_seed(seed)
    model = Transformer(shape_for(task, problem)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=task.train.lr, weight_decay=task.train.weight_decay,
                                  **adamw_options())
    return model, optimizer
