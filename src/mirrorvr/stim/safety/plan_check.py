"""The whole-plan check: everything that must hold before a session may stimulate.

Run when a plan is validated, when a session starts, and again when a session resumes after a
pause or an emergency stop. Besides the static rules (profile within the baseline or overridden,
motor threshold present, recent and measured with EMG, screening complete with every positive
answer cleared by a physician, pulse budgets), it walks the compiled timeline through the same
run-time gate the scheduler uses, with planned times, so a plan that passes here cannot be
refused later for a reason it already had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, Literal

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import Problem
from mirrorvr.session.timeline import Step, Timeline
from mirrorvr.stim.safety.limits import (
    Limits,
    ceiling_problems,
    effective_limits,
    loosening_problems,
)
from mirrorvr.stim.safety.pulse_stream import (
    DEVICE_TIMED_PAIR_KINDS,
    Finding,
    PairedDevice,
    Pulse,
    check_pulses,
)
from mirrorvr.stim.safety.runtime import (
    DeviceLimits,
    Ledger,
    RuntimeState,
    StimRequest,
    authorize,
    intensity_problem,
    reserve,
)
from mirrorvr.stim.safety.train_table import TrainTable, default_table


def session_budget(plan: SessionPlan, planned_pulses: int) -> int:
    """The most pulses this session may ever deliver: the plan's total, capped by the profile."""
    return min(planned_pulses, effective_limits(plan.safety).profile.max_pulses_per_session)


def request_from_step(step: Step, onset: float) -> StimRequest:
    """The gate's view of a stimulation step whose first pulse is planned at ``onset``."""
    d: Mapping[str, Any] = step.data
    offsets = tuple(float(o) for o in d["offsets"])
    frequency = float(d.get("frequency_hz", 0.0))
    if d.get("paired"):
        # a pair is one trigger: the rate within the step is that of its pairs (none for one
        # pair), not the protocol's pulse repetition interval, which one pair never uses
        firsts = offsets[::2]
        gaps = [b - a for a, b in pairwise(firsts) if b > a]
        frequency = 1.0 / min(gaps) if gaps else 0.0
    return StimRequest(
        n_pulses=len(offsets),
        intensity_pct_mso=float(d["intensity_pct_mso"]),
        intensity_pct_rmt=float(d["intensity_pct_rmt"]),
        frequency_hz=frequency,
        pattern=d.get("pattern", "rtms"),
        group=d.get("group"),
        first_pulse=onset + offsets[0],
        last_pulse=onset + offsets[-1],
    )


#: the highest resting motor threshold any measurement can return (% MSO); a hunt never
#: stimulates above the profile's % MSO cap, so its threshold is at most that cap
ADMISSIBLE_MT_MAX_PCT_MSO = 100.0


def plan_pulses(steps: Iterable[Step], *, worst_case_mt: float | None = None) -> list[Pulse]:
    """Every planned pulse of these steps, as the pulse-stream checker sees them.

    ``worst_case_mt``: the threshold is measured at session start, so a step carries no % MSO;
    use this highest admissible threshold (% MSO caps and device limits are then at their worst).
    """
    out: list[Pulse] = []
    for s in steps:
        if not s.n_pulses:
            continue
        d = s.data
        rmt = float(d["intensity_pct_rmt"])
        mso = float(d["intensity_pct_mso"])
        # power B (the second pulse of a pair) is judged at its own intensity
        rmt_b = float(d.get("intensity_b_pct_rmt", rmt))
        mso_b = float(d.get("intensity_b_pct_mso", mso))
        if worst_case_mt is not None and mso <= 0:
            mso = round(rmt * worst_case_mt / 100.0, 2)
            mso_b = round(rmt_b * worst_case_mt / 100.0, 2)
        paired = bool(d.get("paired", False))
        out += [
            Pulse(s.t + float(o), rmt_b, mso_b, True)
            if paired and k % 2 == 1
            else Pulse(s.t + float(o), rmt, mso)
            for k, o in enumerate(d["offsets"])
        ]
    return out


