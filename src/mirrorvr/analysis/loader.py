"""One entry point, :func:`load_recording`: a session folder or any XDF file → a :class:`Recording`.

Inside, a pipeline of small steps:

* session folder: ``plan.toml`` + ``session.json`` + ``events.jsonl`` (authoritative for
  events), plus every ``*.xdf``/``*.xdfz`` in the folder for sampled streams (poses, frames,
  EMG);
* XDF (ours or LabRecorder's with other devices' streams): :func:`pyxdf.load_xdf` with clock
  synchronisation; dejitter only for regular streams *not* marked ``can_drop_samples`` (pyxdf
  ≥ 1.17.4 skips those itself, and we never dejitter irregular marker streams). Streams are
  sorted into roles by name, type and content (:func:`classify_stream`);
* events (from the log, or from a JSON marker stream such as ``mirrorvr-markers``) become
  typed tables (:func:`event_tables`).

Truncated or damaged XDF files load as far as they are readable: pyxdf skips to the next
boundary chunk, and a file cut mid-chunk is read up to the cut (a warning says so).
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
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import UNMARKED_KINDS, Event
from mirrorvr.session.folder import SessionFolder

XDF_SUFFIXES = (".xdf", ".xdfz", ".gz")


class AnalysisError(MirrorVRError):
    """A recording cannot be loaded or analysed as asked."""


def load_recording(
    path: str | Path,
    *,
    synchronize_clocks: bool = True,
    dejitter: bool = True,
    include_xdf: bool = True,
    reader: str = "auto",
    values: Collection[str] | None = None,
) -> Recording:
    """Load a session folder or an XDF file.

    Parameters
    ----------
    path:
        A mirrorvr session folder (with ``events.jsonl``) or an ``.xdf``/``.xdfz`` file.
    synchronize_clocks:
        Apply the XDF clock offsets (pyxdf's robust linear fit per clock segment).
    dejitter:
        Dejitter regular-rate streams; streams marked ``can_drop_samples`` never are.
    include_xdf:
        For a session folder: also load the ``*.xdf`` files found in it.
    reader:
        ``"auto"``: the fast bulk reader (:mod:`mirrorvr.analysis.xdf_fast`) where it
        applies, else pyxdf; ``"fast"`` or ``"pyxdf"`` to force one (``"fast"`` falls back
        too, with a warning). Both give the same tables.
    values:
        Roles (``emg``, ``frames``, ``pose``, ``other``, ``stim``, ``markers``) whose sample
        values are read now; the others' signals are lazy (timestamps now, values on first
        use). ``None`` reads everything.
    """
    if reader not in ("auto", "fast", "pyxdf"):
        raise AnalysisError(f"reader must be auto, fast or pyxdf, not {reader!r}")
    opts = _XdfOptions(synchronize_clocks, dejitter, reader, values)
    p = Path(path)
    if p.is_dir():
        return _load_session_folder(p, opts, include_xdf)
    if p.is_file():
        if not p.name.lower().endswith(XDF_SUFFIXES):
            raise AnalysisError(
                f"{p}: not a session folder or an XDF file (.xdf, .xdfz, .xdf.gz); "
                "give a session folder or an XDF recording"
            )
        return _from_xdf(p, opts)
    raise AnalysisError(f"{p}: no such session folder or XDF file")


@dataclass(frozen=True)
class _XdfOptions:
    sync: bool = True
    dejitter: bool = True
    reader: str = "auto"
    values: Collection[str] | None = None


# ---- session folders ----------------------------------------------------------------------


def _load_session_folder(folder: Path, opts: _XdfOptions, include_xdf: bool) -> Recording:
    from mirrorvr.config.loader import load_plan

    sf = SessionFolder(folder)
    log = sf.events
    xdfs = sorted(
        f for f in folder.iterdir() if f.is_file() and f.name.lower().endswith(XDF_SUFFIXES)
    )
    if not log.exists() and not xdfs:
        raise AnalysisError(
            f"{folder}: not a mirrorvr session folder (no events.jsonl) and no XDF file in it"
        )
    warnings: list[str] = []
    meta: dict[str, Any] = {}
    if sf.meta.exists():
        try:
            meta = json.loads(sf.meta.read_text(encoding="utf-8"))
        except ValueError as e:
            warnings.append(f"{sf.meta}: unreadable ({e}); metadata ignored")
    plan = None
    if sf.plan.exists():
        try:
            plan = load_plan(sf.plan)
        except MirrorVRError as e:
            warnings.append(f"{sf.plan}: {e}; plan-based figures omitted")
    events: list[Event] = []
    if log.exists():
        res = read_events(log)
        events = res.events
        for line, reason in res.bad_lines:
            warnings.append(f"{log}:{line}: skipped ({reason})")
        if res.torn_tail:
            warnings.append(f"{log}: last line torn (crash while writing); ignored")
    rec: Recording | None = None
    if include_xdf:
        for x in xdfs:
            part = _from_xdf(x, opts)
            rec = part if rec is None else _merge(rec, part)
    if rec is None:
        rec = _build(folder, "session", events, {}, warnings)
    else:
        rec.warnings[:0] = warnings
        if events:  # the event log is authoritative; XDF markers only fill in without one
            mismatch = _log_vs_xdf(log, events, rec.events)
            if mismatch:
                rec.damage.append(("log_mismatch", mismatch))
                rec.warnings.append(mismatch)
            tables = event_tables(events)
            for k, v in tables.items():
                setattr(rec, k, v)
            rec.t0 = _t0(events, rec.signals())
        elif len(rec.events):
            why = "missing" if not log.exists() else "empty"
            msg = (
                f"{log}: {why}; events taken from the XDF's marker stream instead "
                f"({len(rec.events)} events; the log is the authoritative record, so check "
                "why it is not there)"
            )
            rec.damage.append(("log_fallback", msg))
            rec.warnings.append(msg)
    rec.source, rec.kind = folder, "session"
    rec.plan = plan
    rec.meta = {**rec.meta, **meta}
    if plan is not None:
        rec.meta.setdefault("patient", plan.patient.id)
    for first in events[:1]:
        if first.kind == "session_start":
            rec.meta.setdefault("patient", first.get("patient"))
            rec.meta.setdefault("session_date", first.get("session_date"))
            rec.meta.setdefault("plan_name", first.get("plan"))
    rec.session_id = folder.name
    return rec


def _log_vs_xdf(log: Path, logged: list[Event], xdf_events: pd.DataFrame) -> str:
    """'' if the XDF's event stream agrees with the log, else what differs.

    The recorder joins after the session starts, so only events from ``session_start`` on
    are compared; they must be the same sequence numbers at the same times (1 ms).
    """
    if not len(xdf_events):
        return ""
    start = next((e.seq for e in logged if e.kind == "session_start"), None)
    log_t = {
        e.seq: e.t
        for e in logged
        if (start is None or e.seq >= start) and e.kind not in UNMARKED_KINDS
    }
    xdf_t = {int(r.seq): float(r.t) for r in xdf_events.itertuples() if r.seq is not None}
    if start is not None:
        xdf_t = {k: v for k, v in xdf_t.items() if k >= start}
    only_log = sorted(set(log_t) - set(xdf_t))
    only_xdf = sorted(set(xdf_t) - set(log_t))
    common = sorted(set(log_t) & set(xdf_t))
    dt = max((abs(log_t[k] - xdf_t[k]) for k in common), default=0.0)
    parts = []
    if only_log:
        parts.append(
            f"{len(only_log)} logged event(s) missing from the XDF (seq {_span(only_log)})"
        )
    if only_xdf:
        parts.append(f"{len(only_xdf)} XDF event(s) not in the log (seq {_span(only_xdf)})")
    if dt > 1e-3:
        parts.append(f"event times differ by up to {dt * 1000:.1f} ms")
    if not parts:
        return ""
    return f"{log}: the event log and the XDF disagree: {'; '.join(parts)}; the log is used"


def _span(seqs: list[int]) -> str:
    return f"{seqs[0]}" if len(seqs) == 1 else f"{seqs[0]}-{seqs[-1]}"


def _merge(a: Recording, b: Recording) -> Recording:
    a.poses.update(b.poses)
    a.emg.update(b.emg)
    a.other.update(b.other)
    if a.frames is None:  # explicit: an empty Signal is falsy
        a.frames = b.frames
    a.clock_offsets.update(b.clock_offsets)
    a.markers = pd.concat([a.markers, b.markers], ignore_index=True)
    a.streams = pd.concat([a.streams, b.streams], ignore_index=True)
    a.warnings += b.warnings
    a.damage += b.damage
    if not len(a.events) and len(b.events):
        for k in ("events", "pulses", "missed", "cues", "ratings", "laterality"):
            setattr(a, k, getattr(b, k))
    a.t0 = min(a.t0, b.t0)
    return a


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
