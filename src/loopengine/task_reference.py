"""`loopengine config`: the task file's reference, printed from the settings models themselves.

Every key, its default, its bounds and its description come from the pydantic models
(config.Task and its sections, a problem's Settings), so the reference cannot drift from what
the validator accepts. The output is a TOML task file: each key under a `# description (bounds)`
comment, keys that default to unset commented out, so it can be copied as a starting point.
"""
from __future__ import annotations

import re
import textwrap
import types
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import tomli_w
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from loopengine.config import Task
from loopengine.errors import ConfigError

if TYPE_CHECKING:
    from loopengine.problems import Problem

WIDTH = 100  # every line fits a 100-column terminal or editor
BAR = "# " + "-" * (WIDTH - 2)


# ---- values and bounds, as a reader writes them ---------------------------------------------

def number(value: int | float) -> str:
    """A bound as a reader would write it: 2^63 rather than 19 digits, 10_000 with separators."""
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= 1e15:
            return repr(value)
        value = int(value)
    if value > 1 << 20 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    if value >= 10**9 and str(value).rstrip("0") == "1":
        return f"10^{len(str(value)) - 1}"
    return f"{value:_}" if abs(value) >= 10_000 else str(value)


def toml_value(value: Any) -> str:
    """A default as TOML: the text a user would type after `key = `."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)  # TOML reads 1_000_000
    if isinstance(value, dict):  # inline, as a task file writes kernel params
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


TYPE_NAMES = {bool: "true or false", int: "integer", float: "number", str: "text", dict: "table", list: "list"}


def type_name(annotation: Any) -> str:
    annotation = strip_optional(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(toml_value(v) for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"list of {type_name(item)}" if item is not Any else "list"
    return TYPE_NAMES.get(origin or annotation, getattr(annotation, "__name__", str(annotation)))


def choices(annotation: Any) -> str:
    values = [toml_value(v) for v in get_args(strip_optional(annotation))]
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


def constraint(field: FieldInfo, name: str) -> Any:
    for item in field.metadata:
        value = getattr(item, name, None)
        if value is not None:
            return value
    return None


def bounds(field: FieldInfo) -> str:
    """The range a value must lie in, e.g. `1 to 128`, `> 0`, `"edges" or "bits"`."""
    if get_origin(strip_optional(field.annotation)) is Literal:
        return choices(field.annotation)
    ge, gt, le, lt = (constraint(field, k) for k in ("ge", "gt", "le", "lt"))
    if ge is not None and le is not None:
        parts = [f"{number(ge)} to {number(le)}"]
    else:
        parts = [f"{op} {number(v)}" for op, v in ((">=", ge), (">", gt), ("<=", le), ("<", lt)) if v is not None]
    lo, hi = constraint(field, "min_length"), constraint(field, "max_length")
    if hi is not None:
        parts.append(f"{lo or 0} to {hi} characters")
    elif lo == 1:
        parts.append("not empty")
    elif lo:
        parts.append(f"at least {lo} characters")
    pattern = constraint(field, "pattern")
    if pattern:
        parts.append(f"matching {pattern}")
    return ", ".join(parts)


# ---- one key, one table -------------------------------------------------------------------

NBSP = "\u00a0"  # textwrap breaks only at ASCII whitespace: this space holds a phrase together


def unbroken(text: str) -> str:
    return text.replace(" ", NBSP)


def comment(text: str) -> list[str]:
    """`# ` lines of at most WIDTH columns. Never breaks inside a word (patterns and paths stay
    whole), an inline table { ... }, a `command` or a span marked with unbroken()."""
    text = re.sub(r"\{[^{}]*\}|`[^`]*`", lambda m: unbroken(m.group()), text)
    lines = textwrap.wrap(text, WIDTH - 2, break_long_words=False, break_on_hyphens=False)
    return ["# " + line.replace(NBSP, " ") for line in lines]


def render_key(key: str, field: FieldInfo, value: Any = PydanticUndefined) -> list[str]:
    """`# description (bounds)` then `key = default`; a key without a value is commented out."""
    if value is PydanticUndefined:
        value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined and field.examples:
        value = field.examples[0]
    unset = value is None or value is PydanticUndefined
    notes = [bounds(field)]
    if unset:  # the line below shows no value, so say what kind of value goes there
        notes.insert(0, type_name(field.annotation))
    if field.is_required():
        notes.insert(0, "required")
    notes = [n for n in notes if n]
    text = (field.description or "").strip()
    if notes:
        text = f"{text} {unbroken('(' + '; '.join(notes) + ')')}".strip()
    line = f"# {key} = ..." if unset else f"{key} = {toml_value(value)}"
    return [*comment(text), line]


def render_table(name: str, model: type[BaseModel], description: str | None, header_note: str = "",
                 values: dict[str, Any] | None = None) -> list[str]:
    lines = [*comment(description or ""), f"[{name}]{header_note}"]
    for key, field in model.model_fields.items():
        lines += ["", *render_key(key, field, (values or {}).get(key, PydanticUndefined))]
    return lines


def problem_summary(cls: type[Problem]) -> str:
    doc = (cls.__dict__.get("__doc__") or "").strip()
    return f"{cls.name or cls.__name__}: {doc.splitlines()[0]}" if doc else (cls.name or cls.__name__)


def problem_table(cls: type[Problem], header_note: str = "") -> list[str]:
    return render_table("problem", cls.Settings, problem_summary(cls), header_note)


# ---- whole files ------------------------------------------------------------------------

def run_name(cls: type[Problem]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", cls.name or cls.__name__.lower())


def engine_tables(problem_spec: str | None, problem_cls: type[Problem] | None) -> list[str]:
    lines: list[str] = []
    for section, field in Task.model_fields.items():
        lines.append("")
        if section == "problem":
            if problem_cls is not None:
                lines += problem_table(problem_cls)
            else:  # no problem named: its table cannot be listed, only pointed to
                lines += [*comment(f"[problem]: {field.description}")]
            continue
        values = {"problem": problem_spec, "name": run_name(problem_cls)} if section == "task" and problem_cls else None
        lines += render_table(section, field.annotation, field.description, values=values)
    return lines


def header(command: str, extra: list[str] = ()) -> list[str]:
    return [
        BAR,
        *comment(f"loopengine task file: every key with its default, bounds and meaning (`{command}`, "
                 "generated from the settings models)."),
        *comment("Keys left out take the default shown; keys commented out are unset unless given. "
                 "Delete what you keep at its default."),
        *extra,
        BAR,
    ]


def render_task(problem: str | None = None) -> str:
    """`loopengine config [--problem NAME]`: a task file with every key at its default."""
    cls = load_problem(problem) if problem else None
    command = "loopengine config" + (f" --problem {problem}" if problem else "")
    return "\n".join([*header(command), *engine_tables(problem, cls)]) + "\n"


def render_all() -> str:
    """docs/task_reference.toml: the engine, then the [problem] table of every built-in problem."""
    from loopengine.problems import BUILTIN_PROBLEMS

    extra = comment("This reference lists one [problem] table per built-in problem, after the engine's "
                    "tables; a task file has one, for its task.problem. `loopengine config --problem NAME` "
                    "prints a task file for one problem.")
    lines = [*header("loopengine config --all", extra), *engine_tables(None, None)]
    for name in BUILTIN_PROBLEMS:
        lines += ["", "", BAR, *problem_table(load_problem(name), f"  # task.problem = {toml_value(name)}")]
    return "\n".join(lines) + "\n"


def load_problem(spec: str) -> type[Problem]:
    from loopengine.problems import load_problem_class

    try:
        return load_problem_class(spec, source="--problem")
    except ConfigError as exc:  # its key says task.problem: here the value came from --problem
        raise ConfigError("--problem", None, exc.expected) from None
