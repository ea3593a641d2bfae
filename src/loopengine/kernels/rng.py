"""loopengine::Rng (csrc/include/loopengine/parallel.hpp) in Python, bit for bit, so a Python
prototype of a kernel draws exactly the random numbers its C++ port will, and the two can be
checked against each other number for number."""
from __future__ import annotations

MASK = (1 << 64) - 1


class KernelRng:
    """splitmix64 seeded from (seed, stream); in a kernel, row r of a chunk uses stream r."""

    def __init__(self, seed: int, stream: int = 0) -> None:
        self.s = (seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xBF58476D1CE4E5B9) & MASK
        self.next()
        self.next()

    def next(self) -> int:
        """A uniform 64-bit integer."""
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A uniform integer in [0, n) (0 when n = 0), as Rng::below."""
        return self.next() % n if n else 0

    def uniform(self) -> float:
        """A uniform float in [0, 1) with 53 random bits, as Rng::uniform."""
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)
