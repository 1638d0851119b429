"""Synthetic tracking for simulation: the intact hand performs the cued movements.

The simulated patient sits at the table: head above the midline, shoulders either side, the
intact hand resting on its side of the table. When the presenter shows a movement window it
tells the source to :meth:`~SyntheticSource.perform` the movement; between windows the hand
rests with physiological noise. Deterministic for a seed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from mirrorvr.tracking.joints import Side
from mirrorvr.tracking.motion import Noise, Performance
from mirrorvr.tracking.pose import Pose, TrackingFrame
from mirrorvr.tracking.skeleton import HOME_WRIST, HandParams, hand_pose

HEAD = np.array([0.0, 0.0, 1.22])
SHOULDERS: dict[Side, np.ndarray] = {
    "left": np.array([-0.19, 0.02, 1.02]),
    "right": np.array([0.19, 0.02, 1.02]),
}


@dataclass
class SyntheticSource:
    """Synthetic intact hand (and head), following scripted movements."""

    intact_side: Side
    seed: int = 0
    scale: float = 1.0
    noise: bool = True
    _performances: list[Performance] = field(default_factory=list, init=False)
    _starts: list[float] = field(default_factory=list, init=False)
    _noise: Noise = field(init=False)

    def __post_init__(self) -> None:
        self._noise = Noise(self.seed)

    def perform(self, movement: str, start: float, duration: float) -> None:
        """Do ``movement`` from ``start`` for ``duration`` s (a later start wins an overlap)."""
        perf = Performance(movement, start, duration)
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._performances.insert(i, perf)

    def params(self, t: float) -> HandParams:
        """Posture of the intact hand at ``t``."""
        i = bisect.bisect_right(self._starts, t) - 1
        p = self._performances[i].params(t) if i >= 0 else HandParams()
        return self._noise.perturb(p, t) if self.noise else p

    def poll(self, t: float) -> TrackingFrame:
        """The intact hand and the head at ``t``."""
        wrist = HOME_WRIST["right"] + (self._noise.offset(t) if self.noise else 0.0)
        hand = hand_pose(self.intact_side, self.params(t), t, scale=self.scale, wrist=wrist)
        return TrackingFrame(t=t, hands={self.intact_side: hand}, head=Pose(HEAD.copy()))

    def body(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Head, left shoulder, right shoulder: what midline calibration uses."""
        return HEAD.copy(), SHOULDERS["left"].copy(), SHOULDERS["right"].copy()

    def close(self) -> None:
        """Nothing to release."""
