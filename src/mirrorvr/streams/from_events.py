"""The XDF of a session written straight from its event log (no LSL needed).

A ``--fast`` (simulated-clock) session has no LSL time to publish, so it writes its XDF from
``events.jsonl`` when it ends: the same streams, channels and metadata as the live outlets
(:mod:`mirrorvr.streams.layout`), stamped with the simulated session clock (seconds from the
simulated start, declared in the file header as ``<clock>simulated</clock>``). Deterministic:
the same plan and seed give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

from mirrorvr.session.events import Event
from mirrorvr.streams.layout import StreamSpec, event_samples, session_stream_specs
from mirrorvr.streams.outlets import session_specs
from mirrorvr.streams.xdf_writer import XdfWriter

#: a Boundary chunk per this many seconds of session time (as a live recording would have)
BOUNDARY_EVERY_S = 10.0


def write_events_xdf(
    events: Iterable[Event],
    path: str | Path,
    *,
    session: str,
    device: str = "",
    clock: str = "simulated",
    session_date: dt.date | None = None,
) -> Path:
    """Write ``events`` as the session's streams to ``path`` (replacing it atomically)."""
    p = Path(path)
    events = list(events)
    specs: list[StreamSpec] = session_specs(device, session_stream_specs(events=events))
    ids = {s.kind: i for i, s in enumerate(specs, start=1)}
    tmp = p.with_name(p.name + ".new")
    for stale in (tmp, tmp.with_name(tmp.name + ".part")):
        stale.unlink(missing_ok=True)
    when = dt.datetime.combine(session_date or dt.date(2000, 1, 1), dt.time(), tzinfo=dt.UTC)
    info = {"clock": clock, "session": session}
    with XdfWriter(
        tmp,
        [s.header_xml(session) for s in specs],
        file_info=info,
        when=when,
        fsync_every_s=None,
    ) as w:
        # batch each stream's samples between boundaries: few, large chunks
        pending: dict[int, tuple[list[float], list[list[object]]]] = {}
        next_boundary: float | None = None

        def flush() -> None:
            for sid, (ts, vals) in pending.items():
                if ts:
                    w.write_samples(sid, ts, vals)
            pending.clear()

        for e in events:
            if next_boundary is None:
                next_boundary = e.t + BOUNDARY_EVERY_S
            if e.t >= next_boundary:
                flush()
                w.write_boundary()
                next_boundary = e.t + BOUNDARY_EVERY_S
            for kind, values in event_samples(e):
                sid = ids[kind]
                ts, vals = pending.setdefault(sid, ([], []))
                ts.append(e.t)
                vals.append(values)
        flush()
    os.replace(tmp, p)
    return p
