"""The phantom limb driven by decoded motion: degrees of freedom, posture, and target tasks.

Pure maths, no I/O. Each motion class moves one degree of freedom one way (``hand``: close
+, open −; ``wrist``: flexion +, extension −; ``rotation``: supination +, pronation −) at a
rate proportional to the decoded speed; rest moves nothing, so a resting patient sees a still
phantom (the posture holds where the last movement left it, as in Ortiz-Catalan et al. 2016).
:func:`phantom_params` turns the state into a hand posture the scene can draw on the amputated
side, and :class:`TaskScorer` scores reaching a target posture and holding it there, the way a
target achievement control (TAC) test does: completed or not, and the time it took.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from mirrorvr.tracking.skeleton import HandParams

Dof = Literal["hand", "wrist", "rotation"]
DOFS: tuple[Dof, ...] = ("hand", "wrist", "rotation")
#: which degree of freedom each motion moves, and which way
MOTION_DOF: MappingProxyType[str, tuple[Dof, int]] = MappingProxyType(
    {
        "hand_close": ("hand", 1),
        "hand_open": ("hand", -1),
        "wrist_flexion": ("wrist", 1),
        "wrist_extension": ("wrist", -1),
        "supination": ("rotation", 1),
        "pronation": ("rotation", -1),
    }
)
#: full range per second at speed 1 (a full close from neutral takes about 1.25 s)
DEFAULT_RATE = 0.8

_FIST = HandParams(1.0, 1.0, 1.0, 1.0, thumb_opposition=0.45, thumb_flex=0.9)
_OPEN = HandParams(-0.08, -0.08, -0.08, -0.08, spread=1.0)
_WRIST_FLEX = math.radians(55)
_WRIST_EXT = math.radians(50)
_SUPINATION = math.radians(120)
_PRONATION = math.radians(60)


@dataclass(frozen=True)
class PhantomState:
    """Position of each degree of freedom, each in [−1, 1] (0 = relaxed)."""

    hand: float = 0.0
    wrist: float = 0.0
    rotation: float = 0.0

    def get(self, dof: str) -> float:
        """The value of one degree of freedom."""
        return float(getattr(self, dof))

    def as_tuple(self) -> tuple[float, float, float]:
        """(hand, wrist, rotation)."""
        return (self.hand, self.wrist, self.rotation)


def advance(
    state: PhantomState, motion: str, speed: float, dt: float, rate: float = DEFAULT_RATE
) -> PhantomState:
    """The state after ``dt`` s of ``motion`` at ``speed`` (rest or an unknown motion: unchanged)."""
    move = MOTION_DOF.get(motion)
    if move is None or dt <= 0 or speed <= 0:
        return state
    dof, sign = move
    value = min(1.0, max(-1.0, state.get(dof) + sign * speed * rate * dt))
    return replace(state, **{dof: value})


def _lerp(a: HandParams, b: HandParams, u: float) -> HandParams:
    return HandParams.from_vector(a.vector() + u * (b.vector() - a.vector()))


def phantom_params(state: PhantomState) -> HandParams:
    """The hand posture of a phantom state (drawn with the scene's ordinary hand model)."""
    h = state.hand
    p = _lerp(HandParams(), _FIST if h >= 0 else _OPEN, abs(h))
    w = state.wrist * (_WRIST_FLEX if state.wrist >= 0 else _WRIST_EXT)
    r = state.rotation * (_SUPINATION if state.rotation >= 0 else _PRONATION)
    return replace(p, wrist_flex=w, forearm_rot=r)


@dataclass(frozen=True)
class TaskTarget:
    """Reach ``value`` of ``dof`` (within ``tolerance``) and hold it ``hold_s`` s in ``limit_s``."""

    dof: Dof
    value: float
    tolerance: float = 0.2
    hold_s: float = 1.0
    limit_s: float = 10.0

    def reached(self, state: PhantomState) -> bool:
        """The target dof is within tolerance and the other dofs are near neutral."""
        if abs(state.get(self.dof) - self.value) > self.tolerance:
            return False
        return all(abs(state.get(d)) <= max(self.tolerance, 0.35) for d in DOFS if d != self.dof)


def step_target(data: Mapping[str, Any], limit_s: float) -> TaskTarget | None:
    """The target of a PME task step's data (``None`` for any other step)."""
    if data.get("phase") != "task" or "target_value" not in data:
        return None
    dof, _ = MOTION_DOF[str(data["movement"])]
    return TaskTarget(
        dof,
        float(data["target_value"]),
        float(data.get("tolerance", 0.2)),
        float(data.get("hold_s", 1.0)),
        limit_s,
    )


def target_posture(target: TaskTarget) -> HandParams:
    """The hand posture a target asks for (drawn as the translucent hand)."""
    return phantom_params(PhantomState(**{target.dof: target.value}))


@dataclass(frozen=True)
class TaskResult:
    """How a task went: completed, time from onset to the end of the hold, time in target."""

    completed: bool
    completion_s: float | None
    time_in_target_s: float


class TaskScorer:
    """Scores one target task from successive (time, state) observations."""

    def __init__(self, target: TaskTarget, onset: float) -> None:
        self.target = target
        self.onset = onset
        self._entered: float | None = None
        self._last_t = onset
        self._in_target = 0.0
        self.result: TaskResult | None = None

    def update(self, t: float, state: PhantomState) -> TaskResult | None:
        """Observe the phantom at ``t``; returns the result once the task is decided."""
        if self.result is not None:
            return self.result
        inside = self.target.reached(state)
        if inside:
            self._in_target += max(0.0, t - self._last_t)
            if self._entered is None:
                self._entered = t
            elif t - self._entered >= self.target.hold_s - 1e-9:
                self.result = TaskResult(True, t - self.onset, self._in_target)
        else:
            self._entered = None
        self._last_t = t
        if self.result is None and t - self.onset >= self.target.limit_s:
            self.result = TaskResult(False, None, self._in_target)
        return self.result

    def finish(self) -> TaskResult:
        """The result when the task's window ends (not completed if not decided by then)."""
        if self.result is None:
            self.result = TaskResult(False, None, self._in_target)
        return self.result


def pursue(
    state: PhantomState,
    target: TaskTarget,
    deadband: float = 0.5,
    available: Collection[str] | None = None,
) -> str:
    """Which motion brings ``state`` towards ``target`` (``rest`` once inside ``deadband`` of the
    tolerance): how the simulated patient steers; also a reference policy for tests.

    Only motions in ``available`` (the trained ones; default all) are chosen: a degree of
    freedom that cannot be moved back is left as it is.
    """
    allowed = set(MOTION_DOF) if available is None else set(available)
    for dof in DOFS:  # first put the other degrees of freedom back near neutral
        if dof != target.dof and abs(state.get(dof)) > 0.3:
            back = _motion_for(dof, -np.sign(state.get(dof)))
            if back in allowed:
                return back
    err = target.value - state.get(target.dof)
    if abs(err) <= target.tolerance * deadband:
        return "rest"
    toward = _motion_for(target.dof, np.sign(err))
    return toward if toward in allowed else "rest"


def _motion_for(dof: str, sign: float) -> str:
    for m, (d, s) in MOTION_DOF.items():
        if d == dof and s == sign:
            return m
    return "rest"
