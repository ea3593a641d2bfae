"""Lyapunov functions for polynomial systems: representation, generators, tokens, SOS certificates."""
