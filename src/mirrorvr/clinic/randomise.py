"""Seeded permuted-block randomisation (pure).

Each stratum gets its own list: blocks whose size is drawn from ``block_sizes`` (each a multiple
of the arms' ratio total), each block holding every arm in proportion to its ratio, shuffled.
The same seed, arms, ratios, block sizes and stratum always give the same list, so a sealed
allocation can be re-derived and checked by whoever holds the seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from mirrorvr.errors import MirrorVRError


class RandomisationError(MirrorVRError):
    """Arms, ratios or block sizes that cannot make balanced blocks."""


def stratum_seed(seed: int, stratum: str) -> int:
    """A stratum's own seed, derived from the trial seed (stable across Python versions)."""
    h = hashlib.sha256(f"{seed}:{stratum}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def permuted_blocks(
    arms: Sequence[str],
    ratios: Sequence[int],
    block_sizes: Sequence[int],
    n: int,
    seed: int,
    stratum: str = "",
) -> list[str]:
    """The first ``n`` allocations of ``stratum``, in order."""
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise RandomisationError("randomisation needs at least two arms with different ids")
    if len(ratios) != len(arms) or any(r < 1 for r in ratios):
        raise RandomisationError("give one ratio (a whole number ≥ 1) per arm")
    unit = sum(ratios)
    if not block_sizes or any(b < unit or b % unit for b in block_sizes):
        raise RandomisationError(
            f"block sizes {list(block_sizes)}: each must be a multiple of {unit} (the ratios' "
            "total)"
        )
    rng = random.Random(stratum_seed(seed, stratum))
    out: list[str] = []
    while len(out) < n:
        size = rng.choice(sorted(block_sizes))
        k = size // unit
        block = [a for a, r in zip(arms, ratios, strict=True) for _ in range(r * k)]
        rng.shuffle(block)
        out += block
    return out[:n]


def group_codes(arms: Sequence[str], seed: int) -> dict[str, str]:
    """Blinded labels: arm -> "group A", "group B", ... in a seeded order."""
    rng = random.Random(stratum_seed(seed, "#group-codes"))
    order = list(arms)
    rng.shuffle(order)
    return {a: f"group {chr(ord('A') + i)}" for i, a in enumerate(order)}
