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
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr.analysis.errors import (
    AnalysisError as AnalysisError,
)
from mirrorvr.analysis.event_tables import (
    _build as _build,
)
from mirrorvr.analysis.event_tables import (
    _f as _f,
)
from mirrorvr.analysis.event_tables import (
    _frame as _frame,
)
from mirrorvr.analysis.event_tables import (
    _t0 as _t0,
)
from mirrorvr.analysis.event_tables import (
    event_tables as event_tables,
)
from mirrorvr.analysis.recording import (
    Recording,
)
from mirrorvr.analysis.xdf_recording import (
    _MMAP_FIXED as _MMAP_FIXED,
)
from mirrorvr.analysis.xdf_recording import (
    _can_drop as _can_drop,
)
from mirrorvr.analysis.xdf_recording import (
    _channel_meta as _channel_meta,
)
from mirrorvr.analysis.xdf_recording import (
    _clock_damage as _clock_damage,
)
from mirrorvr.analysis.xdf_recording import (
    _desc as _desc,
)
from mirrorvr.analysis.xdf_recording import (
    _fixed_mmap_threshold as _fixed_mmap_threshold,
)
from mirrorvr.analysis.xdf_recording import (
    _from_xdf as _from_xdf,
)
from mirrorvr.analysis.xdf_recording import (
    _is_event_json as _is_event_json,
)
from mirrorvr.analysis.xdf_recording import (
    _LogCapture as _LogCapture,
)
from mirrorvr.analysis.xdf_recording import (
    _read_xdf as _read_xdf,
)
from mirrorvr.analysis.xdf_recording import (
    _scalar as _scalar,
)
from mirrorvr.analysis.xdf_recording import (
    _text as _text,
)
from mirrorvr.analysis.xdf_recording import (
    _XdfOptions as _XdfOptions,
)
from mirrorvr.analysis.xdf_recording import (
    classify_stream as classify_stream,
)
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import UNMARKED_KINDS, Event
from mirrorvr.session.folder import SessionFolder

XDF_SUFFIXES = (".xdf", ".xdfz", ".gz")


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
