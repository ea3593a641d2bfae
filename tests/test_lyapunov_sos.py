"""Lyapunov certification: textbook systems are certified, wrong V and systems that are only
locally stable or unstable never are, and certificates are exact."""
import json
from fractions import Fraction

import numpy as np
import pytest

from loopengine.problems.lyapunov.baseline import find_lyapunov
from loopengine.problems.lyapunov.certificate import PROVEN, certify, recheck
from loopengine.problems.lyapunov.falsify import check, local_search, sample_points
from loopengine.problems.lyapunov.polynomials import Layout, add, dict_to_vector, vector_to_dict
from loopengine.problems.lyapunov.sos import prove_nonnegative, psd_exact
from loopengine.problems.lyapunov.systems import parse_equation, parse_system

TEXTBOOK = [
    (["-x0**3 + x1", "-x0 - x1"], "x0**2 + x1**2"),
    (["x1", "-x0**3 - x1"], "x0**4 + 2*x1**2"),
    (["-x0 + 4*x1", "-x0 - x1**3"], "x0**2 + 4*x1**2"),
    (["-x0 + x1**2", "-x1"], "4*x0**2 + x1**4"),
    (["-x0 + x1*x2", "-x1 - x0*x2", "-x2"], "x0**2 + x1**2 + x2**2"),
]
LOCAL_ONLY = ["-x0 + 2*x0**2*x1", "-x1"]  # finite-time escape when x0*x1 > 1
UNSTABLE = ["x0 + x1", "-x1"]


def cert(f, v):
    system = parse_system(f)
    return certify(parse_equation(v, len(f), "V"), system, len(f))


@pytest.mark.parametrize(("f", "v"), TEXTBOOK)
def test_textbook_systems_are_certified(f, v):
    c = cert(f, v)
    assert c.status in PROVEN, c.reason
    # the stored certificate is exact and re-checks from its JSON alone
    assert recheck(json.loads(json.dumps(c.to_json()))) == c.status


@pytest.mark.parametrize(("f", "v"), [
    (["-x0 + x1**2", "-x1"], "x0**2 + x1**2"),   # V' has an indefinite x0*x1^2 term
    (["-x0 - x1", "x0 - x1"], "x0**2"),          # not positive definite
    (["-x0 - x1", "x0 - x1"], "x0**2 - x1**2"),  # indefinite
    (["-x0", "-x1"], "x0**2 + x0*x1**2 + x1**2"),  # odd top-degree behaviour: not proper
    (UNSTABLE, "x0**2 + x1**2"),
])
def test_wrong_v_is_rejected(f, v):
    assert cert(f, v).status == "rejected"


def test_psd_exact():
    h = Fraction(1, 2)
    assert psd_exact([[Fraction(1), h], [h, Fraction(1)]])
    assert psd_exact([[Fraction(0), Fraction(0)], [Fraction(0), Fraction(3)]])
    assert not psd_exact([[Fraction(1), Fraction(2)], [Fraction(2), Fraction(1)]])
    assert not psd_exact([[Fraction(0), Fraction(1)], [Fraction(1), Fraction(5)]])
    assert not psd_exact([[Fraction(1, 10**9), Fraction(0)], [Fraction(0), Fraction(-1, 10**12)]])


def test_nonnegative_but_not_sos_is_not_certified():
    # Motzkin polynomial: nonnegative, not a sum of squares; must never get an exact certificate
    x = parse_equation("x0**4*x1**2 + x0**2*x1**4 - 3*x0**2*x1**2 + x2**6", 3, "p")
    assert not prove_nonnegative(x, 3).ok


@pytest.mark.parametrize("f", [LOCAL_ONLY, UNSTABLE])
def test_locally_stable_or_unstable_never_certified(f):
    """Search hard (local search from many starts, then direct SOS search) and certify every
    candidate the sampler lets through: none may be certified."""
    layout = Layout(2, 3, 4, 20, 8)
    system = parse_system(f)
    row = layout.empty(1)[0]
    row[0] = 2
    fb = row[layout.f_slice].reshape(2, layout.mf)
    for i, eq in enumerate(system):
        fb[i] = dict_to_vector(eq, layout.f_basis)
    rows = np.repeat(row[None], 16, axis=0)
    rng = np.random.default_rng(0)
    for r in rows:
        r[layout.v_slice] = rng.integers(-2, 3, size=layout.mv) * (rng.random(layout.mv) < 0.3)
    found = local_search(rows, None, seed=1, threads=2, steps=2000)
    stats = check(found, sample_points(11, 2))
    statuses = set()
    for r, s in zip(found, stats):
        if s[0] == 0:
            statuses.add(certify(vector_to_dict(layout.v_of(r), layout.v_basis, 2), system, 2).status)
    # the locally stable system has V = x0^2 + x1^2 passing near the origin; globally it must fail
    statuses.add(certify(parse_equation("x0**2 + x1**2", 2, "V"), system, 2).status)
    statuses.add(find_lyapunov(system, 2, max_degree=4, time_limit=20).status)
    assert not statuses & set(PROVEN)


def test_baseline_finds_textbook_v():
    system = parse_system(["-x0 + 4*x1", "-x0 - x1**3"])
    res = find_lyapunov(system, 2, max_degree=4, time_limit=30)
    assert res.status in PROVEN
    assert res.v
    assert all(sum(m) >= 2 for m in res.v)


def test_certified_implies_sampler_clean():
    """A certified V can have no sample violation (sanity link between the two stages)."""
    layout = Layout(3, 3, 4, 20, 8)
    for f, v in TEXTBOOK:
        n = len(f)
        row = layout.empty(1)[0]
        row[0] = n
        fb = row[layout.f_slice].reshape(3, layout.mf)
        for i, eq in enumerate(parse_system(f)):
            fb[i] = dict_to_vector(eq, layout.f_basis)
        row[layout.v_slice] = dict_to_vector(parse_equation(v, n, "V"), layout.v_basis)
        assert check(row[None], sample_points(5, 3))[0, 0] == 0
    assert add({(1,): Fraction(1)}, {(1,): Fraction(1)}, Fraction(-1)) == {}
