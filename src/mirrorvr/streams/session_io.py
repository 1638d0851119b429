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
from mirrorvr.session.folder import SessionFolder
from mirrorvr.streams.from_events import write_events_xdf
from mirrorvr.streams.layout import session_stream_specs
from mirrorvr.streams.outlets import SessionOutlets
from mirrorvr.streams.recorder import Recorder

#: how long a real-time session waits for its recorder to connect before starting anyway
#: (seconds on a loaded machine; it is normally connected within ~2 s)
CONNECT_TIMEOUT_S = 60.0
#: after the session ends, how long (at most) to wait for the last samples to reach the recorder
DRAIN_TIMEOUT_S = 30.0


def session_key(folder: Path) -> str:
    """The stable session part of source ids: the folder name, reduced to safe characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", folder.resolve().name) or "session"


def xdf_path(folder: Path) -> Path:
    """``session.xdf``, or ``session-2.xdf``, ... if a resumed session already has one."""
    p = SessionFolder(folder).xdf
    n = 2
    while p.exists():
        p = folder / f"session-{n}.xdf"
        n += 1
    return p


def apply_plan_lsl(plan: Any, log_file: Path | None = None) -> None:
    """Configure liblsl from the plan's ``[lsl]`` table unless this process already did;
    ``log_file``: liblsl's own log goes there (the session folder's ``lsl.log``)."""
    from mirrorvr.streams.lslconfig import configure_lsl, configured

    if configured() is not None:
        return
    lsl = getattr(plan, "lsl", None)
    if lsl is not None:
        configure_lsl(
            known_peers=lsl.known_peers or None,
            session_id=lsl.session_id,
            resolve_scope=lsl.resolve_scope,
            log_file=log_file,
        )
    elif log_file is not None:
        configure_lsl(log_file=log_file)


class NodeHandshake:
    """Waits until another node (``mirrorvr-<node>-markers``) follows our markers.

    The inlet to the other node's markers is opened *before* our outlets exist, so its
    "connected to mirrorvr-markers" event cannot be missed.
    """

    def __init__(self, node: str, session: str, timeout_s: float) -> None:
        import pylsl

        from mirrorvr.errors import SessionError

        self.session = session
        found = pylsl.resolve_bypred(f"name='mirrorvr-{node}-markers'", 1, timeout_s)
        if not found:
            raise SessionError(
                f"no {node} node found within {timeout_s:.0f} s: start `mirrorvr node {node}` "
                "first (same LSL session id / known peers), or pass --wait-tms 0"
            )
        self.node = node
        self.inlet = pylsl.StreamInlet(found[0], max_buflen=30)
        self.inlet.open_stream(timeout=timeout_s)

    def wait_following(self, timeout_s: float) -> bool:
        """True once the node reports it connected to our markers, within ``timeout_s``."""
        import json

        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            sample, _ = self.inlet.pull_sample(timeout=0.5)
            if not sample:
                continue
            try:
                ev = json.loads(sample[0])
            except ValueError:
                continue
            if (
                ev.get("kind") == "stream"
                and ev.get("what") in ("connected", "restored")
                and f"mirrorvr-{self.session}-markers" == ev.get("source_id", "")
            ):
                return True
        return False

    def close(self) -> None:
        """Close the inlet to the other node's markers."""
        self.inlet.close_stream()


@contextmanager
def session_streams(
    folder: Path,
    *,
    device: str = "",
    record: bool = True,
    record_also: Sequence[str] = (),
    log: Callable[[str, dict[str, Any]], object] | None = None,
    plan: Any = None,
    wait_for_node: str | None = None,
    wait_node_s: float = 60.0,
    expect: Sequence[str] = (),
) -> Iterator[SessionOutlets]:
    """Open the session outlets (an event sink) and, with ``record``, record them to XDF.

    ``expect`` names further streams of this session (source ids ``mirrorvr-<session>-...``,
    e.g. the display's pose and frame streams) already open elsewhere: the session also waits
    for the recorder to follow them, so their first samples are not lost.
    With ``wait_for_node`` the session starts only once that node follows our markers.
    """
    from mirrorvr.errors import SessionError

    apply_plan_lsl(plan)
    key = session_key(folder)
    handshake = NodeHandshake(wait_for_node, key, wait_node_s) if wait_for_node else None
    outlets = SessionOutlets(key, device=device, specs=session_stream_specs(plan))
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
            outlets.recorder = recorder
            ok = recorder.wait_for([*outlets.names, *expect], CONNECT_TIMEOUT_S)
            ok = outlets.wait_for_consumers(CONNECT_TIMEOUT_S) and ok
            if not ok and log is not None:
                # therapy is not held up by the recorder; the gap is on record instead
                log("recorder_not_connected", {"timeout_s": CONNECT_TIMEOUT_S})
        if handshake is not None:
            if not handshake.wait_following(wait_node_s):
                raise SessionError(
                    f"the {wait_for_node} node did not follow this session's markers within "
                    f"{wait_node_s:.0f} s (is it started with --vr-session {key}?)"
                )
            handshake.close()
        yield outlets
    finally:
        if recorder is not None:
            end = time.monotonic() + DRAIN_TIMEOUT_S
            while (
                time.monotonic() < end
                and sum(recorder.samples(s.name) for s in outlets.specs) < outlets.pushed
            ):
                time.sleep(0.05)
            recorder.stop()
        outlets.close()


def wait_recorded(recorder: Recorder, name: str, pushed: Callable[[], int], timeout: float) -> bool:
    """Wait (at most ``timeout`` s) until ``recorder`` holds ``pushed()`` samples of stream
    ``name`` — before a stream opened by another process of the session goes away with it."""
    end = time.monotonic() + timeout
    while recorder.samples(name) < pushed():
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


def write_fast_xdf(folder: Path, *, device: str = "", session_date: Any = None) -> Path:
    """``session.xdf`` of a simulated-clock session, from its event log (replaced if present)."""
    sf = SessionFolder(folder)
    events = read_events(sf.events).events
    return write_events_xdf(
        events,
        sf.xdf,
        session=session_key(folder),
        device=device,
        clock="simulated",
        session_date=session_date,
    )
