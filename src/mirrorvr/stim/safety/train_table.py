"""The maximum single-train duration table (frequency × intensity in % MT), and its lookup.

The table is shipped as data (``train_table.csv``) with its provenance and an UNVERIFIED banner;
no cell has been checked against the publication (see docs/safety.md). The lookup never
interpolates and always errs towards the shorter train:

* a frequency between two rows uses the next *higher* row; below the lowest row (1 Hz) the
  lowest row; above the highest row (25 Hz) there is no answer (refused unless overridden);
* an intensity between two columns uses the next *higher* column; below the lowest column
  (100 % MT) the lowest column (lower intensity never gets a longer limit than 100 % MT);
  above the highest column there is no answer;
* a ">x" cell (longest duration *tested*, not a measured limit) counts as exactly x;
* the table is made monotone first: no cell may allow a longer train than any cell of lower
  frequency or lower intensity, because the transcription has non-monotone rows (5 Hz: 1.4 s
  at 200 % but 1.6 s at 210 %) that must not let a higher intensity run longer.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("train_table.csv")

#: relative tolerance when matching a frequency or intensity to a row or column exactly
_EXACT = 1e-9


@dataclass(frozen=True)
class TrainTable:
    """The parsed table: raw cells as printed, and the monotone envelope used for limits."""

    frequencies: tuple[float, ...]
    intensities: tuple[float, ...]
    raw: tuple[tuple[str, ...], ...]  # cells as in the file, ">" kept
    limits: tuple[tuple[float, ...], ...]  # monotone envelope, ">" read as the tested value
    status: str
    source: str

    @property
    def verified(self) -> bool:
        """True only once the file's status line says VERIFIED."""
        return self.status.upper().startswith("VERIFIED")


@dataclass(frozen=True)
class Cell:
    """The limit that applies to a (frequency, intensity) and where it came from."""

    limit_s: float
    frequency_hz: float  # the row used
    intensity_pct_mt: float  # the column used
    printed: str  # the printed cell at that row/column (may differ from the envelope)

    def describe(self) -> str:
        """How a therapist reads it: row, column and printed value."""
        return (
            f"table row {self.frequency_hz:g} Hz, column {self.intensity_pct_mt:g} % MT "
            f"(printed '{self.printed}')"
        )


def _num(cell: str) -> float:
    return float(cell.strip().lstrip(">"))


def parse_table(text: str) -> TrainTable:
    """Parse the CSV text (``#`` lines are provenance comments)."""
    meta: dict[str, str] = {}
    key = ""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("#"):
            body = line[1:]
            name, sep, value = body.strip().partition(":")
            if body.startswith("  ") and key:  # indented: continues the previous field
                meta[key] += " " + body.strip()
            elif sep and name.isidentifier():
                key = name
                meta[key] = value.strip()
            else:
                key = ""
            continue
        if line.strip():
            rows.append(next(csv.reader([line])))
    header, body_rows = rows[0], rows[1:]
    intensities = tuple(float(c) for c in header[1:])
    frequencies = tuple(float(r[0]) for r in body_rows)
    raw = tuple(tuple(c.strip() for c in r[1:]) for r in body_rows)
    if list(frequencies) != sorted(frequencies) or list(intensities) != sorted(intensities):
        raise ValueError("train table rows and columns must be in increasing order")
    if any(len(r) != len(intensities) for r in raw):
        raise ValueError("every train table row needs one cell per intensity column")
    # monotone envelope: running minimum over lower frequencies and lower intensities
    env: list[list[float]] = []
    for i, r in enumerate(raw):
        out: list[float] = []
        for j, cell in enumerate(r):
            v = _num(cell)
            if j:
                v = min(v, out[j - 1])
            if i:
                v = min(v, env[i - 1][j])
            out.append(v)
        env.append(out)
    return TrainTable(
        frequencies,
        intensities,
        raw,
        tuple(tuple(r) for r in env),
        meta.get("status", ""),
        meta.get("source", ""),
    )


@lru_cache(maxsize=1)
def default_table() -> TrainTable:
    """The shipped table (``train_table.csv`` next to this module)."""
    return parse_table(TABLE_PATH.read_text(encoding="utf-8"))


def _index_at_or_above(values: tuple[float, ...], x: float) -> int | None:
    i = bisect.bisect_left(values, x * (1 - _EXACT))
    return i if i < len(values) else None


def lookup(table: TrainTable, frequency_hz: float, intensity_pct_mt: float) -> Cell | None:
    """The conservative limit for a train, or ``None`` if the table has no cell for it."""
    fi = (
        0
        if frequency_hz <= table.frequencies[0]
        else _index_at_or_above(table.frequencies, frequency_hz)
    )
    ii = (
        0
        if intensity_pct_mt <= table.intensities[0]
        else _index_at_or_above(table.intensities, intensity_pct_mt)
    )
    if fi is None or ii is None:
        return None
    return Cell(
        table.limits[fi][ii], table.frequencies[fi], table.intensities[ii], table.raw[fi][ii]
    )
