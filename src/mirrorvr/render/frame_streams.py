"""Per-frame LSL streams from the process that renders: tracked and mirrored hand, frame timing.

Every rendered frame pushes ``mirrorvr-pose-tracked`` (the intact hand as the scene used it,
after smoothing), ``mirrorvr-pose-mirrored`` (the hand drawn on the amputated side) and
``mirrorvr-frames``, all stamped with the frame's display time (LSL ``local_clock()`` seconds:
the real-time display process runs on the same CLOCK_MONOTONIC). Poses are converted from the
world frame (z up) to OpenXR stage space (y up, ``docs/streams.md``) here, at the edge.
A frame in which the intact hand is not tracked pushes a frame-timing sample but no poses.
"""

from __future__ import annotations

import math

from mirrorvr.render.frame import FrameInfo
from mirrorvr.render.xr_frames import position_to_xr, quat_to_xr
from mirrorvr.streams.outlets import FrameTimingOutlet, PoseOutlet
from mirrorvr.tracking.joints import Side
from mirrorvr.tracking.pose import HandPose


def missed_intervals(duration: float, fps: float) -> int:
    """Refresh intervals skipped in a ``duration`` s gap between frames paced at ``fps`` (pure)."""
    if not (duration > 0 and fps > 0):
        return 0
    # half an interval of slack: a frame a little late is late, not a whole frame missed
    return max(0, math.floor(duration * fps + 0.5) - 1)


class FrameStreams:
    """The three per-frame outlets, with source ids ``mirrorvr-<session>-<kind>``."""

    def __init__(self, session: str, intact: Side, amputated: Side, fps: float) -> None:
        self.fps = fps
        self.tracked = PoseOutlet("tracked", session, side=intact)
        self.mirrored = PoseOutlet("mirrored", session, side=amputated)
        self.timing = FrameTimingOutlet(session, refresh_hz=fps)
        self._last_shown: float | None = None
        self.pushed = 0

    @property
    def names(self) -> list[str]:
        """LSL names of the outlets."""
        return [self.tracked.spec.name, self.mirrored.spec.name, self.timing.spec.name]

    def publish(
        self,
        frame: FrameInfo,
        intact: HandPose | None,
        mirrored: HandPose | None,
        render_cpu: float = float("nan"),
    ) -> None:
        """Push ``frame`` (already rendered: ``frame.shown`` stamped) and the hands it showed."""
        t = frame.shown
        if t is None:
            return
        duration = math.nan if self._last_shown is None else t - self._last_shown
        missed = 0 if self._last_shown is None else missed_intervals(duration, self.fps)
        self._last_shown = t
        if intact is not None and mirrored is not None:
            self.tracked.push(t, position_to_xr(intact.positions), quat_to_xr(intact.orientations))
            self.mirrored.push(
                t, position_to_xr(mirrored.positions), quat_to_xr(mirrored.orientations)
            )
        self.timing.push(frame.index, t, duration, missed, render_cpu)
        self.pushed += 1

    def close(self) -> None:
        """Destroy the outlets."""
        for o in (self.tracked, self.mirrored, self.timing):
            o.close()