def planned_paired_device(plan: SessionPlan) -> PairedDevice | None:
    """What ``mirrorvr validate`` assumes of the plan's stimulator for paired pulses.

    A kind whose driver times pairs itself (BiStim²) will set the plan's interval and power B
    and must confirm both by read-back before arming (the session checks again with what it
    confirmed); any other kind gives no device-timed pair.
    """
    proto = plan.stimulation.protocol
    if proto is None or not proto.paired_pulse_interval_ms:
        return None
    kind = plan.devices.stimulator.kind
    if kind not in DEVICE_TIMED_PAIR_KINDS:
        return None
    return PairedDevice(
        proto.paired_pulse_interval_ms,
        plan.stimulation.power_b_pct_mso,
        f"the plan's {kind}, to be confirmed by read-back before arming",
    )


def trigger_width_problems(plan: SessionPlan, pulses: list[Pulse]) -> list[Problem]:
    """A trigger box's pulse width must leave the line idle between pulses.

    A TTL-triggered stimulator fires on the rising edge. A line still high when the next pulse is
    due gives no edge (the box drops it for a few microseconds at most), so the pulse would be
    logged but perhaps not given. Our rule: the line idles at least as long as it is high, i.e.
    the width is at most half the shortest gap between planned pulses.
    """
    dev = plan.devices.stimulator
    if dev.kind != "ttl-box" or len(pulses) < 2:
        return []
    times = sorted(p.t for p in pulses)
    gap_ms = 1000.0 * min(b - a for a, b in pairwise(times))
    if 2.0 * dev.pulse_width_ms <= gap_ms + 1e-3:  # 1 µs: planned times are sums of floats
        return []
    return [
        Problem(
            "devices.stimulator.pulse_width_ms",
            f"rule trigger_width: a {dev.pulse_width_ms:g} ms trigger pulse needs pulses at "
            f"least {2.0 * dev.pulse_width_ms:g} ms apart (the line must idle as long as it is "
            f"high for the stimulator to see every edge); the plan's shortest gap is "
            f"{gap_ms:.3g} ms: set pulse_width_ms to at most {gap_ms / 2.0:.3g}",
        )
    ]


def stream_problems(findings: list[Finding], where: str) -> list[Problem]:
    """Findings of the pulse-stream checker as problems, one per rule (first + how many more)."""
    seen: dict[str, list[Finding]] = {}
    for f in findings:
        seen.setdefault(f.rule, []).append(f)
    out = []
    for rule, fs in seen.items():
        more = f" (and {len(fs) - 1} more)" if len(fs) > 1 else ""
        out.append(Problem(where, f"rule {rule}: {fs[0].message}{more}"))
    return out


def _threshold_problems(plan: SessionPlan, limits: Limits, today: dt.date) -> list[Problem]:
    mt = plan.stimulation.motor_threshold
    p = limits.profile
    if mt is None:
        if plan.stimulation.threshold_estimate is not None:
            return []  # measured at session start; the plan is checked again with it on record
        return [Problem("stimulation.motor_threshold", "no motor threshold on record")]
    out: list[Problem] = []
    age = (today - mt.measured_on).days
    where = "stimulation.motor_threshold.measured_on"
    if age < 0:
        out.append(Problem(where, f"date {mt.measured_on} is in the future"))
    elif age > p.max_threshold_age_days:
        allowed = (
            "it must be measured on the day of the session"
            if p.max_threshold_age_days == 0
            else f"the safety profile allows {p.max_threshold_age_days} days"
        )
        out.append(
            Problem(
                where,
                f"motor threshold is {age} days old (measured {mt.measured_on}); {allowed}: "
                "measure it again",
            )
        )
    if mt.method == "visual" and not p.allow_visual_threshold:
        out.append(
            Problem(
                "stimulation.motor_threshold.method",
                "the motor threshold was judged visually (twitch); safety limits assume an "
                "EMG threshold, and visual thresholds average 11 % higher (Westin 2014). "
                "Measure it with EMG, or record a physician's override "
                '(rule "allow_visual_threshold")',
            )
        )
    return out


