"""Lyapunov functions for polynomial systems x' = f(x) (Alfarano, Charton, Hayat, arXiv 2410.08304).

Find V with V(0) = 0, V > 0 elsewhere, V radially unbounded and V' = grad V . f <= 0 on R^n.
One class, two modes (`[problem] mode`):
  "one":    the task gives f as strings; the model generates V unconditionally; local search
            on V; objects all share that system.
  "family": a conditional model maps a system (prompt) to V. Seeds come from backward
            generation (known V); targets from a file of systems plus forward-generated ones;
            V found and verified for targets are fed back (expert iteration).
Objects are self-describing float64 rows (loopengine/problems/lyapunov/polynomials.py): the system and
V as coefficient vectors. Score = -(sample-point violations + their relative size) - 1e-3 per
term, valid = no violation on the evaluation points (the C++ falsifier). That is only a
filter: finalize() runs exact SOS certification on the best candidates per target system.
"""
from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from loopengine.pool import Pool
from loopengine.problems.base import ConditionalProblem, ProblemSettings, Summary, SummaryTable
from loopengine.problems.codecs import Codec
from loopengine.problems.lyapunov import tokens as T
from loopengine.problems.lyapunov import v_search
from loopengine.problems.lyapunov.backward import BackwardSpec, backward_example
from loopengine.problems.lyapunov.certificate import GAS, PLAUSIBLE, REJECTED, STABLE, certify
from loopengine.problems.lyapunov.falsify import check, counterexample, describe_counterexample, sample_points
from loopengine.problems.lyapunov.forward import forward_system
from loopengine.problems.lyapunov.polynomials import (
    Layout,
    PolyDict,
    dict_to_vector,
    poly_text,
    primitive,
    system_degree,
    vector_to_dict,
)
from loopengine.problems.lyapunov.systems import integer_scaled, parse_system, read_systems_file

# pool.origin of a V as the model proposed it, before any local search (the "model" start
# source, sources.py; "model+search" once local search changed it)
PROPOSAL = "model"
SDP_SEARCH = "sdp search"  # the source of a V found by finalize's SDP search (v_search.py)
EVAL_SEED = 20241011  # evaluation points differ from the local search's, so search cannot overfit them


