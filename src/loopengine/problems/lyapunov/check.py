"""Check a Lyapunov function the user already has: `check_lyapunov(f, V)` and `loopengine check`.

    >>> from loopengine.problems.lyapunov import check_lyapunov
    >>> c = check_lyapunov("-x0**3 + x1; -x0 - x1", "x0**2 + x1**2")
    >>> c.status, c.proven
    ('globally asymptotically stable', True)

f is a list of right-hand sides or one string with ';' between them; V is one string. Both are
read exactly (parse.py). The result is a certificate.Certificate: `status` is one of
"globally asymptotically stable", "globally stable", "numerically plausible", "rejected",
`reason` says why, `to_json()` holds the re-checkable proof data (certificate.recheck).
Bad text raises ValueError with a message naming --f or --v.
"""
from __future__ import annotations

from loopengine.problems.lyapunov.certificate import Certificate, certify
from loopengine.problems.lyapunov.polynomials import PolyDict
from loopengine.problems.lyapunov.systems import parse_equation, parse_system


def split_system(f: str | list[str]) -> list[str]:
    if isinstance(f, str):
        return [part.strip() for part in f.split(";") if part.strip()]
    return list(f)


def read_check_input(f: str | list[str], v: str, f_label: str = "f",
                     v_label: str = "V") -> tuple[list[PolyDict], PolyDict]:
    """The exact system and V that `check` certifies (ValueError naming the label if bad)."""
    system = parse_system(split_system(f), label=f_label)
    return system, parse_equation(v, len(system), v_label, equilibrium=False)


def check_lyapunov(f: str | list[str], v: str, f_label: str = "f", v_label: str = "V") -> Certificate:
    """What V proves about x' = f(x), exactly; see the module text."""
    system, lyap = read_check_input(f, v, f_label, v_label)
    return certify(lyap, system, len(system))


def check_lyapunov_cli(f: str, v: str, json_out, console) -> int:
    """`loopengine check`: print status and reason; the exit code (0 proven, 1 not)."""
    import json

    from loopengine.errors import ConfigError

    try:
        cert = check_lyapunov(f, v, f_label="--f", v_label="--v")
    except ValueError as exc:
        label, _, rest = str(exc).partition(": ")
        raise ConfigError(None, label.split("[")[0], rest or str(exc)) from None
    console.print(f"{cert.status}: {cert.reason}", highlight=False, soft_wrap=True)
    data = cert.to_json()
    if not cert.proven:
        from loopengine.problems.lyapunov.falsify import counterexample, describe_counterexample

        system, lyap = read_check_input(f, v, "--f", "--v")
        found = counterexample(lyap, system, len(system))
        if found is not None:  # an exact witness: V is not a Lyapunov function, whatever the SOS solver says
            data["counterexample"] = found
            console.print(f"counterexample: {describe_counterexample(found)}", highlight=False, soft_wrap=True)
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=1))
    return 0 if cert.proven else 1