def _screening_problems(plan: SessionPlan, limits: Limits, today: dt.date) -> list[Problem]:
    s = plan.screening
    if s is None:
        return [
            Problem(
                "screening",
                "no safety screening questionnaire on record for this session: complete it "
                "before stimulation ([screening] with completed_on and completed_by)",
            )
        ]
    out: list[Problem] = []
    age = (today - s.completed_on).days
    max_age = limits.profile.max_screening_age_days
    if age < 0:
        out.append(Problem("screening.completed_on", f"date {s.completed_on} is in the future"))
    elif age > max_age:
        when = "on the day of the session" if max_age == 0 else f"within {max_age} days"
        out.append(
            Problem(
                "screening.completed_on",
                f"screening was completed {age} days ago ({s.completed_on}); it must be done "
                f"{when}: screen again",
            )
        )
    for i, pos in enumerate(s.positives):
        if not pos.resolved:
            out.append(
                Problem(
                    f"screening.positives[{i}]",
                    f"'{pos.item}' was answered yes and has no physician decision yet; the "
                    "responsible physician must weigh it and sign (decision, cleared_by)",
                )
            )
    return out


def walk_timeline(
    steps: Iterable[Step],
    limits: Limits,
    budget: int,
    state: RuntimeState,
    device: DeviceLimits | None = None,
    table: TrainTable | None = None,
) -> list[tuple[Step, str]]:
    """Every stimulation step the run-time gate would refuse at its planned time, with why."""
    refused: list[tuple[Step, str]] = []
    for step in sorted((s for s in steps if s.n_pulses), key=lambda s: (s.t, s.index)):
        req = request_from_step(step, step.t)
        d = authorize(req, state, limits, budget, device, table)
        if d.allowed:
            state = reserve(state, req)
        else:
            refused.append((step, d.reason))
    return refused


