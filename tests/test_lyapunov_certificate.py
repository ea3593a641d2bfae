"""Statuses say what is proven, for the system as typed; certificates re-check from data alone;
systems built to tempt a false certificate never get one."""
import json

import pytest

from loopengine.problems.lyapunov import check_lyapunov
from loopengine.problems.lyapunov.certificate import GAS, PROVEN, REJECTED, STABLE, recheck


@pytest.mark.slow
def test_tiny_coefficient_is_not_rounded_away():
    """x0' = 1e-13 x0 - x0^3 is unstable at 0 (V' > 0 near it): never certified."""
    c = check_lyapunov(["x0/10000000000000 - x0**3", "-x1"], "2*x0**4 + x1**4")
    assert c.status == REJECTED, c.reason
    c = check_lyapunov(["1e-13*x0 - x0**3", "-x1"], "2*x0**4 + x1**4")
    assert c.status == REJECTED
    # the same V for the stable neighbours is proven
    assert check_lyapunov(["-x0**3", "-x1"], "2*x0**4 + x1**4").status == GAS
    assert check_lyapunov(["-x0/10000000000000 - x0**3", "-x1"], "2*x0**4 + x1**4").status in PROVEN


def test_huge_integers_stay_exact():
    big = 2**53 + 1  # float64 rounds it to 2**53
    c = check_lyapunov([f"-x0 + {big}*x1", f"-{big}*x0 - x1"], "x0**2 + x1**2")
    assert c.status == GAS, c.reason
    data = c.to_json()
    assert [[1, 0], "-1"] in data["f"][0]
    assert [[0, 1], str(big)] in data["f"][0]
    assert recheck(json.loads(json.dumps(data))) == GAS
    # the skew terms only cancel when both coefficients are exactly equal
    c = check_lyapunov([f"{big}*x1", f"-{big - 1}*x0"], "x0**2 + x1**2")
    assert c.status == REJECTED


def test_center_is_stable_not_asymptotically_stable():
    c = check_lyapunov("x1; -x0", "x0**2 + x1**2")
    assert c.status == STABLE
    assert "not claimed" in c.reason
    assert recheck(c.to_json()) == STABLE


def test_certificate_rechecks_from_data_and_tampering_is_caught():
    c = check_lyapunov("-x0**3 + x1; -x0 - x1", "x0**2 + x1**2")
    assert c.status == GAS
    data = json.loads(json.dumps(c.to_json()))
    assert recheck(data) == GAS
    for tamper in (
        lambda d: d["decrease"].update(eps="0"),
        lambda d: d["positivity"].update(eps="-1/2"),
        lambda d: d["f"][0].append([[2, 0], "1/1000"]),          # a different system
        lambda d: d["V"].append([[1, 1], "3"]),                  # a different V
        lambda d: d["decrease"]["gram"][0].__setitem__(0, "100"),
        lambda d: d.pop("positivity"),
        lambda d: d["positivity"].update(P=[[[2, 0], "1"]]),    # P misses an axis
    ):
        bad = json.loads(json.dumps(data))
        tamper(bad)
        assert recheck(bad) == REJECTED


@pytest.mark.parametrize(("f", "v", "why"), [
    (["x0 + x1", "-x1"], "x0**2 + x1**2", "unstable"),
    (["-x0 + 2*x0**2*x1", "-x1"], "x0**2 + x1**2", "locally stable only"),
    (["x1 + x0/1000000000000", "-x0"], "x0**2 + x1**2", "center pushed outwards by 1e-12"),
    (["-x0**3 + x0/1000000000000", "-x1"], "x0**2 + x1**2", "tiny unstable linear part"),
    (["-x0 - x1", "x0 - x1"], "x0**2", "V only semidefinite"),
    (["-x0 - x1", "x0 - x1"], "x0**2 - x1**2", "V indefinite"),
    (["-x0", "-x1"], "x0**2 + x0*x1**2 + x1**2", "V not proper"),
    (["-x0", "-x1"], "x0**4 - x0**2 + x1**2", "V negative near 0 along x0"),
    (["x0**3", "-x1"], "x0**2 + x1**2", "x0' = x0^3 escapes"),
])
def test_tempting_systems_get_no_false_certificate(f, v, why):
    assert check_lyapunov(f, v).status not in PROVEN, why


def test_control_valid_v_with_cross_terms_is_proven():
    # (x0 - x1)^2 + x1^2 is positive definite although it is not diagonal
    assert check_lyapunov("-x0; -x1", "x0**2 - 2*x0*x1 + 2*x1**2").status == GAS


def test_cli_check_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from loopengine.cli import app

    run = CliRunner().invoke
    ok = run(app, ["check", "--f", "-x0**3 + x1; -x0 - x1", "--v", "x0**2 + x1**2", "--json", str(tmp_path / "c.json")])
    assert ok.exit_code == 0
    assert GAS in ok.output
    assert recheck(json.loads((tmp_path / "c.json").read_text())) == GAS
    center = run(app, ["check", "--f", "x1; -x0", "--v", "x0^2 + x1^2"])
    assert center.exit_code == 0
    assert STABLE in center.output
    bad = run(app, ["check", "--f", "x0/10000000000000 - x0**3; -x1", "--v", "2*x0**4 + x1**4"])
    assert bad.exit_code == 1
    assert REJECTED in bad.output
    garbage = run(app, ["check", "--f", "x0 + 9**9**9; -x1", "--v", "x0**2"])
    assert garbage.exit_code == 2
    assert "--f" in garbage.output
    assert "Traceback" not in garbage.output
    garbage = run(app, ["check", "--f", "-x0; -x1", "--v", "x0**2 + y"])
    assert garbage.exit_code == 2
    assert "--v" in garbage.output
