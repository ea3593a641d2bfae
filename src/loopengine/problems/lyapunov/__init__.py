"""Lyapunov functions for polynomial systems: representation, generators, tokens, SOS certificates.

`check_lyapunov(f, V)` certifies a V the user already has (see check.py)."""
from loopengine.problems.lyapunov.check import check_lyapunov

__all__ = ["check_lyapunov"]