class LyapunovSettings(ProblemSettings):
    mode: Literal["family", "one"] = Field("family", description='"one": a single system f; "family": system -> V')
    f: list[str] | None = Field(None, description='mode "one": right-hand sides, e.g. ["-x0**3 + x1", "-x0 - x1"]')
    n: int | None = Field(None, ge=2, le=5, description='mode "one": optional dimension, checked against f')
    n_min: int = Field(2, ge=2, le=5, description='mode "family": fewest variables of a generated system')
    n_max: int = Field(3, ge=2, le=5, description='mode "family": most variables of a system (targets included)')
    v_degree: int = Field(4, ge=2, le=16, description="maximum degree of V (even)")
    f_degree: int = Field(3, ge=1, le=16, description="maximum degree of f (mode one: at least the system's)")
    coef_bound: int = Field(20, ge=1, le=10_000, description="largest |coefficient| of V")
    max_terms: int = Field(8, ge=1, le=40, description="most monomials in V")
    # backward generation (seeds / fresh examples)
    proper_coef_max: int = Field(3, ge=1, le=20, description="backward generation: largest coefficient of V's "
                                 "pure even powers a_i x_i^(2k)")
    cross_terms_max: int = Field(2, ge=0, le=4, description="backward generation: most squared cross terms in V")
    damping_max: int = Field(2, ge=1, le=5, description="backward generation: largest constant damping factor of "
                             "an equation (f_i gets -h_i^2 dV/dx_i)")
    rotation_terms_max: int = Field(1, ge=0, le=4, description="backward generation: most rotation terms per pair of "
                                    "variables (V-preserving, g_ij = -g_ji)")
    f_coef_max: int = Field(99, ge=1, le=9999, description="largest |coefficient| in a generated system")
    max_prompt_tokens: int = Field(200, ge=16, le=2000, description="longest system, in model tokens: longer "
                                   "generated or forward systems are dropped")
    # targets
    targets_file: str | None = Field(None, description="systems file (one per line, ';' between equations)")
    forward_targets: int = Field(6, ge=0, le=10_000, description="random sparse target systems")
    forward_terms: int = Field(2, ge=0, le=6, description="nonlinear terms per equation of a forward system")
    target_seed: int = Field(0, ge=0, description="seed of the forward target systems and the held-out examples "
                             "(separate from task.seed, so runs with different seeds share targets)")
    heldout: int = Field(32, ge=0, le=10_000, description="backward examples held out for model accuracy")
    # verification
    eval_points_per_scale: int = Field(32, ge=4, le=10_000, description="points per scale (1e-3 .. 1e3) where a "
                                       "candidate V is checked for violations (its score and validity)")
    start_terms: int = Field(3, ge=1, le=40, description="random terms in a random start V (mode one's starts, "
                             "and search_starts)")
    certify_seconds: float = Field(180.0, ge=0, description="total SOS certification budget in finalize")
    certify_per_target: int = Field(3, ge=1, le=50, description="distinct candidates tried per target")
    sdp_search_seconds: float = Field(10.0, ge=0, description="per target, when the sampled candidates give no "
                                      "GAS proof: time for the SDP search of V (v_search.py; 0 = off)")
    sdp_search_power: int = Field(6, ge=1, le=8, description="SDP search: V = z^T Q z, z = x_i^k for k <= this")

    @field_validator("f")
    @classmethod
    def _parse_f(cls, value):
        if value is not None:
            parse_system(value, label="f")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.v_degree % 2:
            raise ValueError("v_degree must be even (a positive definite polynomial has even degree), "
                             f"got {self.v_degree}")
        if self.n_min > self.n_max:
            raise ValueError(f"n_min ({self.n_min}) must not exceed n_max ({self.n_max})")
        if self.mode == "one":
            if self.f is None:
                raise ValueError('mode "one" needs f, e.g. f = ["-x0**3 + x1", "-x0 - x1"]')
            if self.n is not None and self.n != len(self.f):
                raise ValueError(f"f has {len(self.f)} equations but n = {self.n} (dimension mismatch)")
        elif self.f is not None or self.n is not None:
            raise ValueError('f and n belong to mode "one"; mode "family" reads targets_file and forward_targets')
        return self


class LyapunovCodec(Codec):
    """V as the tokens of tokens.py (the system, when there is one per row, is the prompt);
    rows are read and written through the problem's layout."""

    def __init__(self, problem: Lyapunov) -> None:
        self.problem = problem

    def vocabulary(self) -> list[str]:
        return list(T.VOCAB)

    def max_answer_tokens(self) -> int:
        p = self.problem
        n = p.layout.n_max
        mono = max(len(T.monomial_tokens(tuple(int(e) for e in row[:n]))) for row in p.layout.v_basis)
        per_term = 2 + 1 + len(str(p.settings.coef_bound)) + mono  # "+", "*", INT sign, digits, monomial
        return p.settings.max_terms * per_term

    def encode(self, pool: Pool) -> list[list[int]]:
        out = []
        for row in pool.objects:
            v = {m: c for m, c in self.problem.v_of(row).items()}
            try:
                out.append(T.ids(T.poly_tokens(v))[: self.max_answer_tokens()])
            except T.TokenError:
                out.append(T.ids(T.int_tokens(0)))
        return out

    def decode(self, tokens: list[list[int]], prompts: np.ndarray | None) -> Pool:
        p = self.problem
        if prompts is None:
            prompts = np.repeat(p.targets[0][1][None], len(tokens), axis=0)
        vs: list[PolyDict | None] = []
        for ids, prompt in zip(tokens, prompts):
            n = int(prompt[0])
            try:
                v = T.parse_poly(T.strs(ids), n, p.layout.v_degree)
                ok = all(2 <= sum(m) <= p.layout.v_degree for m in v) and len(v) <= p.settings.max_terms
                vs.append(v if ok else None)
            except (T.TokenError, RecursionError):
                vs.append(None)
        return Pool(objects=p.rows(prompts, vs), prompts=prompts if p.conditional else None,
                    origin=np.full(len(tokens), "sample", dtype=object))