def check_plan(
    plan: SessionPlan,
    timeline: Timeline,
    *,
    today: dt.date,
    pulses_today: int = 0,
    device: DeviceLimits | None = None,
    table: TrainTable | None = None,
    paired_device: PairedDevice | Literal["plan"] | None = "plan",
) -> list[Problem]:
    """Every reason this plan may not stimulate today (empty list = allowed).

    ``paired_device``: the device-timed pair the connected stimulator confirmed by read-back
    (``None``: it confirmed none); ``"plan"`` (no device yet, e.g. ``mirrorvr validate``): what
    the plan's stimulator kind will do (:func:`planned_paired_device`).
    """
    stim = plan.stimulation
    planned = timeline.total_pulses
    if stim.mode == "none" or planned == 0:
        return []
    problems = loosening_problems(plan.safety) + ceiling_problems(plan.safety)
    limits = effective_limits(plan.safety)
    p = limits.profile
    problems += _threshold_problems(plan, limits, today)
    problems += _screening_problems(plan, limits, today)
    if planned > p.max_pulses_per_session:
        problems.append(
            Problem(
                "stimulation.protocol",
                f"rule max_pulses_per_session: the plan delivers {planned} pulses; the safety "
                f"profile allows {p.max_pulses_per_session} per session",
            )
        )
    measured_at_start = stim.motor_threshold is None
    # the hunt never stimulates above the % MSO cap, so it cannot find a threshold above it
    worst_mt = min(ADMISSIBLE_MT_MAX_PCT_MSO, p.max_intensity_pct_mso)
    hunt = stim.threshold_estimate if measured_at_start else None
    hunt_max = hunt.max_pulses if hunt is not None else 0
    if pulses_today + planned + hunt_max > p.max_pulses_per_day:
        left = max(0, p.max_pulses_per_day - pulses_today)
        with_hunt = f" + up to {hunt_max} threshold-hunting" if hunt_max else ""
        problems.append(
            Problem(
                "stimulation.protocol",
                f"rule max_pulses_per_day: {pulses_today} pulses already today + {planned} "
                f"planned{with_hunt} exceeds the daily limit of {p.max_pulses_per_day} for this "
                f"patient ({left} remain today)",
            )
        )
    if hunt is not None:
        # the hunt's pulses at its shortest interval, through the same checker (single pulses)
        start = hunt.start_pct_mso
        pulses = [Pulse(k * hunt.isi_s[0], None, start) for k in range(hunt.max_pulses)]
        problems += stream_problems(
            check_pulses(pulses, limits, counts=False), "stimulation.threshold_estimate"
        )
    proto = stim.protocol
    why = intensity_problem(
        stim.intensity_pct_rmt,
        stim.intensity_pct_mso,
        proto.pattern if proto is not None else "single",
        limits,
    )
    if why:
        problems.append(Problem("stimulation.intensity_pct_rmt", why))
    where = "stimulation.cue_locked" if stim.mode == "cue-locked" else "stimulation.protocol"
    # the pulses themselves, whatever the protocol is called
    pairs = planned_paired_device(plan) if isinstance(paired_device, str) else paired_device
    pulses = plan_pulses(timeline.steps, worst_case_mt=worst_mt if measured_at_start else None)
    problems += trigger_width_problems(plan, pulses)
    findings = check_pulses(
        pulses,
        limits,
        device=device,
        paired_device=pairs,
        table=table,
        counts=False,
    )
    if why:  # said once above
        findings = [f for f in findings if not f.rule.startswith("max_intensity")]
    if findings:
        out = stream_problems(findings, where)
        if measured_at_start:
            note = (
                f" (checked for every threshold up to {worst_mt:g} % MSO, the most the hunt at "
                "session start can find)"
            )
            out = [Problem(x.where, x.message + note) for x in out]
        return problems + out
    if measured_at_start:
        return problems  # the run-time gate needs % MSO: it runs once the threshold is measured
    # the same run-time gate the executor uses, at planned times: accepted here = not refused
    # later for a reason the plan already had
    state = RuntimeState(Ledger(0, pulses_today))
    refused = walk_timeline(
        timeline.steps, limits, session_budget(plan, planned), state, device, table
    )
    seen: dict[str, list[Step]] = {}
    for step, reason in refused:
        # budget refusals repeat what the totals above already say
        if "budget" in reason or "daily limit" in reason or reason == why:
            continue
        seen.setdefault(reason, []).append(step)
    for reason, steps in seen.items():
        first = steps[0]
        more = f" (and {len(steps) - 1} more)" if len(steps) > 1 else ""
        problems.append(
            Problem(
                where,
                f"train {first.data.get('train')} at {first.t:.2f} s{more} would be refused: "
                f"{reason}",
            )
        )
    return problems


def safety_notices(plan: SessionPlan, table: TrainTable | None = None) -> list[dict[str, Any]]:
    """What the session log must show about the rules in force (overrides, unverified data)."""
    out: list[dict[str, Any]] = []
    t = table or default_table()
    if plan.stimulation.mode != "none" and not t.verified:
        out.append(
            {
                "what": "train_table_unverified",
                "message": "the train-duration table is UNVERIFIED (not yet checked against "
                "Rossi 2009 / Wassermann 1998); the clinic's written limits are binding",
                "source": t.source,
            }
        )
    for o in plan.safety.overrides:
        out.append(
            {
                "what": "override",
                "rule": o.rule,
                "value": o.value,
                "frequency_hz": o.frequency_hz,
                "up_to_pct_rmt": o.up_to_pct_rmt,
                "reason": o.reason,
                "approved_by": o.approved_by,
                "approved_on": o.approved_on.isoformat(),
            }
        )
    return out
