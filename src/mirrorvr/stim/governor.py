"""The safety governor: the one gate every pulse passes. Pure decisions over plain data.

``check_plan`` looks at a whole plan before a session starts; ``authorize`` looks at each train
or pulse again at run time against the live pulse ledger. Neither clips: a request is allowed
as it is or refused with a reason a therapist understands.

This module enforces the session-backbone rules (pulse budget, intensity caps, motor threshold
on record and recent). The published train-duration table, inter-train rules and TBS limits
plug in as further checks here (see docs/safety.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mirrorvr.config.plan import SafetyProfile, SessionPlan
from mirrorvr.errors import Problem


@dataclass(frozen=True)
class StimRequest:
    """A train (or a single pulse, ``n_pulses == 1``) asking to be delivered."""

    n_pulses: int
    intensity_pct_mso: float
    intensity_pct_rmt: float
    frequency_hz: float


@dataclass(frozen=True)
class Ledger:
    """Pulses already delivered (or possibly delivered: unknown outcomes count as delivered)."""

    session: int = 0
    today: int = 0


@dataclass(frozen=True)
class Decision:
    """Allowed, or refused with a reason."""

    allowed: bool
    reason: str = ""


def session_budget(plan: SessionPlan, planned_pulses: int) -> int:
    """The most pulses this session may ever deliver: the plan's total, capped by the profile."""
    return min(planned_pulses, plan.safety.max_pulses_per_session)


def authorize(
    request: StimRequest, ledger: Ledger, profile: SafetyProfile, budget: int
) -> Decision:
    """Allow ``request`` only if it keeps every limit; never adjust it."""
    if request.n_pulses <= 0:
        return Decision(False, "a train must have at least one pulse")
    if request.intensity_pct_mso <= 0:
        # a plan whose threshold was to be measured but was not has no intensity at all
        return Decision(False, "no intensity: the motor threshold is not known")
    if request.intensity_pct_rmt > profile.max_intensity_pct_rmt:
        return Decision(
            False,
            f"intensity {request.intensity_pct_rmt:g} % of motor threshold is above the "
            f"profile's limit of {profile.max_intensity_pct_rmt:g} %",
        )
    if request.intensity_pct_mso > profile.max_intensity_pct_mso:
        return Decision(
            False,
            f"intensity {request.intensity_pct_mso:g} % of stimulator output is above the "
            f"profile's limit of {profile.max_intensity_pct_mso:g} %",
        )
    if ledger.session + request.n_pulses > budget:
        return Decision(
            False,
            f"{request.n_pulses} more pulses would exceed this session's budget of {budget} "
            f"({ledger.session} already delivered or possibly delivered)",
        )
    if ledger.today + request.n_pulses > profile.max_pulses_per_day:
        return Decision(
            False,
            f"{request.n_pulses} more pulses would exceed the daily limit of "
            f"{profile.max_pulses_per_day} for this patient ({ledger.today} today)",
        )
    return Decision(True)


def check_plan(
    plan: SessionPlan, planned_pulses: int, *, today: dt.date, pulses_today: int = 0
) -> list[Problem]:
    """Every reason this plan may not run today (empty list = allowed)."""
    stim = plan.stimulation
    problems: list[Problem] = []
    if stim.mode == "none" or planned_pulses == 0:
        return problems
    prof = plan.safety
    mt = stim.motor_threshold
    if mt is None:
        # measured at session start when the plan says so; the governor checks every pulse of
        # the hunt and, once the threshold is known, the plan again (see session.launch)
        if stim.threshold_estimate is None:
            problems.append(Problem("stimulation.motor_threshold", "no motor threshold on record"))
    else:
        age = (today - mt.measured_on).days
        if age < 0:
            problems.append(
                Problem(
                    "stimulation.motor_threshold.measured_on",
                    f"date {mt.measured_on} is in the future",
                )
            )
        elif age > prof.max_threshold_age_days:
            problems.append(
                Problem(
                    "stimulation.motor_threshold.measured_on",
                    f"motor threshold is {age} days old (measured {mt.measured_on}); the safety "
                    f"profile allows {prof.max_threshold_age_days} days: measure it again",
                )
            )
    # with the threshold still to be measured only the % RMT limit can be checked now; the
    # session checks the plan again once the measured threshold is on record
    pct_mso = stim.intensity_pct_mso if mt is not None else min(1.0, prof.max_intensity_pct_mso)
    request = StimRequest(1, pct_mso, stim.intensity_pct_rmt, 0.0)
    d = authorize(request, Ledger(), prof, budget=10**9)
    if not d.allowed:
        problems.append(Problem("stimulation.intensity_pct_rmt", d.reason))
    if planned_pulses > prof.max_pulses_per_session:
        problems.append(
            Problem(
                "stimulation.protocol",
                f"the plan delivers {planned_pulses} pulses; the safety profile allows "
                f"{prof.max_pulses_per_session} per session",
            )
        )
    if pulses_today + planned_pulses > prof.max_pulses_per_day:
        problems.append(
            Problem(
                "stimulation.protocol",
                f"{pulses_today} pulses already today + {planned_pulses} planned exceeds the "
                f"daily limit of {prof.max_pulses_per_day}",
            )
        )
    return problems
