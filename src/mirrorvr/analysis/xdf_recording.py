"""XDF files → a Recording: stream classification, channel metadata, reading and clock checks.

Moved out of :mod:`mirrorvr.analysis.loader` (which re-exports every name).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr.analysis.errors import AnalysisError
from mirrorvr.analysis.event_tables import _build
from mirrorvr.analysis.recording import (
    MARKER_COLUMNS,
    STREAM_COLUMNS,
    Recording,
    Signal,
)
from mirrorvr.session.events import Event


@dataclass(frozen=True)
class _XdfOptions:
    sync: bool = True
    dejitter: bool = True
    reader: str = "auto"
    values: Collection[str] | None = None


# ---- XDF ----------------------------------------------------------------------------------


def _text(info: dict[str, Any], key: str, default: str = "") -> str:
    v = info.get(key)
    if isinstance(v, list) and v:
        v = v[0]
    return str(v).strip() if v is not None and not isinstance(v, dict) else default


def _desc(info: dict[str, Any]) -> dict[str, Any]:
    d = info.get("desc")
    if isinstance(d, list):
        d = d[0] if d else None
    return d if isinstance(d, dict) else {}


def _channel_meta(info: dict[str, Any], n: int) -> tuple[list[str], list[str]]:
    labels: list[str] = []
    units: list[str] = []
    try:
        chans = _desc(info)["channels"][0]["channel"]
        for c in chans:
            labels.append(_text(c, "label") or _text(c, "name"))
            units.append(_text(c, "unit"))
    except (KeyError, IndexError, TypeError):
        pass
    if len(labels) != n:
        labels, units = [f"ch{i}" for i in range(n)], [""] * n
    # unique labels: a DataFrame needs them
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):
        if lab in seen:
            seen[lab] += 1
            labels[i] = f"{lab}_{seen[lab]}"
        else:
            seen[lab] = 0
    return labels, units


def _can_drop(info: dict[str, Any]) -> bool:
    try:
        sync = _desc(info)["synchronization"][0]
        return _text(sync, "can_drop_samples").lower() == "true"
    except (KeyError, IndexError, TypeError):
        return False


def classify_stream(name: str, type_: str, fmt: str, srate: float, first: Any) -> str:
    """Role of a stream: events | markers | pose | frames | emg | stim | state | other.

    Ours follow ``mirrorvr-<kind>`` names; other producers are recognised by LSL content type
    (``Markers``, ``MoCap``, ``EMG``) and, for strings, by whether samples are JSON events.
    """
    n, t = name.lower(), type_.lower()
    if n == "mirrorvr-state" or t == "sessionstate":
        return "state"  # runner states: the same information as the event stream's state events
    if fmt == "string":
        if isinstance(first, str) and _is_event_json(first):
            return "events"
        return "markers"
    if n == "mirrorvr-stim" or t == "stimulation":
        return "stim"
    if t in ("markers", "marker", "events") or (srate == 0 and "marker" in n):
        return "markers"
    if t == "frametiming" or n.endswith("frames"):
        return "frames"
    if t in ("mocap", "pose", "motion") or "pose" in n:
        return "pose"
    if t == "emg" or "emg" in n:
        return "emg"
    return "other"


def _is_event_json(s: str) -> bool:
    if not s.startswith("{"):
        return False
    try:
        obj = json.loads(s)
    except ValueError:
        return False
    return isinstance(obj, dict) and {"seq", "t", "kind"} <= obj.keys()


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)  # pyxdf reports damaged chunks as errors
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _fixed_mmap_threshold() -> None:
    """Keep glibc from growing its mmap threshold (Linux only; a no-op elsewhere).

    pyxdf builds each stream from thousands of chunk-sized arrays. Once a process has freed a
    large block (importing pandas and matplotlib does), glibc raises its mmap threshold and
    serves those arrays from the heap, where the freed ones are never returned: loading an
    hour of poses then peaks ~15 % higher than in a bare process. A fixed 128 KiB threshold
    (glibc's default start) keeps big arrays mmapped and freed for real.
    """
    global _MMAP_FIXED
    if _MMAP_FIXED:
        return
    _MMAP_FIXED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


_MMAP_FIXED = False


def _read_xdf(
    path: Path, opts: _XdfOptions
) -> tuple[list[dict[str, Any]], list[str], list[tuple[str, str]]]:
    """pyxdf-form streams, warnings and damage (kind, message) of one XDF file."""
    from mirrorvr.analysis import xdf_fast

    _fixed_mmap_threshold()
    damage: list[tuple[str, str]] = []
    index = None
    warnings: list[str] = []
    if not path.name.lower().endswith((".xdfz", ".gz")):
        try:
            index = xdf_fast.index_xdf(path)
        except (xdf_fast.NotFast, OSError):
            index = None  # not even framed as XDF: pyxdf's error message says what is wrong
        else:
            damage = [(d.kind, d.message) for d in index.damage]
    cap = _LogCapture()
    lg = logging.getLogger("pyxdf.pyxdf")
    lg.addHandler(cap)
    old_level, old_prop = lg.level, lg.propagate
    lg.setLevel(logging.WARNING)
    lg.propagate = False  # pyxdf logs tracebacks for damaged chunks; we report one line
    try:
        streams = None
        if opts.reader != "pyxdf" and index is not None:
            want = None
            if opts.values is not None:
                want = xdf_fast.wants_values(opts.values, classify_stream)
            try:
                streams, _ = xdf_fast.read_xdf(
                    path,
                    values=want,
                    synchronize_clocks=opts.sync,
                    dejitter=opts.dejitter,
                    index=index,
                )
            except xdf_fast.NotFast as e:
                if opts.reader == "fast":
                    warnings.append(
                        f"{path}: read with pyxdf (the fast reader does not apply: {e})"
                    )
        if streams is None:
            import pyxdf

            streams, _header = pyxdf.load_xdf(
                str(path), synchronize_clocks=opts.sync, dejitter_timestamps=opts.dejitter
            )
    except Exception as e:  # pyxdf raises plain exceptions on unreadable files
        raise AnalysisError(
            f"{path}: not a readable XDF file ({type(e).__name__}: {e}); "
            "check the file is an XDF recording and not empty"
        ) from None
    finally:
        lg.removeHandler(cap)
        lg.setLevel(old_level)
        lg.propagate = old_prop
    if cap.messages and not any(k in ("truncated", "corrupt") for k, _ in damage):
        damage.append(
            (
                "corrupt",
                f"{path}: damaged or truncated, read as far as possible "
                f"({len(cap.messages)} problem(s), first: {cap.messages[0][:160]})",
            )
        )
    damage += _clock_damage(path, streams)
    warnings += [m for _, m in damage]
    return streams, warnings, damage


def _clock_damage(path: Path, streams: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Clock resets (pyxdf found several clock segments) and timestamps that jump back."""
    out: list[tuple[str, str]] = []
    for s in streams:
        info = s["info"]
        name = _text(info, "name") or f"stream{info.get('stream_id')}"
        segs = info.get("clock_segments") or []
        ts = np.asarray(s["time_stamps"], dtype=float)
        if len(segs) > 1:
            at = [float(ts[b] - ts[0]) for b, _e in segs[1:] if b < len(ts)]
            out.append(
                (
                    "clock_reset",
                    f"{path}: stream {name}: clock reset ({len(segs)} clock segments, "
                    f"new segment at {', '.join(f'{x:.1f}' for x in at[:5])} s into the "
                    "stream); times were synchronised per segment — check them",
                )
            )
        if len(ts) > 1:
            back = np.nonzero(np.diff(ts) < -1.0)[0]
            if len(back):
                jump = float(np.min(np.diff(ts)))
                out.append(
                    (
                        "time_jump",
                        f"{path}: stream {name}: timestamps jump back {len(back)} time(s) "
                        f"(by up to {-jump:.3f} s, first at sample {int(back[0]) + 1}): "
                        "a clock reset or a restarted sender",
                    )
                )
    return out


def _from_xdf(path: Path, opts: _XdfOptions) -> Recording:
    from mirrorvr.analysis.xdf_fast import LazyValues

    raw, warnings, damage = _read_xdf(path, opts)
    if not raw:
        raise AnalysisError(f"{path}: the XDF file holds no streams")
    events: list[Event] = []
    markers: list[dict[str, Any]] = []
    signals: dict[str, dict[str, Signal]] = {}
    rows: list[dict[str, Any]] = []
    offsets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    used: set[str] = set()
    for s in sorted(raw, key=lambda s: int(s["info"]["stream_id"])):
        info = s["info"]
        name = _text(info, "name") or f"stream{info['stream_id']}"
        type_ = _text(info, "type")
        fmt = _text(info, "channel_format")
        nch = int(_text(info, "channel_count", "1") or 1)
        srate = float(_text(info, "nominal_srate", "0") or 0)
        ts = np.asarray(s["time_stamps"], dtype=float)
        series = s["time_series"]
        first = series[0][0] if fmt == "string" and len(series) and len(series[0]) else None
        role = classify_stream(name, type_, fmt, srate, first)
        if isinstance(series, LazyValues) and role in ("markers", "events", "state"):
            series = series.load()  # event-like: small, and needed as values
        key = name
        while key in used:
            key += "+"
        used.add(key)
        can_drop = _can_drop(info)
        if s.get("clock_times") is not None and len(s["clock_times"]):
            offsets[key] = (
                np.asarray(s["clock_times"], dtype=float),
                np.asarray(s["clock_values"], dtype=float),
            )
        rows.append(
            {
                "stream_id": int(info["stream_id"]),
                "name": key,
                "type": type_,
                "role": role,
                "channel_count": nch,
                "channel_format": fmt,
                "nominal_srate": srate,
                "effective_srate": float(info.get("effective_srate") or 0.0),
                "can_drop_samples": can_drop,
                "n_samples": len(ts),
                "first_t": float(ts[0]) if len(ts) else math.nan,
                "last_t": float(ts[-1]) if len(ts) else math.nan,
                "n_clock_offsets": len(s.get("clock_times", [])),
            }
        )
        if role == "events":
            for t, row in zip(ts.tolist(), series, strict=False):
                try:
                    ev = Event.from_json(row[0])
                except ValueError:
                    markers.append({"stream": key, "t": t, "value": row[0]})
                    continue
                # the XDF time (clock-synchronised) is the event's time on the recording clock
                events.append(Event(ev.seq, t, ev.kind, ev.data))
            continue
        if role == "state":
            continue
        if role == "markers":
            vals = (
                [r[0] if len(r) == 1 else "|".join(r) for r in series]
                if fmt == "string"
                else [_scalar(r) for r in np.asarray(series)]
            )
            markers += [
                {"stream": key, "t": t, "value": v} for t, v in zip(ts.tolist(), vals, strict=False)
            ]
            continue
        if fmt == "string":
            continue
        labels, units = _channel_meta(info, nch)
        data: np.ndarray | None = None
        loader = None
        row_reader = None
        if isinstance(series, LazyValues):
            loader, row_reader = series.load, series.rows
        else:
            data = np.asarray(series)
            if data.ndim == 1:
                data = data.reshape(-1, max(1, nch))
        sig = Signal(
            name=key,
            type=type_,
            timestamps=ts,
            data=data,  # type: ignore[arg-type]  # None: lazy, read by ``loader``
            loader=loader,
            row_reader=row_reader,
            channels=labels,
            units=units,
            nominal_srate=srate,
            effective_srate=float(info.get("effective_srate") or 0.0),
            can_drop_samples=can_drop,
            stream_id=int(info["stream_id"]),
            clock_times=np.asarray(s.get("clock_times", []), dtype=float),
            clock_values=np.asarray(s.get("clock_values", []), dtype=float),
            desc=_desc(info),
        )
        group = "other" if role == "stim" else role
        signals.setdefault(group, {})[key] = sig
        if role == "frames" and len(signals["frames"]) > 1:
            warnings.append(f"{path}: several frame streams; QA uses the first")
    events.sort(key=lambda e: e.seq)
    mk = pd.DataFrame(markers, columns=MARKER_COLUMNS)
    rec = _build(
        path, "xdf", events, signals, warnings, mk, pd.DataFrame(rows, columns=STREAM_COLUMNS)
    )
    rec.clock_offsets = offsets
    rec.damage = damage
    if events and events[0].kind == "session_start":
        rec.meta["patient"] = events[0].get("patient")
        rec.meta["session_date"] = events[0].get("session_date")
        rec.meta["plan_name"] = events[0].get("plan")
    return rec


def _scalar(row: Any) -> Any:
    arr = np.asarray(row).ravel()
    if arr.size == 1:
        v = arr[0].item()
        return int(v) if isinstance(v, float) and v.is_integer() else v
    return "|".join(str(x) for x in arr.tolist())
