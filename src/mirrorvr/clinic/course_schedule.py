"""Loading a course file and laying out its schedule.

:func:`load_course` / :func:`parse_course` validate a course TOML, load its plans and refuse a
schedule that would exceed the plan's daily pulse limit or the course's weekly one
(:func:`schedule_problems`); :func:`planned_dates` gives the planned date of every session (pure).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from mirrorvr.clinic.course_spec import CourseSpec
from mirrorvr.config.loader import load_plan, problems_from_validation, resolve_plan_path
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import PlanError, Problem
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim.safety.limits import effective_limits


@dataclass(frozen=True)
class Course:
    """A validated course file with its plans loaded."""

    spec: CourseSpec
    source: str
    toml: str
    plans: dict[str, SessionPlan]
    pulses: dict[str, int]

    def plan_for(self, kind: str, number: int) -> str:
        """The plan reference for visit ``kind`` number ``number``."""
        if kind == "booster":
            return self.spec.boosters.plan or self.spec.phases[0].plan
        return self.spec.phase_of(number).plan


def _resolve(ref: str, base: Path | None) -> Path:
    if base is not None and (ref.endswith(".toml") or "/" in ref):
        p = base / ref
        if p.exists():
            return p
    return resolve_plan_path(ref)


def parse_course(text: str, source: str, base: Path | None = None) -> Course:
    """Validate a course given as TOML text; plans are looked up relative to ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PlanError([Problem(source, f"not valid TOML: {e}")]) from None
    try:
        spec = CourseSpec.model_validate(data)
    except ValidationError as e:
        raise PlanError(problems_from_validation(e, source)) from None
    plans: dict[str, SessionPlan] = {}
    pulses: dict[str, int] = {}
    refs = [p.plan for p in spec.phases] + ([spec.boosters.plan] if spec.boosters.plan else [])
    for i, ref in enumerate(refs):
        if ref in plans:
            continue
        where = f"{source}:phases[{i}].plan" if i < len(spec.phases) else f"{source}:boosters.plan"
        path = _resolve(ref, base)
        if not path.exists():
            raise PlanError([Problem(where, f"plan '{ref}' not found (a preset name or a path)")])
        try:
            plan = load_plan(path)
        except PlanError as e:
            raise PlanError([Problem(f"{where} ({path})", str(p)) for p in e.problems]) from None
        plans[ref] = plan
        pulses[ref] = compile_timeline(plan).total_pulses
    problems = schedule_problems(spec, plans, pulses, source)
    if problems:
        raise PlanError(problems)
    return Course(spec, source, text, plans, pulses)


def load_course(path: str | Path) -> Course:
    """Load and validate a course file (``configs/courses/*.toml``)."""
    p = Path(path)
    if not p.exists():
        bundled = Path(__file__).resolve().parents[1] / "config" / "presets" / "courses"
        alt = bundled / f"{path}.toml"
        if alt.exists():
            p = alt
        else:
            raise PlanError([Problem(str(path), "course file not found")])
    return parse_course(p.read_text(encoding="utf-8"), str(p), p.parent)


def schedule_problems(
    spec: CourseSpec, plans: dict[str, SessionPlan], pulses: dict[str, int], source: str
) -> list[Problem]:
    """Where the course's schedule breaks a daily or weekly pulse limit (pure)."""
    out: list[Problem] = []
    per_day = spec.schedule.sessions_per_day
    for ph in spec.phases:
        plan = plans[ph.plan]
        limit = effective_limits(plan.safety).profile.max_pulses_per_day
        day = pulses[ph.plan] * per_day
        if day > limit:
            out.append(
                Problem(
                    f"{source}:schedule.sessions_per_day",
                    f"{per_day} sessions a day of '{ph.plan}' ({pulses[ph.plan]} pulses each) "
                    f"= {day} pulses, over the plan's daily limit of {limit}: give fewer "
                    "sessions a day",
                )
            )
    weekly = spec.schedule.max_pulses_per_week
    if weekly is not None:
        dates = planned_dates(spec, dt.date(2026, 1, 5))  # a Monday: the densest week
        numbers = list(range(1, spec.sessions + 1))
        for d0 in dates:
            window = [
                pulses[spec.phase_of(n).plan]
                for n, d in zip(numbers, dates, strict=True)
                if d0 <= d < d0 + dt.timedelta(days=7)
            ]
            if sum(window) > weekly:
                out.append(
                    Problem(
                        f"{source}:schedule.max_pulses_per_week",
                        f"{len(window)} sessions in 7 days deliver {sum(window)} pulses, over "
                        f"the course's weekly limit of {weekly}: space sessions further apart "
                        "(schedule.spacing_days) or give fewer a day",
                    )
                )
                break
    return out


def _advance(d: dt.date, days: int, weekdays_only: bool) -> dt.date:
    for _ in range(days):
        d += dt.timedelta(days=1)
        while weekdays_only and d.weekday() >= 5:
            d += dt.timedelta(days=1)
    return d


def planned_dates(spec: CourseSpec, start: dt.date) -> list[dt.date]:
    """Planned date of every course session, from ``start`` (pure)."""
    s = spec.schedule
    d = start
    while s.weekdays_only and d.weekday() >= 5:
        d += dt.timedelta(days=1)
    out: list[dt.date] = []
    while len(out) < spec.sessions:
        out += [d] * min(s.sessions_per_day, spec.sessions - len(out))
        d = _advance(d, s.spacing_days, s.weekdays_only)
    return out
