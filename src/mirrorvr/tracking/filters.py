"""One Euro filter (Casiez, Roussel & Vogel, CHI 2012) for joint positions and orientations.

Smooths jitter at low speed and follows fast movement with little lag: the cut-off frequency
rises with the (smoothed) speed. State lives in the filter object; each call is pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.pose import LimbPose

Array = NDArray[np.float64]
_L = TypeVar("_L", bound=LimbPose)


def _alpha(cutoff: Array | float, dt: float) -> Array:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """One Euro filter over arrays whose last axis is one vector (speed = its norm)."""

    min_cutoff: float = 1.0  # Hz: smoothing at rest (lower = smoother)
    beta: float = 0.02  # how fast the cut-off rises with speed (higher = less lag)
    d_cutoff: float = 1.0  # Hz: smoothing of the speed estimate
    _x: Array | None = field(default=None, init=False, repr=False)
    _dx: Array | None = field(default=None, init=False, repr=False)
    _t: float | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        """Forget the past (after tracking was lost)."""
        self._x = self._dx = self._t = None

    def __call__(self, x: Array, t: float) -> Array:
        """Filtered ``x`` at time ``t`` (seconds)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            if self._x is None or self._t is None:
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return self._x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        assert self._dx is not None
        edx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        speed = np.linalg.norm(edx, axis=-1, keepdims=True)
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + a * (x - self._x)
        self._dx, self._t = edx, t
        return self._x.copy()


@dataclass
class HandFilter:
    """One Euro smoothing of a whole hand (or leg): positions directly, orientations via
    quaternions."""

    min_cutoff: float = 1.5
    beta: float = 0.5
    positions: OneEuroFilter = field(init=False)
    orientations: OneEuroFilter = field(init=False)
    _last_q: Array | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.positions = OneEuroFilter(self.min_cutoff, self.beta)
        self.orientations = OneEuroFilter(self.min_cutoff, self.beta)

    def __call__(self, hand: _L) -> _L:
        """The smoothed hand (the first call passes it through)."""
        q = hand.orientations
        if self._last_q is not None:
            # keep each quaternion in the hemisphere of the last one: q and −q are the same
            # rotation, and filtering across the sign flip would pass through zero
            q = np.where(np.sum(q * self._last_q, axis=-1, keepdims=True) < 0, -q, q)
        self._last_q = q
        p = self.positions(hand.positions, hand.t)
        fq = self.orientations(q, hand.t)
        n = np.linalg.norm(fq, axis=-1, keepdims=True)
        return replace(hand, positions=p, orientations=fq / n)

    def reset(self) -> None:
        """Forget the past."""
        self.positions.reset()
        self.orientations.reset()
        self._last_q = None


def is_unit(q: Array) -> bool:
    """All quaternions unit length (helper for checks)."""
    return bool(np.allclose(np.linalg.norm(quat.normalize(q), axis=-1), 1.0))
