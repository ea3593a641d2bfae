"""Graphs with no 4-cycle and as many edges as possible (PatternBoost's flagship problem)."""
