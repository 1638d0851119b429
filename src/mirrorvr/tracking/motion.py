"""Scripted hand movements with natural velocity profiles (synthetic motion for simulation).

Each exercise movement is a sequence of key postures (:class:`HandParams`); between keys the
hand moves along a minimum-jerk profile (Flash & Hogan 1985: position follows
``10τ³ − 15τ⁴ + 6τ⁵``, a bell-shaped velocity), the way unhurried human reaching and grasping
moves. A movement window repeats the movement's cycle as often as fits (cycles of about 2–3 s)
and always ends back at rest. Physiological noise (slow postural drift and a small 8–12 Hz
tremor) is a seeded sum of sinusoids: a pure function of time, so any frame can be sampled in
any order and the same seed gives the same motion.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar, get_args

import numpy as np
from numpy.typing import NDArray

from mirrorvr.config.plan import HandMovement
from mirrorvr.tracking.skeleton import HandParams

Array = NDArray[np.float64]
REST = HandParams()
#: every hand movement a plan can name; one list, owned by the plan model
MOVEMENTS: tuple[str, ...] = get_args(HandMovement)

_FIST = HandParams(1.0, 1.0, 1.0, 1.0, thumb_opposition=0.45, thumb_flex=0.9)


_CURLS = ("curl_index", "curl_middle", "curl_ring", "curl_little")


def _curl(i: int, c: float = 1.0) -> HandParams:
    return replace(HandParams(), **{_CURLS[i]: c})


def _opp(i: int) -> HandParams:
    """Thumb towards finger ``i``'s tip: opposition grows with the finger's distance."""
    return replace(
        HandParams(),
        **{_CURLS[i]: 0.45 + 0.1 * i},
        thumb_opposition=0.55 + 0.15 * i,
        thumb_flex=0.35 + 0.1 * i,
    )


#: one cycle of each movement: (fraction of the cycle to reach the key, key posture);
#: every cycle starts and ends at rest
CYCLES: dict[str, tuple[tuple[float, HandParams], ...]] = {
    "fist": ((0.35, _FIST), (0.3, _FIST), (0.35, REST)),
    "open_hand": (
        (
            0.35,
            HandParams(
                spread=1.0, curl_index=-0.08, curl_middle=-0.08, curl_ring=-0.08, curl_little=-0.08
            ),
        ),
        (0.3, HandParams(spread=1.0)),
        (0.35, REST),
    ),
    "finger_flexion": tuple(
        step for i in range(4) for step in ((0.125, _curl(i, 0.9)), (0.125, REST))
    ),
    "thumb_opposition": tuple(step for i in range(4) for step in ((0.125, _opp(i)), (0.125, REST))),
    "wrist_flexion": (
        (0.4, HandParams(wrist_flex=math.radians(55))),
        (0.2, HandParams(wrist_flex=math.radians(55))),
        (0.4, REST),
    ),
    "wrist_extension": (
        (0.4, HandParams(wrist_flex=math.radians(-50))),
        (0.2, HandParams(wrist_flex=math.radians(-50))),
        (0.4, REST),
    ),
    "supination": (
        (0.4, HandParams(forearm_rot=math.radians(150))),
        (0.2, HandParams(forearm_rot=math.radians(150))),
        (0.4, REST),
    ),
    "pronation": (
        (0.25, HandParams(forearm_rot=math.radians(90))),
        (0.25, REST),
        (0.25, HandParams(forearm_rot=math.radians(90))),
        (0.25, REST),
    ),
    "reach": (
        (0.45, HandParams(reach=0.15, spread=0.3)),
        (0.1, HandParams(reach=0.15, spread=0.3)),
        (0.45, REST),
    ),
}
#: preferred seconds per cycle (a window holds a whole number of cycles, at least one)
CYCLE_S = {"finger_flexion": 4.0, "thumb_opposition": 4.0, "pronation": 3.0}
DEFAULT_CYCLE_S = 2.5


def min_jerk(tau: float | Array) -> float | Array:
    """Minimum-jerk position profile from 0 to 1 over ``tau`` ∈ [0, 1] (clamped)."""
    x = np.clip(tau, 0.0, 1.0)
    return x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)


class Keyed(Protocol):
    """A posture that interpolates as a parameter vector (hand or leg)."""

    def vector(self) -> Array:
        """The parameters as a vector (for interpolation)."""
        ...


K = TypeVar("K", bound=Keyed)


def keyed_cycle_at(
    keys: Sequence[tuple[float, K]], rest: K, u: float, from_vector: Callable[[Array], K]
) -> K:
    """Posture at phase ``u`` ∈ [0, 1] of a cycle of key postures starting from ``rest``.

    ``keys`` are ``(fraction of the cycle, key posture)``; each step moves to its key along a
    minimum-jerk profile. Shared by the hand's and the leg's movement curves.
    """
    u = min(max(u, 0.0), 1.0)
    start = rest.vector()
    acc = 0.0
    for frac, key in keys:
        if u <= acc + frac + 1e-12:
            tau = (u - acc) / frac if frac > 0 else 1.0
            s = float(min_jerk(tau))
            return from_vector(start + s * (key.vector() - start))
        acc += frac
        start = key.vector()
    return keys[-1][1]


def params_at(movement: str, u: float) -> HandParams:
    """Posture at phase ``u`` ∈ [0, 1] of one cycle of ``movement``."""
    try:
        keys = CYCLES[movement]
    except KeyError:
        raise ValueError(f"unknown movement '{movement}' (known: {', '.join(MOVEMENTS)})") from None
    return keyed_cycle_at(keys, REST, u, HandParams.from_vector)


@dataclass(frozen=True)
class Performance:
    """One movement performed from ``start`` for ``duration`` seconds (then rest)."""

    movement: str
    start: float
    duration: float

    @property
    def cycles(self) -> int:
        """Whole cycles in the window."""
        per = CYCLE_S.get(self.movement, DEFAULT_CYCLE_S)
        return max(1, round(self.duration / per))

    def params(self, t: float) -> HandParams:
        """Posture at time ``t`` (rest outside the window)."""
        if t <= self.start or t >= self.start + self.duration:
            return REST
        phase = (t - self.start) / self.duration * self.cycles
        return params_at(self.movement, phase - math.floor(phase))


@dataclass(frozen=True)
class Noise:
    """Seeded physiological noise: slow drift (mm, degrees) plus a small tremor."""

    seed: int = 0
    drift_m: float = 0.002
    drift_deg: float = 1.0
    tremor_m: float = 0.0003

    def _waves(self, salt: int, n: int, lo: float, hi: float) -> Array:
        # (frequency, phase) pairs; cached: they depend only on the seed
        key = (salt, n, lo, hi)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            rng = random.Random(self.seed * 7919 + salt)
            cache[key] = np.array(
                [[rng.uniform(lo, hi), rng.uniform(0, 2 * math.pi)] for _ in range(n)]
            )
        return cache[key]

    def offset(self, t: float) -> Array:
        """Wrist offset (metres) at ``t``: 3 slow waves per axis + tremor."""
        out = np.zeros(3)
        for axis in range(3):
            w = self._waves(axis, 3, 0.05, 0.6)
            out[axis] += self.drift_m / 3 * np.sum(np.sin(2 * math.pi * w[:, 0] * t + w[:, 1]))
            tr = self._waves(10 + axis, 1, 8.0, 12.0)
            out[axis] += self.tremor_m * math.sin(2 * math.pi * tr[0, 0] * t + tr[0, 1])
        return out

    def perturb(self, p: HandParams, t: float) -> HandParams:
        """Small angle noise on wrist and curls."""
        w = self._waves(20, 4, 0.1, 0.8)
        s = np.sin(2 * math.pi * w[:, 0] * t + w[:, 1])
        d = math.radians(self.drift_deg)
        return replace(
            p,
            wrist_flex=p.wrist_flex + d * s[0],
            forearm_rot=p.forearm_rot + d * s[1],
            curl_index=p.curl_index + 0.02 * s[2],
            curl_little=p.curl_little + 0.02 * s[3],
        )
