"""LSL outlets: the session's events as streams, plus pose and frame-timing outlets.

:class:`SessionOutlets` is an :data:`~mirrorvr.session.eventlog.EventSink`: add it to the
event log and every event is pushed, stamped with the event's own time ``t`` (a cue's display
time, a pulse's emission time) — never with the time of the push. Those times are LSL
``local_clock()`` seconds only with the real clock: on a simulated (``--fast``) clock they are
session seconds, so fast runs publish nothing live and write their XDF straight from the event
log instead (:mod:`mirrorvr.streams.from_events`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from mirrorvr.session.events import Event
from mirrorvr.streams.layout import (
    FRAMES,
    HAND_JOINTS,
    SESSION_STREAMS,
    STIM,
    StreamSpec,
    event_samples,
    pose_spec,
)


def session_specs(
    device: str = "", specs: Sequence[StreamSpec] = SESSION_STREAMS
) -> list[StreamSpec]:
    """The session streams, with the stimulator named in the stim stream's ``desc/device``."""
    out = []
    for s in specs:
        if s.kind == STIM.kind:
            s = dataclasses.replace(s, extra={**s.extra, "device": {"kind": device or "none"}})
        out.append(s)
    return out


class _Outlet:
    """One pylsl outlet built from a spec (kept as a plain object so tests can step it)."""

    def __init__(self, spec: StreamSpec, session: str, max_buffered: int = 360) -> None:
        import pylsl

        self.spec = spec
        self.info = spec.stream_info(session)
        # chunk_size 1: every sample leaves at once (markers must not wait for a chunk to fill)
        self.outlet = pylsl.StreamOutlet(self.info, chunk_size=1, max_buffered=max_buffered)

    def push(self, values: Sequence[Any], t: float) -> None:
        self.outlet.push_sample(list(values), t)

    def have_consumers(self) -> bool:
        return bool(self.outlet.have_consumers())

    def close(self) -> None:
        # dropping the last reference destroys the liblsl outlet (pylsl frees it in __del__)
        self.outlet = None


class SessionOutlets:
    """``mirrorvr-markers``, ``-stim``, ``-state``: an event-log sink publishing every event.

    ``session`` is the stable part of every source id (e.g. the session folder's name), so a
    recorder or remote node re-attaches when a resumed session opens its outlets again.
    ``prefix`` renames the streams (``mirrorvr-<prefix><kind>``) for a second node.
    """

    def __init__(
        self,
        session: str,
        *,
        device: str = "",
        specs: Sequence[StreamSpec] = SESSION_STREAMS,
        prefix: str = "",
    ) -> None:
        self.session = session
        base = session_specs(device, specs)
        # a node publishing beside the VR node (e.g. prefix "tms-") gets names of its own
        self.specs = [dataclasses.replace(s, kind=prefix + s.kind) for s in base]
        self._outlets = {b.kind: _Outlet(s, session) for b, s in zip(base, self.specs, strict=True)}
        self._lock = threading.Lock()
        self.pushed = 0
        #: the session's XDF recorder following these outlets (set by ``session_streams``), so
        #: streams this session opens elsewhere later (the stimulation process's pulses) join it
        self.recorder: Any = None

    @property
    def names(self) -> list[str]:
        """LSL names of the outlets."""
        return [s.name for s in self.specs]

    def __call__(self, event: Event) -> None:
        """Push ``event`` to its streams, stamped with ``event.t``."""
        with self._lock:
            for kind, values in event_samples(event):
                o = self._outlets.get(kind)
                if o is not None and o.outlet is not None:
                    o.push(values, event.t)
                    self.pushed += 1

    def wait_for_consumers(self, timeout: float) -> bool:
        """True once every outlet has a consumer (e.g. the recorder), within ``timeout`` s."""
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(o.have_consumers() for o in self._outlets.values()):
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Destroy the outlets (their streams disappear from the network)."""
        with self._lock:
            for o in self._outlets.values():
                o.close()

    def __enter__(self) -> SessionOutlets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PoseOutlet:
    """``mirrorvr-pose-tracked`` or ``-mirrored``: one sample per frame, position + quaternion.

    The scene pushes each frame's joints with the frame's predicted display time.
    """

    def __init__(
        self,
        which: str,
        session: str,
        *,
        joints: Sequence[str] = HAND_JOINTS,
        side: str = "",
        source: str = "",
    ) -> None:
        self.joints = tuple(joints)
        self.spec = pose_spec(which, self.joints, side, source)
        self._outlet = _Outlet(self.spec, session, max_buffered=60)
        # one sample's buffer, reused: a display pushes every frame (see the frame-loop benchmark)
        self._sample = np.zeros((1, len(self.joints), 7), dtype=np.float32)

    def push(self, t: float, positions: Any, quaternions: Any) -> None:
        """Push one pose: ``positions`` (joints, 3) in m, ``quaternions`` (joints, 4) as w x y z."""
        n = len(self.joints)
        self._sample[0, :, :3] = np.reshape(positions, (n, 3))
        self._sample[0, :, 3:] = np.reshape(quaternions, (n, 4))
        self._push(t)

    def push_joints(self, t: float, joints: Any) -> None:
        """Push one pose given as ``(joints, 7)``: position x y z, then quaternion w x y z."""
        self._sample[0] = joints
        self._push(t)

    def _push(self, t: float) -> None:
        if self._outlet.outlet is not None:
            # a one-sample chunk straight from the buffer (push_sample builds a ctypes array
            # from 182 Python floats: ~6x the CPU)
            self._outlet.outlet.push_chunk(self._sample.reshape(1, -1), t)

    def close(self) -> None:
        """Destroy the outlet."""
        self._outlet.close()


class FrameTimingOutlet:
    """``mirrorvr-frames``: one sample per displayed frame (display time, duration, misses)."""

    def __init__(self, session: str, *, refresh_hz: float = 0.0) -> None:
        self.spec = dataclasses.replace(FRAMES, nominal_srate=float(refresh_hz))
        self._outlet = _Outlet(self.spec, session, max_buffered=60)

    def push(
        self,
        frame: int,
        display_time: float,
        frame_duration: float,
        missed_frames: int = 0,
        render_cpu: float = float("nan"),
    ) -> None:
        """Push one frame, stamped with its predicted display time."""
        self._outlet.push(
            [float(frame), display_time, frame_duration, float(missed_frames), render_cpu],
            display_time,
        )

    def close(self) -> None:
        """Destroy the outlet."""
        self._outlet.close()
