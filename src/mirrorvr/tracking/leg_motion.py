"""Scripted leg movements for lower-limb mirror therapy and imagery (synthetic motion).

The same scheme as the hand's (:mod:`mirrorvr.tracking.motion`): each movement is a sequence of
key postures (:class:`~mirrorvr.tracking.leg_skeleton.LegParams`) joined by minimum-jerk
profiles, a movement window repeats whole cycles and ends at rest. Movements: ankle
dorsiflexion and plantarflexion, toe flexion, knee extension (seated, lifting the foot) and foot
circles (ankle circumduction: up, in, down, out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import get_args

import numpy as np

from mirrorvr.config.plan import LegMovement
from mirrorvr.tracking.leg_skeleton import LegParams
from mirrorvr.tracking.motion import keyed_cycle_at

LEG_REST = LegParams()
#: every lower-limb movement a plan can name
LEG_MOVEMENTS: tuple[str, ...] = get_args(LegMovement)

_DF = LegParams(dorsiflexion=math.radians(20))
_PF = LegParams(dorsiflexion=math.radians(-40))
_INV = LegParams(inversion=math.radians(22))
_EV = LegParams(inversion=math.radians(-12))


def _mix(a: LegParams, b: LegParams, wa: float = 0.7, wb: float = 0.7) -> LegParams:
    return LegParams.from_vector(wa * a.vector() + wb * b.vector())


#: one cycle of each movement: (fraction of the cycle to reach the key, key posture)
LEG_CYCLES: dict[str, tuple[tuple[float, LegParams], ...]] = {
    "ankle_dorsiflexion": ((0.35, _DF), (0.3, _DF), (0.35, LEG_REST)),
    "ankle_plantarflexion": ((0.35, _PF), (0.3, _PF), (0.35, LEG_REST)),
    "toe_flexion": (
        (0.3, LegParams(toe_flex=math.radians(35))),
        (0.2, LegParams(toe_flex=math.radians(35))),
        (0.2, LegParams(toe_flex=math.radians(-25))),
        (0.3, LEG_REST),
    ),
    "knee_extension": (
        (0.4, LegParams(knee_ext=math.radians(50))),
        (0.2, LegParams(knee_ext=math.radians(50))),
        (0.4, LEG_REST),
    ),
    # circumduction: up, up-in, in, down-in, down, down-out, out, up-out … back to rest
    "foot_circles": (
        (0.1, _DF),
        (0.1, _mix(_DF, _INV)),
        (0.1, _INV),
        (0.1, _mix(_PF, _INV)),
        (0.1, _PF),
        (0.1, _mix(_PF, _EV)),
        (0.1, _EV),
        (0.1, _mix(_DF, _EV)),
        (0.1, _DF),
        (0.1, LEG_REST),
    ),
}
LEG_CYCLE_S = {"foot_circles": 4.0, "toe_flexion": 3.0, "knee_extension": 3.0}
DEFAULT_LEG_CYCLE_S = 2.5


def leg_params_at(movement: str, u: float) -> LegParams:
    """Posture at phase ``u`` ∈ [0, 1] of one cycle of ``movement``."""
    try:
        keys = LEG_CYCLES[movement]
    except KeyError:
        raise ValueError(
            f"unknown leg movement '{movement}' (known: {', '.join(LEG_MOVEMENTS)})"
        ) from None
    return keyed_cycle_at(keys, LEG_REST, u, LegParams.from_vector)


@dataclass(frozen=True)
class LegPerformance:
    """One leg movement performed from ``start`` for ``duration`` seconds (then rest)."""

    movement: str
    start: float
    duration: float

    @property
    def cycles(self) -> int:
        """Whole cycles in the window."""
        per = LEG_CYCLE_S.get(self.movement, DEFAULT_LEG_CYCLE_S)
        return max(1, round(self.duration / per))

    def params(self, t: float) -> LegParams:
        """Posture at time ``t`` (rest outside the window)."""
        if t <= self.start or t >= self.start + self.duration:
            return LEG_REST
        phase = (t - self.start) / self.duration * self.cycles
        return leg_params_at(self.movement, phase - math.floor(phase))


def leg_noise(params: LegParams, wobble: np.ndarray) -> LegParams:
    """Small physiological wobble (radians, 4 values) added to a posture."""
    return LegParams.from_vector(params.vector() + wobble)
