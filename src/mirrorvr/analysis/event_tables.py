"""Session events → one table per kind, and the assembly of a Recording from events and signals.

Moved out of :mod:`mirrorvr.analysis.loader` (which re-exports every name).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr.analysis.recording import (
    CUE_COLUMNS,
    EVENT_COLUMNS,
    LATERALITY_COLUMNS,
    MARKER_COLUMNS,
    MISSED_COLUMNS,
    PULSE_COLUMNS,
    RATING_COLUMNS,
    STREAM_COLUMNS,
    Recording,
    Signal,
)
from mirrorvr.session.events import Event

# ---- events → tables ----------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    return df


def event_tables(events: list[Event]) -> dict[str, pd.DataFrame]:
    """Typed tables (events, pulses, missed, cues, ratings, laterality) from session events."""
    phase: dict[tuple[Any, Any], str] = {}
    ev_rows, pulses, missed, cues, ratings, lat = [], [], [], [], [], []
    trials: dict[tuple[Any, Any], dict[str, Any]] = {}
    for e in events:
        d = e.data
        ev_rows.append(
            {
                "seq": e.seq,
                "t": e.t,
                "kind": e.kind,
                "step": d.get("step"),
                "block": d.get("block"),
                "data": d,
            }
        )
        k = e.kind
        if k == "train_intent":
            phase[(d.get("step"), d.get("train"))] = str(d.get("phase", ""))
        elif k == "pulse":
            planned = _f(d.get("planned"))
            pulses.append(
                {
                    "t": e.t,
                    "planned": planned,
                    "error_s": e.t - planned,
                    "step": d.get("step"),
                    "train": d.get("train"),
                    "i": d.get("i"),
                    "phase": phase.get((d.get("step"), d.get("train")), ""),
                    "intensity_pct_mso": _f(d.get("intensity_pct_mso")),
                }
            )
        elif k == "pulse_missed":
            missed.append(
                {
                    "t": e.t,
                    "planned": _f(d.get("planned")),
                    "late_s": _f(d.get("late_s")),
                    "step": d.get("step"),
                    "train": d.get("train"),
                    "i": d.get("i"),
                    "phase": phase.get((d.get("step"), d.get("train")), ""),
                }
            )
        elif k == "cue":
            cues.append(
                {
                    "t": e.t,
                    "planned": _f(d.get("planned")),
                    "step": d.get("step"),
                    "movement": d.get("movement"),
                    "exercise": d.get("exercise"),
                    "repetition": d.get("repetition"),
                }
            )
        elif k == "rating":
            ratings.append(
                {
                    "t": e.t,
                    "timepoint": d.get("timepoint"),
                    "value": _f(d.get("value")),
                    "rt_s": _f(d.get("rt_s")),
                }
            )
        elif k == "laterality_trial":
            row = {
                "t": e.t,
                "trial": d.get("trial"),
                "side": d.get("side"),
                "angle_deg": d.get("angle_deg"),
                "view": d.get("view"),
                "answer": None,
                "correct": False,
                "rt_s": math.nan,
            }
            trials[(d.get("step"), d.get("trial"))] = row
            lat.append(row)
        elif k == "laterality_response":
            tr = trials.get((d.get("step"), d.get("trial")))
            if tr is not None:
                tr["answer"] = d.get("answer")
                tr["correct"] = bool(d.get("correct"))
                tr["rt_s"] = _f(d.get("rt_s"))
    return {
        "events": _frame(ev_rows, EVENT_COLUMNS),
        "pulses": _frame(pulses, PULSE_COLUMNS),
        "missed": _frame(missed, MISSED_COLUMNS),
        "cues": _frame(cues, CUE_COLUMNS),
        "ratings": _frame(ratings, RATING_COLUMNS),
        "laterality": _frame(lat, LATERALITY_COLUMNS),
    }


def _f(x: Any) -> float:
    if x is None or isinstance(x, bool):
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _t0(events: list[Event], signals: list[Signal]) -> float:
    start = next((e.t for e in events if e.kind == "session_start"), None)
    if start is not None:
        return start
    firsts = [e.t for e in events[:1]] + [float(s.timestamps[0]) for s in signals if len(s)]
    return min(firsts) if firsts else 0.0


def _build(
    source: Path,
    kind: str,
    events: list[Event],
    signals: dict[str, dict[str, Any]],
    warnings: list[str],
    markers: pd.DataFrame | None = None,
    streams: pd.DataFrame | None = None,
) -> Recording:
    tables = event_tables(events)
    sigs = [s for group in signals.values() for s in group.values()]
    frames = next(iter(signals.get("frames", {}).values()), None)
    return Recording(
        source=source,
        kind=kind,
        session_id=source.stem if kind == "xdf" else source.name,
        t0=_t0(events, sigs),
        markers=markers if markers is not None else pd.DataFrame(columns=MARKER_COLUMNS),
        streams=streams if streams is not None else pd.DataFrame(columns=STREAM_COLUMNS),
        poses=dict(signals.get("pose", {})),
        frames=frames,
        emg=dict(signals.get("emg", {})),
        other=dict(signals.get("other", {})),
        warnings=warnings,
        **tables,
    )