class Lyapunov(ConditionalProblem):
    """Lyapunov functions V for polynomial systems x' = f(x), certified by sum-of-squares programs."""

    name = "lyapunov"
    Settings = LyapunovSettings
    default_kernel = "lyapunov"
    kernels = {"lyapunov": "loopengine.problems.lyapunov.falsify:local_search"}

    def __init__(self, settings: LyapunovSettings, task_dir: Path | None = None) -> None:
        super().__init__(settings, task_dir)
        s = settings
        self.codec = LyapunovCodec(self)
        if s.mode == "one":
            system = parse_system(s.f, label="f")
            n = len(system)
            self.layout = Layout(n, max(s.f_degree, system_degree(system)), s.v_degree, s.coef_bound, s.max_terms)
            self.targets = [("f", self.system_row(n, system))]
            self.exact_systems = [system]
            self.skipped: list[dict[str, str]] = []
        else:
            self.layout = Layout(s.n_max, s.f_degree, s.v_degree, s.coef_bound, s.max_terms)
            self.spec = BackwardSpec(s.n_min, s.n_max, s.v_degree, s.f_degree, s.proper_coef_max, s.cross_terms_max,
                                     s.damping_max, s.rotation_terms_max, s.coef_bound, s.max_terms, s.f_coef_max)
            self.targets = self.load_targets()
            hrng = np.random.default_rng([s.target_seed, 2])
            self.heldout_pool = self.backward_pool(hrng, s.heldout) if s.heldout else None
        self.eval_points = sample_points(EVAL_SEED, self.layout.n_max, s.eval_points_per_scale)
        self.target_index = {row.tobytes(): i for i, (_, row) in enumerate(self.targets)}
        # target -> its best distinct candidates (score, key, row, origin); the origin (pool.origin:
        # "model" = the model's V as sampled, "model+search" / "random+search" = a V local search
        # changed, started from the model's sample or a random start, ...) is kept so
        # each certificate can say which source proposed its V
        self.found: dict[int, list[tuple[float, bytes, np.ndarray, str]]] = {}

    @property
    def conditional(self) -> bool:
        """Mode "family" maps systems (prompts) to V; mode "one" generates V for its one system."""
        return self.settings.mode == "family"

    # ---- rows ---------------------------------------------------------------------------
    @property
    def prompt_width(self) -> int:
        return self.layout.v_slice.start

    def system_row(self, n: int, system: list[PolyDict]) -> np.ndarray:
        row = self.layout.empty(1)[0][: self.prompt_width]
        row[0] = n
        f = row[self.layout.f_slice].reshape(self.layout.n_max, self.layout.mf)
        for i, eq in enumerate(system):
            f[i] = dict_to_vector(eq, self.layout.f_basis)
        return row

    def rows(self, prompts: np.ndarray, vs: list[PolyDict | None]) -> np.ndarray:
        out = self.layout.empty(len(prompts))
        out[:, : self.prompt_width] = prompts
        for r, v in enumerate(vs):
            if v:
                out[r, self.layout.v_slice] = dict_to_vector(v, self.layout.v_basis)
        return out

    def system_of(self, row: np.ndarray) -> tuple[int, list[PolyDict]]:
        n, f = self.layout.system_of(row)
        return n, [vector_to_dict(f[i], self.layout.f_basis, n) for i in range(n)]

    def v_of(self, row: np.ndarray) -> PolyDict:
        return vector_to_dict(self.layout.v_of(row), self.layout.v_basis, int(row[0]))

    def _fits_layout(self, system: list[PolyDict]) -> str | None:
        s = self.settings
        if not s.n_min <= len(system) <= s.n_max:
            return f"has {len(system)} variables, outside n_min..n_max = {s.n_min}..{s.n_max}"
        if system_degree(system) > s.f_degree:
            return f"has degree {system_degree(system)} > f_degree = {s.f_degree}"
        return None

    def load_targets(self) -> list[tuple[str, np.ndarray]]:
        from loopengine.errors import ConfigError

        s, out = self.settings, []
        self.exact_systems: list[list[PolyDict]] = []  # the typed systems, certified exactly
        self.skipped: list[dict[str, str]] = []
        if s.targets_file:
            path = Path(s.targets_file)
            if not path.is_absolute() and self.task_dir is not None:
                path = self.task_dir / path
            if not path.is_file():
                raise ConfigError(None, "problem.targets_file", f"file {path} not found")
            try:
                systems = read_systems_file(path)
            except ValueError as exc:
                raise ConfigError(None, "problem.targets_file", str(exc)) from None
            for name, system in systems:
                why = self._fits_layout(system)
                if why:  # listed in the summary; one odd system does not refuse the file
                    self.skipped.append({"name": name, "reason": why})
                    continue
                out.append((name, self.system_row(len(system), integer_scaled(system))))
                self.exact_systems.append(system)
        rng = np.random.default_rng([s.target_seed, 1])
        k = 0
        while sum(name.startswith("fwd") for name, _ in out) < s.forward_targets and k < 100 * (s.forward_targets + 1):
            k += 1
            n = int(rng.integers(s.n_min, s.n_max + 1))
            system = forward_system(rng, n, s.f_degree, s.forward_terms)
            if self._fits_layout(system) is None and len(T.system_tokens(system)) <= s.max_prompt_tokens:
                out.append((f"fwd{sum(nm.startswith('fwd') for nm, _ in out)}", self.system_row(n, system)))
                self.exact_systems.append(system)
        if not out:
            raise ConfigError(None, "problem.targets_file",
                              "no target systems: give targets_file or forward_targets > 0")
        return out

    # ---- prompts (the codec, LyapunovCodec, writes V) ----------------------------------------
    def max_prompt_tokens(self) -> int:
        return self.settings.max_prompt_tokens if self.conditional else 0

    def encode_prompts(self, prompts: np.ndarray) -> list[list[int]]:
        return [T.ids(T.system_tokens(self.system_of(p)[1]))[: self.max_prompt_tokens()] for p in prompts]

    # ---- data -----------------------------------------------------------------------------
    def backward_pool(self, rng: np.random.Generator, size: int) -> Pool:
        prompts, vs = [], []
        for _ in range(size):
            n, f, v = backward_example(rng, self.spec)
            if len(T.system_tokens(f)) > self.settings.max_prompt_tokens:
                continue
            prompts.append(self.system_row(n, f))
            vs.append(v)
        prompts = np.array(prompts).reshape(len(prompts), self.prompt_width)
        return Pool(objects=self.rows(prompts, vs), prompts=prompts, origin=np.full(len(vs), "seed", dtype=object))

    def random_v(self, rng: np.random.Generator, n: int) -> PolyDict:
        """A random start (mode one, or a target's in search_starts): positive pure even powers
        plus a few random terms."""
        v: PolyDict = {}
        for i in range(n):
            e = [0] * n
            e[i] = 2 * int(rng.integers(1, self.layout.v_degree // 2 + 1))
            v[tuple(e)] = Fraction(int(rng.integers(1, 4)))
        allowed = [tuple(int(x) for x in row[:n]) for row in self.layout.v_basis if not row[n:].any()]
        for _ in range(int(rng.integers(0, self.settings.start_terms + 1))):
            m = allowed[int(rng.integers(len(allowed)))]
            v[m] = v.get(m, Fraction(0)) + int(rng.choice([-2, -1, 1, 2]))
        return {m: c for m, c in v.items() if c}

    def initial_pool(self, rng: np.random.Generator, size: int) -> Pool:
        if self.conditional:
            return self.backward_pool(rng, size)
        prompt = self.targets[0][1]
        vs = [self.random_v(rng, int(prompt[0])) for _ in range(size)]
        return Pool(objects=self.rows(np.repeat(prompt[None], size, axis=0), vs))

    def search_starts(self, rng: np.random.Generator, size: int, prompts: np.ndarray | None) -> Pool:
        """Random V for the given target systems (family mode) or for the system (mode one),
        which the kernel's local search then fits: the "random" start source, and search
        alone (`model.enabled = false`)."""
        if not self.conditional:
            return self.initial_pool(rng, size)
        prompts = np.asarray(prompts)[:size]
        vs = [self.random_v(rng, int(p[0])) for p in prompts]
        return Pool(objects=self.rows(prompts, vs), prompts=prompts.copy(),
                    origin=np.full(len(vs), "seed", dtype=object))

    def fresh_examples(self, rng: np.random.Generator, size: int) -> Pool | None:
        return self.backward_pool(rng, size) if self.conditional else None

    def target_prompts(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        if not self.conditional:
            return None
        order = rng.permutation(len(self.targets))
        return np.stack([self.targets[order[i % len(order)]][1] for i in range(size)])

    # ---- judging --------------------------------------------------------------------------
    def evaluate(self, pool: Pool, threads: int = 0) -> Pool:
        stats = check(pool.objects, self.eval_points, threads)
        nterms = (pool.objects[:, self.layout.v_slice] != 0).sum(axis=1)
        pool.score = -stats[:, 1] - 1e-3 * nterms
        pool.valid = (stats[:, 0] == 0) & (nterms > 0)
        pool.extra["violations"] = stats[:, 0].astype(int).tolist()
        self.remember(pool)
        return pool

    def remember(self, pool: Pool) -> None:
        """Keep the best few distinct candidates per target system for finalize(): up to
        certify_per_target of the model's proposals as sampled, and as many of the rest
        (searched, random starts). Proposals come first, so finalize certifies them first
        ("proposer first"): a pretrained proposer's V is proven in one exact check, and a
        searched variant of it that happens to score higher does not take its credit."""
        width, keep = self.prompt_width, self.settings.certify_per_target
        for r, row in enumerate(pool.objects):
            t = self.target_index.get(row[:width].tobytes())
            if t is None:
                continue
            key = row.tobytes()
            best = self.found.setdefault(t, [])
            if any(k == key for _, k, _, _ in best):
                continue
            best.append((float(pool.score[r]), key, row.copy(), str(pool.origin[r])))
            best.sort(key=lambda item: (item[3] != PROPOSAL, -item[0]))
            proposals = [item for item in best if item[3] == PROPOSAL][:keep]
            best[:] = proposals + [item for item in best if item[3] != PROPOSAL][:keep]

    def state_dict(self) -> dict[str, Any]:
        """The per-target best candidates: finalize() certifies them, so a resumed run must
        start from what the interrupted one had remembered, not from nothing."""
        return {"found": {t: [(score, row.copy(), origin) for score, _, row, origin in best]
                          for t, best in self.found.items()}}

    def load_state_dict(self, state: Any) -> None:
        found = (state or {}).get("found", {})
        # entries are (score, row, origin); checkpoints written before origins were kept hold
        # (score, row), whose origin is unknown
        self.found = {int(t): [(float(entry[0]), np.asarray(entry[1]).tobytes(), np.array(entry[1], dtype=np.float64),
                                str(entry[2]) if len(entry) > 2 else "unknown")
                               for entry in best] for t, best in found.items()}

    def human_columns(self, pool: Pool) -> dict[str, list[Any]]:
        systems, vs = [], []
        for row in pool.objects:
            systems.append(self.system_text(row))
            vs.append(poly_text(self.v_of(row)))
        return {"system": systems, "V": vs}

    def describe_best(self, pool: Pool, index: int) -> str:
        cols = self.human_columns(pool.take(np.array([index])))
        return (f"system: x' = [{cols['system'][0]}]\nV = {cols['V'][0]}\n"
                "(sample-checked so far; the exact SOS verdicts are in certificates/ once the run ends)")

    def model_metrics(self, generate, rng: np.random.Generator) -> dict[str, Any]:
        """Greedy accuracy (no local search) on held-out backward systems and on the targets."""
        if not self.conditional:
            return {}
        out = {}
        for name, prompts in (("heldout", None if self.heldout_pool is None else self.heldout_pool.prompts),
                              ("targets", np.stack([row for _, row in self.targets]))):
            if prompts is None or not len(prompts):
                continue
            pool = generate(prompts)
            stats = check(pool.objects, self.eval_points)
            nterms = (pool.objects[:, self.layout.v_slice] != 0).sum(axis=1)
            out[f"{name}_valid_fraction"] = float(np.mean((stats[:, 0] == 0) & (nterms > 0)))
        out["targets_found"] = self.targets_found()
        out["targets"] = len(self.targets)
        out["progress_note"] = f"targets {out['targets_found']}/{len(self.targets)} pass the sampler"
        return out

    def targets_found(self) -> int:
        """Targets with a candidate that passes the sampler so far (finalize then tries to prove
        them): the per-generation progress the report plots."""
        best = [rows[0][2] for rows in self.found.values() if rows]
        if not best:
            return 0
        stats = check(np.stack(best), self.eval_points)
        nterms = (np.stack(best)[:, self.layout.v_slice] != 0).sum(axis=1)
        return int(((stats[:, 0] == 0) & (nterms > 0)).sum())

    # ---- certification --------------------------------------------------------------------
    def finalize(self, run_dir: Path, pool: Pool) -> Summary:
        if pool is not None and len(pool):
            if pool.score is None:
                self.evaluate(pool)
            self.remember(pool)
        cert_dir = Path(run_dir) / "certificates"
        cert_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.perf_counter() + self.settings.certify_seconds
        rows, counts = [], {GAS: 0, STABLE: 0, PLAUSIBLE: 0, REJECTED: 0, "none found": 0}
        results = []
        proven_by: dict[str, int] = {}  # which source proposed each proven V (pool origins, or the SDP search)
        for t, (name, prompt) in enumerate(self.targets):
            self.finalize_progress(f"certifying {name}", t, len(self.targets))
            f = self.exact_systems[t]  # never the float row: the certificate is for the typed system
            n = len(f)
            system_text = "; ".join(poly_text(eq) for eq in f)
            tried, best_status, best_v, best_cert, best_source = [], "none found", "-", None, None
            for score, _, row, origin in self.found.get(t, []):
                v = self.v_of(row)
                violations = int(check(row[None], self.eval_points)[0, 0])
                if violations:
                    cert = {"status": REJECTED, "reason": f"{violations} sample points violate V > 0 or V' <= 0"}
                    found = counterexample(v, f, n, sampled=500)
                    if found is not None:  # exact, at a short rational point a reader can check
                        cert["reason"] += f"; {describe_counterexample(found)}"
                        cert["counterexample"] = found
                elif time.perf_counter() > deadline:
                    cert = {"status": PLAUSIBLE, "reason": "passed the sampler; SOS budget exhausted"}
                else:
                    cert = certify(v, f, n).to_json()
                tried.append({"V": poly_text(v), "score": score, "source": origin, **cert})
                if _rank(cert["status"]) > _rank(best_status):
                    best_status, best_v, best_cert, best_source = cert["status"], poly_text(v), cert, origin
                if best_status == GAS:
                    break
            if best_status != GAS:
                self.finalize_progress(f"certifying {name}: SDP search (up to {self.settings.sdp_search_seconds:g} s)",
                                       t, len(self.targets))
                for v, cert in self.sdp_search(f, n, deadline):
                    tried.append({"V": poly_text(v), "score": None, "source": SDP_SEARCH, **cert})
                    if _rank(cert["status"]) > _rank(best_status):
                        best_status, best_v, best_cert, best_source = cert["status"], poly_text(v), cert, SDP_SEARCH
                    # only GAS ends the search early: after "globally stable" (from the samples
                    # or from the search itself) the rest of the budget looks for GAS
                    if best_status == GAS:
                        break
            counts[best_status] += 1
            if best_status in (GAS, STABLE):
                proven_by[best_source] = proven_by.get(best_source, 0) + 1
            cert_file = f"certificates/{t:03d}_{_safe(name)}.json"
            # archived_system: the system as the candidates' `system` column writes it (from the
            # integer-scaled row), so show and report can match candidates to this certificate
            (Path(run_dir) / cert_file).write_text(json.dumps(
                {"name": name, "system": system_text, "archived_system": self.system_text(prompt), "n": n,
                 "status": best_status, "V": best_v, "source": best_source, "certificate": best_cert,
                 "tried": tried}, indent=1))
            secs = f"{best_cert['seconds']:.2f}" if best_cert and "seconds" in best_cert else "-"
            rows.append([name, system_text, best_v, best_status, best_source or "-", secs])
            results.append({"name": name, "system": system_text, "V": None if best_v == "-" else best_v,
                            "status": best_status, "source": best_source, "certificate": cert_file})
        self.finalize_progress("certified", len(self.targets), len(self.targets))
        return Summary(
            {"targets": len(self.targets), "certified": counts[GAS] + counts[STABLE],
             **{k.replace(" ", "_"): v for k, v in counts.items()},
             "proven_by": dict(sorted(proven_by.items())),
             "skipped": len(self.skipped), "skipped_targets": self.skipped, "results": results},
            SummaryTable("Lyapunov functions (proven statuses come from exact rational SOS checks)",
                         ["system", "x' = f(x)", "V", "status", "V from", "SOS s"], rows, short=SHORT_STATUS,
                         legend=STATUS_LEGEND,
                         full_text="certificates/ (one JSON file per system: V, status, proof data)"),
        )

    def headline(self, summary: dict[str, Any]) -> str | None:
        """"11/14 targets proven (11 GAS, 0 stable, 3 rejected) in 76 s"."""
        if "targets" not in summary:
            return None
        parts = [f"{summary.get('globally_asymptotically_stable', 0)} GAS",
                 f"{summary.get('globally_stable', 0)} stable"]
        parts += [f"{summary[key]} {word}" for key, word in (("numerically_plausible", "plausible"),
                                                            ("rejected", "rejected"), ("none_found", "none found"))
                  if summary.get(key)]
        line = f"{summary.get('certified', 0)}/{summary['targets']} targets proven ({', '.join(parts)})"
        if summary.get("seconds") is not None:
            line += f" in {summary['seconds']:.0f} s"
        return line

    def system_text(self, row: np.ndarray) -> str:
        return "; ".join(poly_text(eq) for eq in self.system_of(row)[1])


    def sdp_search(self, f: list[PolyDict], n: int, deadline: float):
        """(V, certificate) for the candidates of the SDP search (v_search.py), within
        sdp_search_seconds and the certification deadline; rejected ones are kept short."""
        budget = min(self.settings.sdp_search_seconds, deadline - time.perf_counter())
        if budget <= 0:
            return
        stop = time.perf_counter() + budget
        for v in v_search.candidates(f, n, self.settings.sdp_search_power, budget):
            cert = certify(v, f, n).to_json()
            if cert["status"] == PLAUSIBLE and (scaled := primitive(v)) != v:
                # V and cV (c > 0) prove the same, but the certifier's exact Gram rounding is
                # not scale-free: BPoly 135's reference V divided by 14, as the search proposed
                # it, fails the exact check the reference V passes. A second chance, scaled to
                # coprime integer coefficients.
                second = certify(scaled, f, n).to_json()
                if _rank(second["status"]) > _rank(PLAUSIBLE):
                    v, cert = scaled, second
            if cert["status"] == REJECTED:
                cert = {"status": REJECTED, "reason": cert["reason"]}
            yield v, cert
            if time.perf_counter() > stop:
                return


# Short status words for tables, and the legend printed under them.
SHORT_STATUS = {GAS: "GAS", STABLE: "stable", PLAUSIBLE: "plausible", REJECTED: "rejected", "none found": "none"}
STATUS_LEGEND = ("GAS = globally asymptotically stable, stable = globally stable (V' <= 0 only): both proven by "
                 "exact rational SOS certificates; plausible = the solver found one but the exact check failed; "
                 "rejected = the best V found has no proof (it failed the sampler or the SOS check); "
                 "none = no candidate V was found")


def _rank(status: str) -> int:
    return {"none found": 0, REJECTED: 1, PLAUSIBLE: 2, STABLE: 3, GAS: 4}[status]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
