"""Pulse counts of a plan, computed arithmetically before anything is expanded. Pure.

A protocol's levels multiply (pulses per train × trains × ...), so a plan of 10^6 or 10^12 pulses
is known to be one from a few multiplications; :func:`count_problems` refuses it with the field
and the rule before the timeline compiler would build a list of that many offsets.
"""

from __future__ import annotations

from mirrorvr.config.plan import (
    ImageryBlock,
    MirrorBlock,
    PhantomMotorExecutionBlock,
    SessionPlan,
)
from mirrorvr.errors import Problem
from mirrorvr.stim.safety.limits import effective_limits


def cue_count(plan: SessionPlan) -> int:
    """Cues that take a cue-locked pulse (imagery, mirror and phantom-motor-execution cues)."""
    n = 0
    for b in plan.blocks:
        if isinstance(b, ImageryBlock | MirrorBlock):
            n += b.repetitions
        elif isinstance(b, PhantomMotorExecutionBlock):
            n += b.calibration_repetitions * len(b.active_motions) + b.tasks
    return n


def planned_pulses(plan: SessionPlan) -> int:
    """Pulses the plan's stimulation delivers (threshold hunt not included), without expanding."""
    stim = plan.stimulation
    proto = stim.protocol
    if stim.mode == "none":
        return 0
    if stim.mode == "cue-locked":
        return cue_count(plan) * (proto.pulses_per_train if proto is not None else 1)
    return proto.total_pulses if proto is not None else 0


def hunt_pulses(plan: SessionPlan) -> int:
    """The most pulses a threshold hunt at session start may use (0 without one)."""
    est = plan.stimulation.threshold_estimate
    if est is None or plan.stimulation.mode == "none" or plan.stimulation.motor_threshold:
        return 0
    return est.max_pulses


def count_problems(plan: SessionPlan) -> list[Problem]:
    """The plan's pulse count against its per-session limit (hard ceiling included)."""
    n = planned_pulses(plan)
    cap = effective_limits(plan.safety).profile.max_pulses_per_session
    if n <= cap:
        return []
    return [
        Problem(
            "stimulation.protocol",
            f"rule max_pulses_per_session: the protocol plans {n} pulses (counted before "
            f"expanding it); the safety profile allows {cap} per session",
        )
    ]
