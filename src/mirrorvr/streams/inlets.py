"""LSL inlets on their own threads: resolve, pull, correct clocks, reconnect, log gaps.

:class:`StreamFollower` follows one stream chosen by an XPath predicate (e.g.
``type='EMG' or type='EEG'``). It pulls chunks on its own thread and hands them to a
callback; a stream that disappears is resolved again (the same source id, or any stream
matching the predicate) and the gap is reported through ``on_status``. The recorder uses raw
timestamps plus measured clock offsets (as XDF wants); live consumers (EMG, external pose,
remote markers) ask for ``clock_sync=True`` so timestamps arrive on this machine's clock.

Ready-made followers: :func:`emg_follower`, :func:`pose_follower`, :func:`marker_follower`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: seconds between clock-offset measurements (LabRecorder's and the XDF spec's cadence)
OFFSET_INTERVAL_S = 5.0

#: a clock-offset estimate older than this means the link to the stream's host is down
STALL_AFTER_S = 5.0

SamplesCallback = Callable[["StreamFollower", np.ndarray, Any], None]
"""``(follower, timestamps, values)``: values an (n, channels) array (strings: object array
of ``bytes`` exactly as sent)."""
StatusCallback = Callable[["StreamFollower", str, dict[str, Any]], None]
"""``(follower, what, details)``: ``what`` is connected | lost | restored (the stream went away
and came back) | stalled | resumed (clock probes time out: a cut link) | offset | error."""


@dataclass(frozen=True)
class StreamDescription:
    """What a follower knows about the stream it follows."""

    name: str
    type: str
    source_id: str
    uid: str
    hostname: str
    channel_count: int
    channel_format: int
    nominal_srate: float
    xml: str

    @classmethod
    def from_info(cls, info: Any) -> StreamDescription:
        """From a ``pylsl.StreamInfo`` (full info, after the inlet opened)."""
        return cls(
            name=info.name(),
            type=info.type(),
            source_id=info.source_id(),
            uid=info.uid(),
            hostname=info.hostname(),
            channel_count=info.channel_count(),
            channel_format=info.channel_format(),
            nominal_srate=info.nominal_srate(),
            xml=info.as_xml(),
        )


def time_correction_ex(inlet: Any, timeout: float) -> tuple[float, float, float]:
    """(offset, remote time of the estimate, round-trip uncertainty) of an inlet.

    pylsl only wraps ``lsl_time_correction``; the ``_ex`` form also says *when* the estimate
    was made, which is how a stalled link shows.
    """
    import ctypes

    import pylsl
    from pylsl.lib import lib

    fn = lib.lsl_time_correction_ex
    fn.restype = ctypes.c_double
    fn.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
        ctypes.c_double,
        ctypes.POINTER(ctypes.c_int),
    ]
    remote, unc, ec = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
    offset = fn(inlet.obj, ctypes.byref(remote), ctypes.byref(unc), timeout, ctypes.byref(ec))
    pylsl.util.handle_error(ec)
    return float(offset), float(remote.value), float(unc.value)


def _q(value: str) -> str:
    """Quote ``value`` for an XPath predicate."""
    return f"'{value}'" if "'" not in value else f'"{value}"'


def predicate_for(
    name: str | None = None, type: str | None = None, source_id: str | None = None
) -> str:
    """An XPath predicate matching the given properties (all that are set)."""
    parts = []
    if name:
        parts.append(f"name={_q(name)}")
    if type:
        parts.append(f"type={_q(type)}")
    if source_id:
        parts.append(f"source_id={_q(source_id)}")
    if not parts:
        raise ValueError("a stream predicate needs a name, type or source id")
    return " and ".join(parts)


class StreamFollower:
    """Follows one LSL stream on a thread of its own (``start``/``stop``, context manager).

    ``predicate`` chooses the stream; once connected, the follower sticks to that stream's
    source id (or name) so a returning outlet is picked up again. ``clock_sync`` applies
    liblsl's clock correction to timestamps (otherwise they are raw); either way the offset is
    measured every ``offset_interval_s`` and reported as status ``offset``.
    """

    def __init__(
        self,
        predicate: str,
        on_samples: SamplesCallback,
        *,
        on_status: StatusCallback | None = None,
        clock_sync: bool = True,
        offset_interval_s: float = OFFSET_INTERVAL_S,
        stall_after_s: float = STALL_AFTER_S,
        max_chunk: int = 4096,
        poll_s: float = 0.1,
        max_buflen: int = 360,
        label: str = "",
        initial_info: Any = None,
    ) -> None:
        self.predicate = predicate
        self._initial_info = initial_info
        self.on_samples = on_samples
        self.on_status = on_status
        self.clock_sync = clock_sync
        self.offset_interval_s = offset_interval_s
        self.stall_after_s = stall_after_s
        self.max_chunk = max_chunk
        self.poll_s = poll_s
        self.max_buflen = max_buflen
        self.label = label or predicate
        self.description: StreamDescription | None = None
        self.samples = 0
        self.gaps: list[tuple[float, float]] = []  # (lost at, restored at), local clock
        self.last_offset: float | None = None
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> StreamFollower:
        """Start the thread (returns at once; wait on ``connected`` if needed)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"lsl:{self.label}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> StreamFollower:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -----------------------------------------------------------------------
    def _status(self, what: str, **details: Any) -> None:
        if self.on_status is not None:
            self.on_status(self, what, details)

    def _resolve(self, predicate: str) -> Any | None:
        import pylsl

        while not self._stop.is_set():
            found = pylsl.resolve_bypred(predicate, 1, 1.0)
            if found:
                return found[0]
        return None

    def _open(self, info: Any) -> Any | None:
        import pylsl

        flags = pylsl.proc_clocksync | pylsl.proc_monotonize if self.clock_sync else 0
        inlet = pylsl.StreamInlet(
            info, max_buflen=self.max_buflen, recover=False, processing_flags=flags
        )
        try:
            inlet.open_stream(timeout=5.0)
            full = inlet.info(timeout=5.0)
        except (pylsl.util.TimeoutError, pylsl.util.LostError):
            return None
        self.description = StreamDescription.from_info(full)
        return inlet

    def _run(self) -> None:
        import pylsl

        try:
            predicate = self.predicate
            lost_at: float | None = None
            while not self._stop.is_set():
                # the first time, a stream the caller already resolved saves a second lookup
                info, self._initial_info = self._initial_info or self._resolve(predicate), None
                if info is None:
                    return
                inlet = self._open(info)
                if inlet is None:
                    continue
                d = self.description
                assert d is not None
                # stick to this stream from now on: same source id (or name) when it returns
                predicate = (
                    predicate_for(source_id=d.source_id)
                    if d.source_id
                    else predicate_for(name=d.name, type=d.type)
                )
                now = pylsl.local_clock()
                if lost_at is None:
                    self._status("connected", stream=d.name, source_id=d.source_id, uid=d.uid)
                else:
                    self.gaps.append((lost_at, now))
                    self._status(
                        "restored",
                        stream=d.name,
                        lost_at=lost_at,
                        restored_at=now,
                        gap_s=now - lost_at,
                        uid=d.uid,
                    )
                self.connected.set()
                lost_at = self._pull_loop(inlet)
                self.connected.clear()
                inlet.close_stream()
                del inlet
                if lost_at is not None:
                    self._status("lost", stream=d.name, lost_at=lost_at)
        except BaseException as e:  # reported, never silently dying
            self.error = e
            self._status("error", error=f"{type(e).__name__}: {e}")

    def _pull_loop(self, inlet: Any) -> float | None:
        """Pull until stopped (returns None) or the stream is lost (returns when)."""
        import pylsl

        next_probe = next_report = 0.0
        stalled_at: float | None = None
        while not self._stop.is_set():
            now = pylsl.local_clock()
            if now >= next_probe:
                # liblsl refreshes the clock offset in the background every ~2 s; how old its
                # latest estimate is reveals a cut link that TCP alone would hide for minutes
                try:
                    offset, remote_t, _rtt = time_correction_ex(inlet, 2.0)
                except pylsl.util.TimeoutError:
                    offset, remote_t = None, None
                except pylsl.util.LostError:
                    return float(pylsl.local_clock())
                now = pylsl.local_clock()
                age = (now - (remote_t + offset)) if offset is not None and remote_t else None
                if age is None or age > self.stall_after_s:
                    if stalled_at is None:
                        stalled_at = now - (age or 0.0)
                        self._status("stalled", since=stalled_at)
                elif stalled_at is not None:
                    self.gaps.append((stalled_at, now))
                    self._status("resumed", since=stalled_at, gap_s=now - stalled_at)
                    stalled_at = None
                if offset is not None and stalled_at is None and now >= next_report:
                    # measured for every stream: the recorder writes it to the XDF, live
                    # consumers log it (node-to-node clock offsets)
                    self.last_offset = offset
                    self._status("offset", collection_time=now - offset, offset=offset)
                    next_report = now + self.offset_interval_s
                next_probe = now + 1.0
            try:
                values, stamps = inlet.pull_chunk(
                    timeout=self.poll_s, max_samples=self.max_chunk, as_numpy=True
                )
            except pylsl.util.LostError:
                return float(pylsl.local_clock())
            if len(stamps):
                self.samples += len(stamps)
                self.on_samples(self, np.asarray(stamps, dtype=float), values)
        # drain what already arrived before stopping
        try:
            values, stamps = inlet.pull_chunk(
                timeout=0.0, max_samples=self.max_chunk, as_numpy=True
            )
            if len(stamps):
                self.samples += len(stamps)
                self.on_samples(self, np.asarray(stamps, dtype=float), values)
        except pylsl.util.LostError:
            pass
        return None


