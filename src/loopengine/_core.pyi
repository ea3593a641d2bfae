"""Type stubs for loopengine._core (the built-in C++ kernels); each kernel family has its own section."""
import numpy as np

# ---- c4free (csrc/src/c4free.cpp) ---------------------------------------------------------
def c4_local_search(batch: np.ndarray, seed: int, threads: int = 0, kick: int = 0, rounds: int = 0,
                    round_kick: int = 2, tabu: int = 0, accept_worse: float = 0.0) -> np.ndarray:
    """uint8 (graphs, n*(n-1)/2) upper-triangle edge indicators, n <= 128 -> the same graphs
    repaired to C4-free and grown to maximal. kick: random edges removed first; rounds: then this
    many iterated-local-search rounds of round_kick removals and regrowth; tabu: rounds during which
    a removed edge may not come back; accept_worse: p, a round that lost d edges is kept with
    probability p^d (the best is kept). Deterministic per seed, whatever the threads."""

# ---- lyapunov (csrc/src/lyapunov.cpp) ----------------------------------------------------
def lyapunov_check(objects: np.ndarray, points: np.ndarray, threads: int = 0, tol: float = 1e-9) -> np.ndarray:
    """float64 rows [n, n_max, f_degree, v_degree, coef_bound, max_terms, f..., V...] and (P, n_max)
    points -> (rows, 4): violating points, penalty, min V/|V|_terms, min -V'/|V'|_terms."""
def lyapunov_local_search(objects: np.ndarray, points: np.ndarray, seed: int, threads: int = 0, steps: int = 1000,
                          coef_bound: float = 0.0, max_terms: int = 0, tol: float = 1e-9) -> np.ndarray:
    """Hill-climb each row's V (integer coefficient moves, add/drop monomials) against the points."""

# ---- integer arithmetic (csrc/src/integer.cpp) ----------------------------------------------
def int_gcd_generate(rows: int, seed: int, max_operand: int, operands: str = "uniform",
                     outcomes: str = "natural", max_gcd: int = 100, threads: int = 0) -> np.ndarray: ...
def int_gcd_batch(a: np.ndarray, b: np.ndarray, threads: int = 0) -> np.ndarray: ...
def int_gcd_verify(prompts: np.ndarray, answers: np.ndarray, threads: int = 0) -> np.ndarray: ...
def int_mod_generate(rows: int, seed: int, max_operand: int, modulus: int, op: str = "mul",
                     operands: str = "uniform", threads: int = 0) -> np.ndarray: ...
def int_mod_batch(a: np.ndarray, b: np.ndarray, modulus: int, op: str = "mul", threads: int = 0) -> np.ndarray: ...
def int_mod_verify(prompts: np.ndarray, answers: np.ndarray, modulus: int, op: str = "mul",
                   threads: int = 0) -> np.ndarray: ...
def int_encode_tokens(rows: np.ndarray, base: int, prompt_digits: int, answer_digits: int, malformed: int,
                      threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids of (a, b, answer) rows: (prompts, answers padded with -1, answer lengths)."""

# ---- trees (csrc/src/trees.cpp) ------------------------------------------------------------
def trees_score(objects: np.ndarray, breaks: int = 1, tail: int = 1,
                threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """int32 parent arrays (trees, n) -> (score, break count, break mask (trees, n+1), valid);
    score = the breaks-th largest r_k = s_(k-1) s_(k+1) / s_k^2 - 1 (its sign exact)."""
def trees_canonical(objects: np.ndarray) -> np.ndarray:
    """Canonical parent arrays: equal rows <=> isomorphic trees."""
def trees_sequence(objects: np.ndarray) -> np.ndarray:
    """Exact independence sequences s_0..s_n as (trees, n+1, 2) uint64 (low, high words)."""

# ---- kernels in the public kernel form (csrc/include/loopengine/kernel.hpp) ------------------
import types  # noqa: E402

# Each LOOPENGINE_KERNEL(fn, ...) compiled into _core is a submodule `fn` with
#   run(objects, prompts, seed, threads, params: dict) -> (objects, scores) and `info` (dict),
# exactly like a user build; wrap one with loopengine.kernels.build.builtin_form("fn").
c4free_batch: types.ModuleType
trees_search: types.ModuleType  # annealing with leaf moves and subtree regrafts
