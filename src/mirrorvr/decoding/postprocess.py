"""After the classifier: a rest threshold, majority-vote smoothing, and a proportional speed.

* **Rest threshold.** Below a level of overall activity (mean MAV over channels) the decision
  is rest whatever the classifier says: with the patient relaxed, the classifier would
  otherwise pick whichever class the noise looks like, and the phantom would drift.
* **Majority vote.** The decision is the most common of the last ``n`` raw decisions (ties go
  to the most recent of the tied classes): isolated misclassifications do not move the limb,
  at the cost of about ``n/2`` increments of delay at a change of class.
* **Proportional speed.** How strongly the patient contracts, relative to the same class during
  calibration: 0 at the rest level, 1 at the calibration level, capped at ``max_speed``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

REST = "rest"


@dataclass(frozen=True)
class ActivityLevels:
    """Calibration activity (mean MAV over channels) at rest and per class, and the threshold."""

    rest_level: float
    threshold: float
    class_levels: Mapping[str, float]

    def speed(self, cls: str, activity: float, max_speed: float = 1.5) -> float:
        """Proportional speed of ``cls`` at ``activity`` (0 … ``max_speed``; 0 for rest)."""
        if cls == REST:
            return 0.0
        top = self.class_levels.get(cls, 0.0)
        span = top - self.rest_level
        if span <= 1e-12:
            return 0.0
        return float(min(max_speed, max(0.0, (activity - self.rest_level) / span)))

    def to_dict(self) -> dict[str, object]:
        """Plain data."""
        return {
            "rest_level": self.rest_level,
            "threshold": self.threshold,
            "class_levels": dict(self.class_levels),
        }


def activity_levels(
    activity: NDArray[np.float64],
    labels: Sequence[str],
    *,
    k_sd: float = 3.0,
    min_fraction: float = 0.15,
) -> ActivityLevels:
    """Levels from calibration windows' activity and labels.

    The threshold is the rest windows' mean + ``k_sd`` SDs, but at least the rest mean plus
    ``min_fraction`` of the way to the weakest class's mean (so a very quiet rest recording
    does not make every twitch a movement).
    """
    a = np.asarray(activity, dtype=np.float64)
    y = np.asarray(list(labels))
    rest = a[y == REST]
    if len(rest) == 0:
        raise ValueError("calibration has no rest windows: the rest class is required")
    rest_mean = float(rest.mean())
    classes = {c: float(a[y == c].mean()) for c in sorted(set(y.tolist())) if c != REST}
    weakest = min(classes.values(), default=rest_mean)
    threshold = max(
        rest_mean + k_sd * float(rest.std()), rest_mean + min_fraction * (weakest - rest_mean)
    )
    return ActivityLevels(rest_mean, threshold, classes)


@dataclass
class MajorityVote:
    """The most common of the last ``n`` decisions (ties: the most recent of the tied)."""

    n: int = 5
    _history: deque[str] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("majority vote needs n ≥ 1")

    def push(self, decision: str) -> str:
        """Add a raw decision; return the smoothed one."""
        self._history.append(decision)
        while len(self._history) > self.n:
            self._history.popleft()
        counts = Counter(self._history)
        top = max(counts.values())
        for d in reversed(self._history):
            if counts[d] == top:
                return d
        raise AssertionError("unreachable: the history is not empty")

    def reset(self) -> None:
        """Forget the history (a new block, or after the stream was lost)."""
        self._history.clear()
