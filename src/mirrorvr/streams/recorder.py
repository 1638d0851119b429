"""Records any set of LSL streams — mirrorvr's and other devices' — to an XDF file.

Like LabRecorder, but crash-safe and in Python: one :class:`StreamFollower` thread per stream
pulls chunks and writes them straight to disk (memory stays flat however long the
recording), measures the clock offset every 5 s (ClockOffset chunks), and re-attaches when the
stream returns; a Boundary chunk goes out every 10 s; footers on :meth:`Recorder.stop`. A
stream that appears later (matching the selection) is added to the running recording. After
``kill -9`` the file loads in pyxdf as it is; ``mirrorvr xdf repair`` adds the footers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr.streams.inlets import (
    OFFSET_INTERVAL_S,
    StreamDescription,
    StreamFollower,
    predicate_for,
)
from mirrorvr.streams.xdf_writer import XdfWriter

#: seconds between Boundary chunks (LabRecorder's cadence)
BOUNDARY_INTERVAL_S = 10.0
#: seconds between looks for new streams
DISCOVERY_INTERVAL_S = 1.0

RecorderStatus = Callable[[str, dict[str, Any]], object]
"""``(what, details)``: stream_added, connected, lost, restored, stalled, resumed, error."""


@dataclass
class _Recorded:
    follower: StreamFollower
    stream_id: int | None = None
    layout_key: tuple[int, int] | None = None  # (channel_count, channel_format)
    extra_ids: dict[tuple[int, int], int] = field(default_factory=dict)


def _key(info: Any) -> str:
    # what identifies "the same stream" across restarts: its source id, else name + host
    sid = info.source_id()
    return f"sid:{sid}" if sid else f"nh:{info.name()}@{info.hostname()}"


class Recorder:
    """Record streams matching any of ``predicates`` (``None``: every stream) to ``path``.

    ``exclude`` predicates drop matches (e.g. ``starts-with(name,'other-lab')``).
    """

    def __init__(
        self,
        path: str | Path,
        predicates: Sequence[str] | None = None,
        *,
        exclude: Sequence[str] = (),
        on_status: RecorderStatus | None = None,
        file_info: dict[str, str] | None = None,
        offset_interval_s: float = OFFSET_INTERVAL_S,
        boundary_interval_s: float = BOUNDARY_INTERVAL_S,
    ) -> None:
        self.path = Path(path)
        self.predicates = list(predicates) if predicates else ["true()"]
        self.exclude = list(exclude)
        self.on_status = on_status
        self.offset_interval_s = offset_interval_s
        self.boundary_interval_s = boundary_interval_s
        self._file_info = file_info or {}
        self._writer: XdfWriter | None = None
        self._recorded: dict[str, _Recorded] = {}
        self._by_follower: dict[int, _Recorded] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Recorder:
        """Create the file and start looking for streams (returns at once)."""
        self._writer = XdfWriter(self.path, file_info=self._file_info)
        self._thread = threading.Thread(target=self._discover, name="xdf-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop every follower (draining what arrived), write footers and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
        for r in list(self._recorded.values()):
            r.follower.stop()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- queries --------------------------------------------------------------------------
    @property
    def streams(self) -> dict[str, int]:
        """Stream name -> samples recorded so far."""
        return {
            (r.follower.description.name if r.follower.description else k): r.follower.samples
            for k, r in self._recorded.items()
        }

    def samples(self, name: str) -> int:
        """Samples recorded so far from the stream called ``name`` (0 if not recording it)."""
        return self.streams.get(name, 0)

    def wait_for(self, names: Sequence[str], timeout: float) -> bool:
        """True once every stream in ``names`` is connected, within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            connected = {
                r.follower.description.name
                for r in self._recorded.values()
                if r.follower.description and r.stream_id is not None
            }
            if set(names) <= connected:
                return True
            time.sleep(0.05)
        return False

    # -- internals ------------------------------------------------------------------------
    def _status(self, what: str, **details: Any) -> None:
        if self.on_status is not None:
            self.on_status(what, details)

    def _selection(self) -> str:
        sel = " or ".join(f"({p})" for p in self.predicates)
        if self.exclude:
            sel = f"({sel}) and not(" + " or ".join(f"({p})" for p in self.exclude) + ")"
        return sel

    def _discover(self) -> None:
        import pylsl

        assert self._writer is not None
        resolver = pylsl.ContinuousResolver(pred=self._selection(), forget_after=5.0)
        next_boundary = time.monotonic() + self.boundary_interval_s
        try:
            while not self._stop.is_set():
                for info in resolver.results():
                    key = _key(info)
                    if key not in self._recorded:
                        self._follow(key, info)
                if time.monotonic() >= next_boundary:
                    self._writer.write_boundary()
                    next_boundary = time.monotonic() + self.boundary_interval_s
                self._stop.wait(DISCOVERY_INTERVAL_S)
        finally:
            del resolver

    def _follow(self, key: str, info: Any) -> None:
        sid = info.source_id()
        pred = (
            predicate_for(source_id=sid)
            if sid
            else f"{predicate_for(name=info.name())} and hostname='{info.hostname()}'"
        )
        f = StreamFollower(
            pred,
            self._on_samples,
            on_status=self._on_follower_status,
            clock_sync=False,  # XDF keeps raw stamps + ClockOffset chunks; readers correct
            offset_interval_s=self.offset_interval_s,
            label=info.name(),
            initial_info=info,
        )
        rec = _Recorded(f)
        with self._lock:
            self._recorded[key] = rec
            self._by_follower[id(f)] = rec
        self._status("stream_found", stream=info.name(), source_id=sid)
        f.start()

    def _record_of(self, follower: StreamFollower) -> _Recorded:
        return self._by_follower[id(follower)]

    def _on_follower_status(self, follower: StreamFollower, what: str, d: dict[str, Any]) -> None:
        assert self._writer is not None
        rec = self._record_of(follower)
        desc = follower.description
        if what in ("connected", "restored") and desc is not None:
            self._ensure_stream(rec, desc)
        if what == "offset" and rec.stream_id is not None:
            self._writer.write_clock_offset(rec.stream_id, d["collection_time"], d["offset"])
            return
        self._status(what, **{"stream": desc.name if desc else follower.label, **d})

    def _ensure_stream(self, rec: _Recorded, desc: StreamDescription) -> None:
        assert self._writer is not None
        layout = (desc.channel_count, desc.channel_format)
        if rec.layout_key == layout:
            return  # the same stream came back: keep writing to the same XDF stream
        if layout in rec.extra_ids:  # it came back with an older layout
            rec.stream_id, rec.layout_key = rec.extra_ids[layout], layout
            return
        # the stream's header as the network gave it (like LabRecorder); new id per layout
        rec.stream_id = self._writer.add_stream(desc.xml)
        rec.layout_key = layout
        rec.extra_ids[layout] = rec.stream_id
        self._status("stream_added", stream=desc.name, stream_id=rec.stream_id)

    def _on_samples(self, follower: StreamFollower, stamps: np.ndarray, values: Any) -> None:
        assert self._writer is not None
        rec = self._record_of(follower)
        if rec.stream_id is not None and not self._writer.closed:
            self._writer.write_samples(rec.stream_id, stamps, values)


def record(
    path: str | Path,
    predicates: Sequence[str] | None,
    *,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    on_status: RecorderStatus | None = None,
    file_info: dict[str, str] | None = None,
) -> Recorder:
    """Record until ``duration_s`` passes or ``stop`` is set; returns the stopped recorder."""
    stop = stop or threading.Event()
    rec = Recorder(path, predicates, on_status=on_status, file_info=file_info).start()
    try:
        stop.wait(duration_s)
    finally:
        rec.stop()
    return rec
