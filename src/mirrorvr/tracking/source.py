"""The pose-source seam: where tracked hands, controllers and the head come from.

Sources: :class:`~mirrorvr.tracking.synthetic.SyntheticSource` (simulation),
:class:`~mirrorvr.tracking.replay.ReplaySource` (a recorded stream),
:class:`~mirrorvr.tracking.lsl_source.LSLPoseSource` (an LSL pose stream) and the OpenXR source
of the headset backend. The frame loop polls the source once per frame in its pose-sync phase
(task sort −1000) with the time the frame will be displayed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mirrorvr.tracking.pose import TrackingFrame


@runtime_checkable
class PoseSource(Protocol):
    """Anything that can say where the hands are at a given time."""

    def poll(self, t: float) -> TrackingFrame:
        """Latest poses, predicted (or interpolated) for LSL time ``t`` where the source can."""
        ...

    def close(self) -> None:
        """Release the source."""
        ...


@runtime_checkable
class Performer(Protocol):
    """A source that can be told to perform a movement (synthetic motion in simulation)."""

    def perform(self, movement: str, start: float, duration: float) -> None:
        """Make the intact hand do ``movement`` from ``start`` for ``duration`` seconds."""
        ...
