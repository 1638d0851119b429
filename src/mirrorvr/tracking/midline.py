"""Midline calibration from tracked frames (pure): the patient holds still, the plane follows.

A session starts with a calibration hold (``[tracking] midline = "calibrate"``): the patient
sits upright and looks straight ahead for ``midline_hold_s`` while the source's frames are
collected. The body's mid-sagittal plane then passes through the mean head position, its normal
the head's horizontal right axis. Sources without a head pose (an LSL hand tracker, a
recording) fall back to the therapist's mark: the plane x = ``midline_x_m``. A plane stored for
the patient (``midline = "stored"``) is reused as it is. Every outcome is logged
(``midline`` event: method, point, normal) and can be redone while the session is paused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mirrorvr.config.plan import TrackingSettings
from mirrorvr.tracking import quat
from mirrorvr.tracking.mirror import UP, CalibrationError, MidlinePlane
from mirrorvr.tracking.pose import TrackingFrame

#: the head may drift this much during the hold (metres) before the hold is refused
MAX_HEAD_MOTION_M = 0.04


@dataclass(frozen=True)
class MidlineResult:
    """A calibrated (or marked, or stored) midline and how it was obtained."""

    plane: MidlinePlane
    method: str  # "head" | "marked" | "stored" | "body"
    samples: int = 0

    def to_event(self) -> dict[str, object]:
        """The ``midline`` event's fields."""
        return {
            "method": self.method,
            "point": [round(float(v), 4) for v in self.plane.point],
            "normal": [round(float(v), 5) for v in self.plane.normal],
            "samples": self.samples,
        }


def marked(x_m: float) -> MidlineResult:
    """The therapist's mark: the vertical plane x = ``x_m`` (metres, world frame)."""
    return MidlineResult(MidlinePlane.sagittal(x_m), "marked")


def stored(values: Sequence[float]) -> MidlineResult:
    """A plane kept for the patient: ``[px, py, pz, nx, ny, nz]``."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (6,):
        raise CalibrationError("a stored midline is six numbers: point x y z, normal x y z")
    return MidlineResult(MidlinePlane(v[:3], v[3:]), "stored")


def from_plan(tracking: TrackingSettings) -> MidlineResult:
    """The plan's midline without a hold: its stored plane, else its mark (x = ``midline_x_m``)."""
    if tracking.midline == "stored" and tracking.midline_plane is not None:
        return stored(tracking.midline_plane)
    return marked(tracking.midline_x_m)


def from_hold(frames: Sequence[TrackingFrame], fallback_x_m: float = 0.0) -> MidlineResult:
    """The midline from the frames of a calibration hold (the therapist's mark without a head).

    Raises :class:`CalibrationError` if the head moved more than 4 cm during the hold.
    """
    heads = [f.head for f in frames if f.head is not None and f.head.valid]
    if not heads:
        return marked(fallback_x_m)
    p = np.array([h.position for h in heads])
    if float(np.max(np.linalg.norm(p - p.mean(axis=0), axis=1))) > MAX_HEAD_MOTION_M:
        raise CalibrationError(
            "the head moved more than 4 cm during the midline hold: ask the patient to sit "
            "still, looking straight ahead, and calibrate again (P pauses, C recalibrates)"
        )
    q = np.array([h.orientation for h in heads])
    q = np.where(np.sum(q * q[0], axis=1, keepdims=True) < 0, -q, q)  # one hemisphere
    mean_q = quat.normalize(q.mean(axis=0))
    right = quat.rotate(mean_q, np.array([1.0, 0.0, 0.0]))
    right = right - (right @ UP) * UP
    if float(np.linalg.norm(right)) < 0.5:
        raise CalibrationError(
            "the head was tilted sideways by more than 60° during the midline hold: "
            "calibrate again with the head upright"
        )
    return MidlineResult(MidlinePlane(p.mean(axis=0), right), "head", len(heads))
