"""The exact polynomial reader: rationals as typed, bounded before expanding, clear errors."""
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from loopengine.errors import ConfigError
from loopengine.problems import make_problem
from loopengine.problems.lyapunov import tokens as T
from loopengine.problems.lyapunov.meta_format import read_line
from loopengine.problems.lyapunov.parse import ParseError, parse_polynomial
from loopengine.problems.lyapunov.polynomials import poly_text, to_sympy
from loopengine.problems.lyapunov.systems import integer_scaled, parse_system


def test_numbers_are_exact_as_typed():
    p = parse_polynomial("x0/10000000000000 - x0**3", 2)
    assert p == {(1, 0): Fraction(1, 10**13), (3, 0): Fraction(-1)}
    assert parse_polynomial("0.1*x0 + 1e-13*x1 + 2.5E3*x0*x1", 2) == {
        (1, 0): Fraction(1, 10), (0, 1): Fraction(1, 10**13), (1, 1): Fraction(2500)}
    big = 2**53 + 1
    assert parse_polynomial(f"{big}*x0 - {10**30}*x1", 2) == {(1, 0): Fraction(big), (0, 1): Fraction(-10**30)}
    assert parse_polynomial("3/2/4*x0 - (x0 + x1)**2 + x1^2", 2) == {(1, 0): Fraction(3, 8), (2, 0): Fraction(-1),
                                                                    (1, 1): Fraction(-2)}
    assert parse_polynomial("-x0**2", 2) == {(2, 0): Fraction(-1)}       # -(x0^2), not (-x0)^2
    assert parse_polynomial("x0^2^3", 2) == {(8, 0): Fraction(1)}        # right-associative


@pytest.mark.parametrize(("text", "words"), [
    ("-x0 + 9**9**9", "exponent 387420489 exceeds"),
    ("-x0*(x0+x1+1)**400", "exponent 400 exceeds"),
    ("(x0+x1+1)**30*(x0+x1+1)**30", "degree 60 exceeds"),
    ("(x0+x1+x2+x3+x4+1)**20", "terms"),
    ("x0 + 1e999999999", "decimal exponent"),
    ("x0" + " + x0" * 20000, "characters"),
    ("x0/x1", "not a polynomial"),
    ("x0**-1", "not a polynomial"),
    ("x0**x1", "not a polynomial"),
    ("x0**(1/2)", "not a polynomial"),
    ("sin(x0)", "not a variable"),
    ("x2", "outside x0..x1"),
    ("(x0 + x1", "expected ')'"),
    ("x0 x1", "unexpected 'x1'"),
    ("x0 / 0", "division by zero"),
    ("x0 $ 1", "unexpected character"),
    ("", "empty"),
])
def test_bad_or_huge_text_fails_before_expanding(text, words):
    with pytest.raises(ParseError, match=words.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        parse_polynomial(text, 2 if "x4" not in text else 5)


def test_text_round_trip_and_sympy_is_built_not_parsed():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = {tuple(int(e) for e in rng.integers(0, 13, size=3)): Fraction(int(rng.integers(-10**9, 10**9)) * 10**11 + 7,
                                                                         int(rng.integers(1, 10**6)))
             for _ in range(5)}
        p = {m: c for m, c in p.items() if c}
        assert parse_polynomial(poly_text(p), 3) == p
        assert parse_polynomial(poly_text(p, "**"), 3) == p
    expr = to_sympy({(1, 0): Fraction(1, 10**13), (0, 2): Fraction(2**53 + 1)}, 2)
    import sympy as sp

    x0, x1 = sp.symbols("x0 x1")
    assert sp.expand(expr - (sp.Rational(1, 10**13) * x0 + (2**53 + 1) * x1**2)) == 0


def test_task_file_errors_name_file_and_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        make_problem("lyapunov", {"mode": "one", "f": ["-x0 + 9**9**9", "-x1"]}, "task.toml")
    assert err.value.file == "task.toml"
    assert err.value.key == "problem.f"
    assert "exceeds" in str(err.value)
    (tmp_path / "s.txt").write_text("ok: -x0; -x1\nbad: -x0*(x0+x1+1)**400; -x1\n")
    with pytest.raises(ConfigError) as err:
        make_problem("lyapunov", {"targets_file": "s.txt"}, tmp_path / "task.toml", tmp_path)
    assert err.value.key == "problem.targets_file"
    assert "task.toml" in str(err.value)
    assert "s.txt line 2" in str(err.value)
    assert "exponent 400" in str(err.value)


def test_family_mode_skips_and_lists_targets_that_do_not_fit(tmp_path):
    (tmp_path / "s.txt").write_text(textwrap.dedent("""
        ok: -x0 + x1/3; -x0/2 - x1
        big: -x0**9; -x1
        four: -x0; -x1; -x2; -x3
    """))
    p = make_problem("lyapunov", {"targets_file": "s.txt", "forward_targets": 0}, "task.toml", tmp_path)
    assert [name for name, _ in p.targets] == ["ok"]
    assert [s["name"] for s in p.skipped] == ["big", "four"]
    # the prompt is the integer-scaled system, the certificate target the typed one
    assert p.exact_systems[0][0] == {(1, 0): Fraction(-1), (0, 1): Fraction(1, 3)}
    assert p.system_of(p.targets[0][1])[1] == integer_scaled(p.exact_systems[0])
    assert integer_scaled(parse_system(["-x0 + x1/3", "-x0/2 - x1"]))[0] == {(1, 0): -6, (0, 1): 2}


def test_tokens_write_exponents_above_nine():
    v = {(12, 0): Fraction(3), (0, 10): Fraction(-1), (2, 1): Fraction(7)}
    toks = T.poly_tokens(v)
    assert T.monomial_tokens((12, 0)) == ["^", "x0", "1", "2"]
    assert T.parse_poly(toks, 2, max_degree=16) == v


def test_benchmark_line_format():
    line = ("1|INT+ 2 <SPECIAL_3> + * INT- 1 0 ^ x0 INT+ 11 * INT+ 3 x1 <SPECIAL_3> * INT- 2 x1"
            "\t+ ^ x0 INT+ 2 ^ x1 INT+ 2")
    n, f, v = read_line(line)
    assert n == 2
    assert f == [{(11, 0): Fraction(-1000), (0, 1): Fraction(3)}, {(0, 1): Fraction(-2)}]
    assert v == {(2, 0): Fraction(1), (0, 2): Fraction(1)}
