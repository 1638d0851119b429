"""Synthetic tracking for simulation: the intact hand performs the cued movements.

The simulated patient sits at the table: head above the midline, shoulders either side, the
intact hand resting on its side of the table. When the presenter shows a movement window it
tells the source to :meth:`~SyntheticSource.perform` the movement; between windows the hand
rests with physiological noise. With ``limb="lower"`` the intact *leg* does the same (seated,
foot on the floor; lower-limb movements). Deterministic for a seed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from mirrorvr.tracking.joints import Side
from mirrorvr.tracking.leg_motion import LEG_MOVEMENTS, LegPerformance
from mirrorvr.tracking.leg_skeleton import HOME_HIP, LegParams, leg_pose
from mirrorvr.tracking.motion import Noise, Performance
from mirrorvr.tracking.pose import LimbKind, Pose, TrackingFrame
from mirrorvr.tracking.skeleton import HOME_WRIST, HandParams, hand_pose

HEAD = np.array([0.0, 0.0, 1.22])
SHOULDERS: dict[Side, np.ndarray] = {
    "left": np.array([-0.19, 0.02, 1.02]),
    "right": np.array([0.19, 0.02, 1.02]),
}


@dataclass
class SyntheticSource:
    """Synthetic intact hand or leg (and head), following scripted movements."""

    intact_side: Side
    seed: int = 0
    scale: float = 1.0
    noise: bool = True
    limb: LimbKind = "upper"
    _performances: list[Performance | LegPerformance] = field(default_factory=list, init=False)
    _starts: list[float] = field(default_factory=list, init=False)
    _noise: Noise = field(init=False)

    def __post_init__(self) -> None:
        self._noise = Noise(self.seed)

    def perform(self, movement: str, start: float, duration: float) -> None:
        """Do ``movement`` from ``start`` for ``duration`` s (a later start wins an overlap)."""
        perf: Performance | LegPerformance
        if movement in LEG_MOVEMENTS:
            perf = LegPerformance(movement, start, duration)
        else:
            perf = Performance(movement, start, duration)
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._performances.insert(i, perf)

    def params(self, t: float) -> HandParams:
        """Posture of the intact hand at ``t``."""
        i = bisect.bisect_right(self._starts, t) - 1
        perf = self._performances[i] if i >= 0 else None
        p = perf.params(t) if isinstance(perf, Performance) else HandParams()
        return self._noise.perturb(p, t) if self.noise else p

    def leg_params(self, t: float) -> LegParams:
        """Posture of the intact leg at ``t``."""
        i = bisect.bisect_right(self._starts, t) - 1
        perf = self._performances[i] if i >= 0 else None
        p = perf.params(t) if isinstance(perf, LegPerformance) else LegParams()
        if not self.noise:
            return p
        d = self._noise.perturb(HandParams(), t)  # the same seeded drift, on the ankle
        return LegParams(p.knee_ext, p.dorsiflexion + d.wrist_flex, p.inversion, p.toe_flex)

    def poll(self, t: float) -> TrackingFrame:
        """The intact hand (or leg) and the head at ``t``."""
        if self.limb == "lower":
            hip = HOME_HIP["right"] + (self._noise.offset(t) if self.noise else 0.0)
            leg = leg_pose(self.intact_side, self.leg_params(t), t, scale=self.scale, hip=hip)
            return TrackingFrame(t=t, legs={self.intact_side: leg}, head=Pose(HEAD.copy()))
        # hand_pose takes the wrist of the hand it builds (a left hand's wrist is on the left)
        wrist = HOME_WRIST[self.intact_side] + (self._noise.offset(t) if self.noise else 0.0)
        hand = hand_pose(self.intact_side, self.params(t), t, scale=self.scale, wrist=wrist)
        return TrackingFrame(t=t, hands={self.intact_side: hand}, head=Pose(HEAD.copy()))

    def body(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Head, left shoulder, right shoulder: what midline calibration uses."""
        return HEAD.copy(), SHOULDERS["left"].copy(), SHOULDERS["right"].copy()

    def close(self) -> None:
        """Nothing to release."""
