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


#: column → group of a joint's row ``[x, y, z, qw, qx, qy, qz]``: position (0), orientation (1)
_GROUP = np.array([0, 0, 0, 1, 1, 1, 1])
#: sums the squared components of each group: ``(n, 7) @ _GROUPS → (n, 2)``
_GROUPS = np.zeros((7, 2))
_GROUPS[:3, 0] = 1.0
_GROUPS[3:, 1] = 1.0


@dataclass
class HandFilter:
    """One Euro smoothing of a whole hand (or leg): positions and orientations (quaternions,
    kept in one hemisphere) of every joint, as one ``(joints, 7)`` array.

    The same filter as a :class:`OneEuroFilter` on the positions and another on the
    quaternions (speed = per joint, per group), batched: one array pass per stage into
    preallocated buffers — per-call overhead, not arithmetic, is what a frame of 26 joints costs.
    """

    min_cutoff: float = 1.5
    beta: float = 0.5
    d_cutoff: float = 1.0
    _x: Array | None = field(default=None, init=False, repr=False)
    _dx: Array | None = field(default=None, init=False, repr=False)
    _t: float | None = field(default=None, init=False, repr=False)
    _raw: Array | None = field(default=None, init=False, repr=False)
    _tmp: Array | None = field(default=None, init=False, repr=False)

    def __call__(self, hand: _L) -> _L:
        """The smoothed hand (the first call passes it through)."""
        n = len(hand.positions)
        raw = self._raw
        if raw is None or len(raw) != n:
            raw = self._raw = np.empty((n, 7))
            self._tmp = np.empty((n, 7))
            self._x = None
        raw[:, :3] = hand.positions
        raw[:, 3:] = hand.orientations
        x = self._x
        if x is not None:
            # keep each quaternion in the hemisphere of the last one: q and −q are the same
            # rotation, and filtering across the sign flip would pass through zero
            flip = np.einsum("ij,ij->i", raw[:, 3:], x[:, 3:]) < 0
            if flip.any():
                raw[flip, 3:] *= -1.0
        t = hand.t
        if x is None or self._t is None or self._dx is None or t <= self._t:
            if x is None or self._t is None:
                self._x, self._dx, self._t = raw.copy(), np.zeros_like(raw), t
            out = self._x
            assert out is not None
            return replace(hand, positions=out[:, :3].copy(), orientations=out[:, 3:].copy())
        dt = t - self._t
        tmp = self._tmp
        assert tmp is not None
        dx = self._dx
        # derivative, smoothed at d_cutoff: dx += a_d · ((raw − x)/dt − dx)
        np.subtract(raw, x, out=tmp)
        tmp *= 1.0 / dt
        tmp -= dx
        tmp *= float(_alpha(self.d_cutoff, dt))
        dx += tmp
        # cut-off per joint and group from the speed; α = c/(c + 1) with c = 2π·cutoff·dt
        speed = np.sqrt((dx * dx) @ _GROUPS)
        c = speed * (2.0 * math.pi * dt * self.beta) + 2.0 * math.pi * dt * self.min_cutoff
        a = (c / (c + 1.0))[:, _GROUP]
        np.subtract(raw, x, out=tmp)
        tmp *= a
        x += tmp
        self._t = t
        q = x[:, 3:] / np.sqrt(np.einsum("ij,ij->i", x[:, 3:], x[:, 3:]))[:, None]
        return replace(hand, positions=x[:, :3].copy(), orientations=q)

    def reset(self) -> None:
        """Forget the past."""
        self._x = self._dx = self._t = None


def is_unit(q: Array) -> bool:
    """All quaternions unit length (helper for checks)."""
    return bool(np.allclose(np.linalg.norm(quat.normalize(q), axis=-1), 1.0))
