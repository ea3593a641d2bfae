"""Task files: TOML in, typed and validated settings out.

Validation is pydantic's (every section forbids unknown keys); this module only turns its
errors into one message a user can act on: the file, the dotted key, what was expected.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loopengine.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Upper bounds on sizes, so a typo (initial_pool = 1e12) is a one-line error, not a
# MemoryError deep in numpy or a run that swaps for hours. Every candidate costs at least a
# row of its encoding plus its tokens and a few Python objects (about 1 KB for the built-in
# problems), so 10 million rows per generation is already more than 10 GB.
MAX_ROWS = 10_000_000
# run_dir is "<task.name>-<seed>": one path component, which filesystems cap at 255 bytes
MAX_NAME = 100
MAX_STEPS = 100_000_000  # training steps per generation: years of CPU time beyond this
MAX_BATCH = 1 << 16  # examples per training/sampling batch; far beyond any CPU or GPU memory


class TaskSection(Section):
    # `examples` gives the value `loopengine config` prints for a key that has no default
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$", examples=["my-run"],
                      description="run name: the run goes to <out>/<name>-<seed>")
    problem: str = Field(min_length=1, examples=["c4free"],
                         description="a built-in problem (c4free, lyapunov, gcd, modmul, modadd) or "
                                     "path/to/file.py:ClassName")
    seed: int = Field(0, ge=0, lt=1 << 63, description="seed of every random choice: same task file and seed, "
                                                        "same archive")
    generations: int = Field(10, ge=1, le=1_000_000, description="generations to run, generation 0 included")
    out: str = Field("runs", description="directory that receives the run directory")


class LoopSettings(Section):
    initial_pool: int = Field(2000, ge=1, le=MAX_ROWS, description="candidates in generation 0")
    samples_per_generation: int = Field(500, ge=1, le=MAX_ROWS, description="starts per generation after the "
                                        "first (rows sent to local search), split among the start sources")
    keep: int = Field(200, ge=1, le=MAX_ROWS, description="selected candidates that train the model")
    elite_size: int = Field(200, ge=0, le=MAX_ROWS, description="size of the archive of best-ever candidates")
    elite_reentry: int = Field(50, ge=0, le=MAX_ROWS, description="the top elites the elite start source cycles "
                               "through (0 = no elite source)")
    generator_fraction: float = Field(
        0.5, ge=0, le=1,
        description="conditional problems: share of fresh training examples drawn from the problem's generator",
    )
    stop_at_best_known: bool = Field(
        False, description="stop once the best score reaches the problem's best known value (summary.json "
                           "records the generation that did)")


class ModelSettings(Section):
    # false = search only: every generation starts local search from the problem's own random
    # starts (plus elites), never from a model. The baseline every problem gets for free.
    enabled: bool = Field(True, description="false = local search alone, no model")
    layers: int = Field(2, ge=1, le=48, description="transformer layers")
    heads: int = Field(4, ge=1, le=64, description="attention heads per layer")
    width: int = Field(128, ge=8, le=8192, description="embedding width (a multiple of heads)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability while training")
    context: int = Field(0, ge=0, le=1 << 16, description="0 = derived from the problem's longest prompt + answer")
    # Size curricula: a model trained at n starts the run at n + 1 (transfer.py matches
    # token embeddings by token name, so edge "3-17" keeps what it learnt).
    init_from: str | None = Field(None, min_length=1, description="a run directory whose last model starts this "
                                  "run's model, or \"pretrained:NAME\" for a model shipped with loopengine "
                                  "(same layers, heads, width); unset = fresh weights")


class TrainSettings(Section):
    first_steps: int = Field(500, ge=0, le=MAX_STEPS, description="steps in generation 0 (training from scratch)")
    steps: int = Field(200, ge=0, le=MAX_STEPS, description="fine-tuning steps per later generation")
    batch_size: int = Field(64, ge=1, le=MAX_BATCH, description="examples per training step")
    lr: float = Field(5e-4, gt=0, description="learning rate (AdamW)")
    # A constant lr leaves a long run oscillating around its plateau (GCD base 30: 92.5-93.5%,
    # 16-21 correct gcds from one generation to the next); decaying it lets the last
    # generations settle. Per generation, so a resumed run gets the same rates.
    lr_final: float | None = Field(None, gt=0, description="lr of the last generation, cosine from lr "
                                   "over task.generations (unset = constant lr)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    repeat_set_size: int = Field(0, ge=0, le=MAX_ROWS,
                                 description="two-set training: size of the repeated set (0 = off)")
    repeat_prob: float = Field(0.0, ge=0, le=1, description="two-set training: share of each batch from it")
    # The other sources' starts of the next generation read neither the model nor the torch
    # RNG, so searching them during the fine-tuning leaves the archive unchanged (loop.py,
    # Loop.train_overlapped). Where both would take every core they only compete, hence "auto"
    # (session.overlaps_training).
    overlap: Literal["auto", "on", "off"] = Field(
        "auto", description="fine-tune while the next generation's non-model starts are searched: "
                            "auto = when the model is on a GPU or kernel and torch threads fit the cores")


class SamplingSettings(Section):
    temperature: float = Field(1.0, gt=0, le=10, description="sampling temperature at the start (1 = the model's "
                                                             "own distribution, lower = greedier)")
    batch_size: int = Field(256, ge=1, le=MAX_BATCH, description="samples drawn per forward pass")
    min_unique_fraction: float = Field(
        0.0, ge=0, le=1, description="raise the temperature when fewer samples than this are unique (0 = off)")
    temperature_step: float = Field(0.1, ge=0, description="added to the temperature each time diversity is too low")
    max_temperature: float = Field(2.0, gt=0, le=10, description="the temperature is never raised above this")

    @model_validator(mode="after")
    def _cap_above_start(self) -> SamplingSettings:
        # a cap below the starting temperature would make "raising" it a silent drop
        if self.min_unique_fraction > 0 and self.max_temperature < self.temperature:
            raise ValueError(f"max_temperature ({self.max_temperature}) must be at least temperature "
                             f"({self.temperature}) when min_unique_fraction is on")
        return self


SELECTION_STEPS = ("verified_only", "dedup", "rank", "elite_fraction")


class SelectionSettings(Section):
    guard: bool = Field(True, description="master switch: false trains on raw candidates (no verifier, "
                                          "no dedup, no ranking, no elite replay)")
    verified_only: bool = Field(True, description="only candidates the verifier accepts are trained on")
    dedup: bool = Field(True, description="drop repeats (the problem's canonical key)")
    rank: bool = Field(True, description="keep the best-scoring candidates, not the first ones")
    elite_fraction: float = Field(0.5, ge=0, le=1,
                                  description="share of the training set replayed from the elite archive")

    @model_validator(mode="after")
    def _guard_off_means_all_off(self) -> SelectionSettings:
        if self.guard:
            return self
        explicit = [k for k in SELECTION_STEPS if k in self.model_fields_set and getattr(self, k)]
        if explicit:
            raise ValueError(f"guard = false switches every selection step off; remove {', '.join(explicit)} "
                             "or set guard = true")
        # assigning through __dict__ keeps model_fields_set as the user wrote it
        self.__dict__.update(verified_only=False, dedup=False, rank=False, elite_fraction=0.0)
        return self


class SourcesSettings(Section):
    """How the starts of a generation are split among the start sources (sources.py)."""

    adaptive: bool = Field(True, description="shares follow each source's yield (rows that entered the elite "
                                             "archive or improved the best, per start); false = equal shares")
    floor: float = Field(0.1, ge=0, le=1, description="least share of any source (capped at an equal share)")
    window: int = Field(3, ge=1, le=1000, description="generations over which a source's yield is measured")
    train_by_share: bool = Field(True, description="fine-tuning steps scaled by the model's share over an equal "
                                                   "share (at most 1): a model held at its floor trains less")
    cost: Literal["starts", "seconds"] = Field(
        "starts", description='what a source pays with: "starts" (deterministic: same seed, same archive) or '
                              '"seconds" (wall clock: kernel, sampling and training time; the model trains at most '
                              "its share of the generation's kernel time; runs are not reproducible)")
    exclude: list[Literal["random", "curriculum", "elites"]] = Field(
        default_factory=list, description='start sources left out, e.g. ["random"] for a model-only loop (the '
                                          "model source is left out by model.enabled = false)")


class KernelSettings(Section):
    local_search: str = Field("default", description='"default", "none", a built-in name, file.cpp or module:function')
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the kernel on every "
                                   "start, as the kernel declares them, e.g. { rounds = 300 }")
    elite_params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the kernel on "
                                         "the elites that re-enter local search, e.g. { kick = 3 }")


class ExecutionSettings(Section):
    backend: Literal["local", "ray"] = Field("local", description="where kernel chunks run: processes on this "
                                             "machine, or a Ray cluster (docs/ray.md)")
    address: str | None = Field(None, description='backend = "ray": the cluster to join, "auto" or "HEAD_IP:6379" '
                                "(unset = a private Ray instance on this machine)")
    threads: int = Field(0, ge=0, le=4096, description="0 = all cores")
    torch_threads: int | None = Field(None, ge=0, le=4096,
                                      description="threads for model training/sampling (default: threads)")
    kernel_threads: int | None = Field(None, ge=0, le=4096,
                                       description="threads for kernels and verifiers (default: threads)")
    chunk_size: int = Field(256, ge=1, le=MAX_ROWS,
                            description="rows per kernel batch (fixes seeding, whatever the backend)")
    timeout_s: float = Field(600.0, gt=0, le=1e7, description="per kernel chunk; user kernels on every backend")
    retries: int = Field(2, ge=0, le=100, description="fresh workers a chunk may get after its worker died")


class Task(Section):
    # each section's description heads its table in `loopengine config`
    task: TaskSection = Field(description="what to run, under which name and seed")
    problem: dict[str, Any] = Field(default_factory=dict, description="the problem's own settings, validated by the "
                                    "problem: `loopengine config --problem NAME` lists them")
    loop: LoopSettings = Field(default_factory=LoopSettings,
                               description="the cycle: how many candidates each generation makes, keeps and remembers")
    model: ModelSettings = Field(default_factory=ModelSettings, description="the transformer that proposes candidates")
    train: TrainSettings = Field(default_factory=TrainSettings,
                                 description="training: from scratch in generation 0, fine-tuning after")
    sampling: SamplingSettings = Field(default_factory=SamplingSettings,
                                       description="drawing candidates from the model, and its diversity control")
    selection: SelectionSettings = Field(default_factory=SelectionSettings, description="the collapse guard: which "
                                         "candidates train the model (docs/collapse.md); each step can be switched off")
    sources: SourcesSettings = Field(default_factory=SourcesSettings, description="start sources: how each "
                                     "generation splits its starts among model, random, curriculum and elites")
    kernel: KernelSettings = Field(default_factory=KernelSettings,
                                   description="local search: the kernel that improves every start, and its arguments")
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings,
                                         description="where kernels run: threads, chunks, timeouts, backend")


def describe_error(err: dict[str, Any]) -> str:
    """One pydantic error -> 'what was expected, what was given'."""
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; `loopengine config --problem NAME` lists every key)"
    if err["type"] == "missing":
        return "required key is missing"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and err["type"] != "missing":
        got = repr(err["input"])
        # a 5,000-character value would drown the message: show its start and its length
        got = got if len(got) <= 80 else f"{got[:60]}... ({len(got)} characters)"
        return f"{msg} (got {got})"
    return msg


def raise_validation(file: Path | str, err: ValidationError, prefix: str = "") -> None:
    first = err.errors()[0]
    key = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    raise ConfigError(file, key or None, describe_error(first)) from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` with value read as a TOML value when it parses, else as a string."""
    if "=" not in item:
        raise ConfigError("--set", item, "expected key.path=value")
    key, raw = item.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError("--set", item, "expected key.path=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError("--set", ".".join(path), f"{part} is not a table")
        node[path[-1]] = value


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(path, None, "task file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not a UTF-8 text file") from None


def validate_task(data: dict[str, Any], source: Path | str) -> Task:
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        raise_validation(source, exc)
        raise  # unreachable: keeps type checkers calm


def load_task(path: str | Path, overrides: list[str] | None = None) -> tuple[Task, dict[str, Any]]:
    """Read, override and validate a task file. Returns the settings and the raw dict
    (the raw dict is what gets written to the run's task.toml)."""
    path = Path(path)
    data = read_toml(path)
    apply_overrides(data, overrides or [])
    return validate_task(data, path), data


def run_directory(task: Task, source: Path | str) -> Path:
    """Where a run of `task` goes: task.out/<name>-<seed>. task.out (--out) must name a directory
    or a path that can become one; checked before anything is built or written, so a file in
    the way is one line naming the key, not a traceback."""
    run_dir = Path(task.task.out) / f"{task.task.name}-{task.task.seed}"
    for part in (run_dir, *run_dir.parents):  # the nearest part that exists decides
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                raise ConfigError(source, "task.out", f"expected a directory to hold the run {run_dir}, "
                                  f"but {part} is a file, not a directory")
            break
    return run_dir
