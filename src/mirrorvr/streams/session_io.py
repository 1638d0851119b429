"""A session's streams: live LSL outlets + an XDF recording (real time), or an XDF from the log.

``run_session`` calls :func:`session_streams` around a real-time run: the session's outlets
are opened, the recorder subscribes to them (and to any ``record_also`` streams such as EMG),
and only when it is connected does the session start, so ``session.xdf`` holds every event.
A ``--fast`` run publishes nothing live (simulated timestamps are not LSL time) and calls
:func:`write_fast_xdf` when it ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mirrorvr.session.eventlog import read_events
from mirrorvr.streams.from_events import write_events_xdf
from mirrorvr.streams.layout import SESSION_STREAMS
from mirrorvr.streams.outlets import SessionOutlets
from mirrorvr.streams.recorder import Recorder

#: how long a real-time session waits for its recorder to connect before starting anyway
CONNECT_TIMEOUT_S = 15.0
#: after the session ends, how long to wait for the last samples to reach the recorder
DRAIN_TIMEOUT_S = 5.0


def session_key(folder: Path) -> str:
    """The stable session part of source ids: the folder name, reduced to safe characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", folder.resolve().name) or "session"


def xdf_path(folder: Path) -> Path:
    """``session.xdf``, or ``session-2.xdf``, ... if a resumed session already has one."""
    p = folder / "session.xdf"
    n = 2
    while p.exists():
        p = folder / f"session-{n}.xdf"
        n += 1
    return p


@contextmanager
def session_streams(
    folder: Path,
    *,
    device: str = "",
    record: bool = True,
    record_also: Sequence[str] = (),
    log: Callable[[str, dict[str, Any]], None] | None = None,
) -> Iterator[SessionOutlets]:
    """Open the session outlets (an event sink) and, with ``record``, record them to XDF."""
    key = session_key(folder)
    outlets = SessionOutlets(key, device=device)
    recorder: Recorder | None = None
    try:
        if record:
            own = f"starts-with(source_id,'mirrorvr-{key}-')"
            recorder = Recorder(
                xdf_path(folder),
                [own, *record_also],
                on_status=log,
                file_info={"clock": "lsl", "session": key},
            ).start()
            recorder.wait_for(outlets.names, CONNECT_TIMEOUT_S)
            outlets.wait_for_consumers(CONNECT_TIMEOUT_S)
        yield outlets
    finally:
        if recorder is not None:
            end = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < end and sum(
                recorder.samples(s.name) for s in SESSION_STREAMS
            ) < outlets.pushed:
                time.sleep(0.05)
            recorder.stop()
        outlets.close()


def write_fast_xdf(folder: Path, *, device: str = "", session_date: Any = None) -> Path:
    """``session.xdf`` of a simulated-clock session, from its event log (replaced if present)."""
    events = read_events(folder / "events.jsonl").events
    return write_events_xdf(
        events,
        folder / "session.xdf",
        session=session_key(folder),
        device=device,
        clock="simulated",
        session_date=session_date,
    )
