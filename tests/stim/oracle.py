"""An independent safety oracle, written from docs/safety.md without calling the governor.

Given the planned pulse times of a compiled session (and the profile's rules in force), it
answers which documented limit, if any, the pulses break. It reads the shipped train table
itself and does its own conservative lookup, so a governor bug is not repeated here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

TABLE = Path(__file__).resolve().parents[2] / "src/mirrorvr/stim/safety/train_table.csv"
PAIRED = Path(__file__).resolve().parents[2] / "src/mirrorvr/stim/safety/paired_limits.csv"


@dataclass(frozen=True)
class Rules:
    """The limits docs/safety.md lists, with the values in force."""

    max_pct_rmt: float = 120.0
    max_pct_mso: float = 100.0
    per_session: int = 3000
    per_day: int = 3000
    iti_s: float = 5.0
    single_gap_s: float = 1.0
    tbs_max_pct_rmt: float = 80.0
    tbs_burst_pulses: int = 3
    tbs_burst_hz: float = 50.0
    tbs_burst_interval_s: float = 0.2
    tbs_train_s: float = 40.0
    tbs_per_session: int = 600
    #: signed overrides of the table: (frequency Hz, up to % MT, seconds)
    train_overrides: tuple[tuple[float, float, float], ...] = ()


def _table() -> tuple[list[float], list[float], list[list[float]]]:
    rows = [r for r in csv.reader(TABLE.read_text().splitlines()) if r and not r[0].startswith("#")]
    cols = [float(c) for c in rows[0][1:]]
    freqs = [float(r[0]) for r in rows[1:]]
    cells = [[float(c.strip().lstrip(">")) for c in r[1:]] for r in rows[1:]]
    return freqs, cols, cells


def table_limit(freq: float, pct_mt: float) -> float | None:
    """docs/safety.md: next higher row and column, '>x' as x, no cell longer than any cell of
    lower frequency or intensity (the minimum over that rectangle); beyond the table: none."""
    freqs, cols, cells = _table()
    ri = next((i for i, f in enumerate(freqs) if f >= freq - 1e-9), None)
    ci = next((j for j, c in enumerate(cols) if c >= pct_mt - 1e-9), None)
    if ri is None or ci is None:
        return None
    return min(cells[i][j] for i in range(ri + 1) for j in range(ci + 1))


def paired_limits() -> dict[str, float]:
    """The shipped paired-pulse limits, read from the CSV (docs/safety.md: paired pulses)."""
    rows = [
        r for r in csv.reader(PAIRED.read_text().splitlines()) if r and not r[0].startswith("#")
    ]
    return {r[0]: float(r[1]) for r in rows[1:]}


#: a device-timed pair: (first t, % MT, % MSO, second t, power B % MT, power B % MSO)
Pair = tuple[float, float, float, float, float, float]


def paired_violations(
    pairs: list[Pair], others: list[float], rules: Rules, device_interval_ms: float
) -> list[str]:
    """docs/safety.md on a device that times pairs: each pair's interval is the device's and
    within the paired limits, power B keeps the intensity caps, and a pair is a single
    stimulus: nothing (another pair, a pulse) closer than the single-pulse gap or the paired
    repetition limit, whichever is longer (from the pair's second pulse to the next stimulus).

    ``others``: the times of every other stimulus.
    """
    lim = paired_limits()
    out: list[str] = []
    gap = max(rules.single_gap_s, lim["min_pair_interval_s"])
    firsts = sorted([p[0] for p in pairs] + others)
    lasts = {p[0]: p[3] for p in pairs}
    for t1, _, _, t2, rmt_b, mso_b in pairs:
        ipi = (t2 - t1) * 1000.0
        if abs(ipi - device_interval_ms) > 0.01:
            out.append(f"pair at {t1:.3f}: {ipi:g} ms, the device times {device_interval_ms:g}")
        if not lim["min_interval_ms"] - 1e-6 <= ipi <= lim["max_interval_ms"] + 1e-6:
            out.append(f"pair at {t1:.3f}: interval {ipi:g} ms")
        if rmt_b > rules.max_pct_rmt + 1e-6 or mso_b > rules.max_pct_mso + 1e-6:
            out.append(f"pair at {t1:.3f}: power B")
    for a, b in pairwise(firsts):
        if (a in lasts or b in lasts) and b - lasts.get(a, a) < gap - 1e-6:
            out.append(f"pair gap before {b:.3f}")
    return out


def violations(
    pulses: list[tuple[float, float, float]],
    rules: Rules,
    pulses_today: int = 0,
    *,
    pairs: list[Pair] | None = None,
    device_interval_ms: float | None = None,
) -> list[str]:
    """Every documented limit the pulses (time s, % MT, % MSO) break.

    ``pairs``: device-timed pairs on a device that confirmed ``device_interval_ms``; each
    counts as two pulses and, for every other rule, as one stimulus at its first pulse. Pairs
    on a device that does not time them are just pulses (put both in ``pulses``).
    """
    out: list[str] = []
    pairs = pairs or []
    if pairs:
        assert device_interval_ms is not None, "pairs need a device that times them"
        out += paired_violations(pairs, [p[0] for p in pulses], rules, device_interval_ms)
    n = len(pulses) + 2 * len(pairs)
    ps = sorted([*pulses, *((p[0], p[1], p[2]) for p in pairs)])
    if not ps:
        return out
    if n > rules.per_session:
        out.append("pulses per session")
    if pulses_today + n > rules.per_day:
        out.append("pulses per day")
    for t, rmt, mso in ps:
        if rmt > rules.max_pct_rmt + 1e-6 or mso > rules.max_pct_mso + 1e-6:
            out.append(f"intensity at {t:.3f}")
            break
    times = [p[0] for p in ps]
    if any(b - a < 1e-6 for a, b in pairwise(times)):
        out.append("coincident pulses")
    # trains: pulses less than 1 s apart
    trains: list[list[tuple[float, float, float]]] = [[ps[0]]]
    for p in ps[1:]:
        if p[0] - trains[-1][-1][0] < 1.0 - 1e-6:
            trains[-1].append(p)
        else:
            trains.append([p])
    tbs_pulses = 0
    for tr in trains:
        if len(tr) < 2:
            continue
        gaps = [b[0] - a[0] for a, b in pairwise(tr)]
        f = 1.0 / max(min(gaps), 1e-9)
        rmt = max(p[1] for p in tr)
        override = [
            s for fo, up, s in rules.train_overrides if abs(fo - f) < 1e-6 * f and rmt <= up
        ]
        if f <= 25.0 * (1 + 1e-6) or override:
            limit = min(override) if override else table_limit(f, rmt)
            if limit is None or len(tr) / f > limit + 1e-6:
                out.append(f"train of {len(tr)} at {f:g} Hz at {tr[0][0]:.2f}")
            continue
        tbs_pulses += len(tr)
        bursts: list[list[float]] = [[tr[0][0]]]
        for p in tr[1:]:
            if p[0] - bursts[-1][-1] < 0.04 - 1e-6:
                bursts[-1].append(p[0])
            else:
                bursts.append([p[0]])
        ok = (
            rmt <= rules.tbs_max_pct_rmt + 1e-6 and tr[-1][0] - tr[0][0] <= rules.tbs_train_s + 1e-6
        )
        for b in bursts:
            inner = [y - x for x, y in pairwise(b)]
            ok &= len(b) <= rules.tbs_burst_pulses
            ok &= not inner or 1.0 / max(min(inner), 1e-9) <= rules.tbs_burst_hz * (1 + 1e-6)
        ok &= all(b[0] - a[0] >= rules.tbs_burst_interval_s - 1e-6 for a, b in pairwise(bursts))
        if not ok:
            out.append(f"theta burst at {tr[0][0]:.2f}")
    if tbs_pulses > rules.tbs_per_session:
        out.append("theta-burst pulses per session")
    for a, b in pairwise(trains):
        need = rules.iti_s if len(a) > 1 or len(b) > 1 else rules.single_gap_s
        if b[0][0] - a[-1][0] < need - 1e-6:
            out.append(f"gap before {b[0][0]:.2f}")
    # single pulses that never rest for an inter-train interval: the table's slowest row
    run: list[tuple[float, float, float]] = []
    for tr in [*trains, []]:
        single = len(tr) == 1
        if single and run and tr[0][0] - run[-1][0] < rules.iti_s - 1e-6:
            run.append(tr[0])
            continue
        if len(run) >= 2:
            gap = min(b[0] - a[0] for a, b in pairwise(run))
            limit = table_limit(1.0, max(p[1] for p in run))
            f = min(1.0 / gap, 1.0)
            if limit is not None and len(run) / f > limit + 1e-6:
                out.append(f"{len(run)} single pulses without rest at {run[0][0]:.2f}")
        run = [tr[0]] if single else []
    return out
