"""Hard ceilings no signature can lift, and the paired-pulse limits: shipped data with provenance.

``ceilings.csv`` bounds every override: a signed ``[[safety.overrides]]`` entry may loosen a limit
beyond the project baseline, never beyond its ceiling (a signed 1e6-s train is refused). The
train-duration ceiling is per table row: at most ``value`` times the row's 100 % MT cell.
``paired_limits.csv`` holds what a device-timed paired pulse must keep. Both files are UNVERIFIED
project choices anchored to the sources they name (docs/safety.md).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CEILINGS_PATH = Path(__file__).with_name("ceilings.csv")
PAIRED_PATH = Path(__file__).with_name("paired_limits.csv")


@dataclass(frozen=True)
class Ceiling:
    """One rule's hard bound: ``max`` (no larger value) or ``min`` (no smaller value)."""

    rule: str
    direction: str
    value: float
    source: str
    status: str

    def breached_by(self, value: float) -> bool:
        """Whether ``value`` goes beyond this ceiling."""
        return value > self.value if self.direction == "max" else value < self.value


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@lru_cache(maxsize=1)
def ceilings() -> dict[str, Ceiling]:
    """The shipped hard ceilings by rule."""
    return {
        r["rule"]: Ceiling(r["rule"], r["direction"], float(r["value"]), r["source"], r["status"])
        for r in _rows(CEILINGS_PATH)
    }


@dataclass(frozen=True)
class PairedLimits:
    """What a device-timed paired pulse must keep (shipped data, UNVERIFIED)."""

    min_interval_ms: float
    max_interval_ms: float
    min_pair_interval_s: float
    source: str = str(PAIRED_PATH.name)


@lru_cache(maxsize=1)
def paired_limits() -> PairedLimits:
    """The shipped paired-pulse limits."""
    v = {r["limit"]: float(r["value"]) for r in _rows(PAIRED_PATH)}
    return PairedLimits(v["min_interval_ms"], v["max_interval_ms"], v["min_pair_interval_s"])