# -- the followers mirrorvr uses ---------------------------------------------------------
EMG_PREDICATE = "type='EMG' or type='EEG'"
POSE_PREDICATE = "type='MoCap' and not(starts-with(name,'mirrorvr-'))"
MARKER_PREDICATE = "type='Markers' and not(starts-with(name,'mirrorvr-'))"


def emg_follower(
    on_samples: SamplesCallback, *, name: str | None = None, **kw: Any
) -> StreamFollower:
    """Any EMG or EEG stream (or the one called ``name``), on this machine's clock."""
    pred = f"({EMG_PREDICATE}) and name={_q(name)}" if name else EMG_PREDICATE
    return StreamFollower(pred, on_samples, label=name or "emg", **kw)


def pose_follower(
    on_samples: SamplesCallback, *, name: str | None = None, **kw: Any
) -> StreamFollower:
    """External pose (motion capture, data glove): a MoCap stream not published by mirrorvr."""
    pred = predicate_for(name=name) if name else POSE_PREDICATE
    return StreamFollower(pred, on_samples, label=name or "pose", **kw)


def marker_follower(
    on_samples: SamplesCallback, *, predicate: str = MARKER_PREDICATE, **kw: Any
) -> StreamFollower:
    """External markers (e.g. another node's ``mirrorvr-markers``: pass its predicate)."""
    return StreamFollower(predicate, on_samples, label="markers", **kw)


def wait_connected(followers: list[StreamFollower], timeout: float) -> bool:
    """True once every follower is connected, within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    return all(f.connected.wait(max(0.0, end - time.monotonic())) for f in followers)
