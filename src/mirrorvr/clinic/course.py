"""A course of treatment: its file (TOML), its schedule, and where a patient stands in it.

A course names the session plan(s) (phases of N sessions each), the spacing of sessions and the
gaps allowed, boosters (an interval range and a trigger: pain back to at least X % of the course
baseline), a re-treatment rule, follow-up visits with the instruments to collect, and the
responder rules (≥ 30 % and ≥ 50 % decrease from the course baseline by default, the IMMPACT
benchmarks in clinical-workflow.md §4).

:func:`course_status` is pure: from the course, its recorded visits and the patient's ratings it
derives sessions done and due, adherence, the pain trajectory (every rating counts, in or out of
a session), responder status, and whether a booster or a re-treatment course is suggested and why.
Nothing derived is stored. :func:`load_course` refuses a course whose schedule would exceed the
plan's daily pulse limit or the course's weekly one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mirrorvr.analysis.outcomes import RESPONDER_RULES, ResponderRule
from mirrorvr.clinic.records import Rating
from mirrorvr.config.loader import load_plan, problems_from_validation, resolve_plan_path
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim.safety.limits import effective_limits


class CourseError(MirrorVRError):
    """A course file is invalid, or a visit does not fit the course."""


#: Follow-up instruments: key -> (what it is, lowest, highest).
INSTRUMENTS: dict[str, tuple[str, float, float]] = {
    "nrs_now": ("pain now, NRS 0-10", 0, 10),
    "vas_now": ("pain now, VAS 0-100 mm", 0, 100),
    "nrs_last_week": ("average pain over the last week, NRS 0-10", 0, 10),
    # ordinal: 0 none, 1 less than daily, 2 daily, 3 several times a day, 4 constant
    "plp_frequency": ("phantom pain frequency, 0 none .. 4 constant", 0, 4),
    "bpi_interference": ("pain interference, BPI mean of 7 items, 0-10", 0, 10),
}
PLP_FREQUENCY = ("none", "less than daily", "daily", "several times a day", "constant")

_LABEL = re.compile(r"^[0-9]+[dwm]$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(_M):
    """``sessions`` sessions of one plan (a preset name or a path relative to the course file)."""

    plan: str
    sessions: Annotated[int, Field(ge=1, le=60)]


class Schedule(_M):
    """How sessions are spaced."""

    #: days from one session to the next
    spacing_days: Annotated[int, Field(ge=1, le=28)] = 1
    #: skip Saturdays and Sundays when counting due dates
    weekdays_only: bool = True
    #: sessions on one day (accelerated courses give more than one; each counts to the day limit)
    sessions_per_day: Annotated[int, Field(ge=1, le=5)] = 1
    #: days allowed between two sessions before the course counts as interrupted
    max_gap_days: Annotated[int, Field(ge=1, le=60)] = 4
    #: the clinic's weekly pulse limit for this course (no published figure: a clinic decision)
    max_pulses_per_week: Annotated[int, Field(ge=0)] | None = None


class Boosters(_M):
    """Booster sessions after the course."""

    #: earliest and latest days after the last session (or last booster) for a booster
    interval_days: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (14, 84)
    #: suggest a booster once pain is back to at least this % of the course baseline
    trigger_pct_of_baseline: Annotated[float, Field(gt=0, le=200)] = 70.0
    max_boosters: Annotated[int, Field(ge=0, le=20)] = 3
    #: plan for a booster (default: the first phase's plan)
    plan: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Boosters:
        lo, hi = self.interval_days
        if lo > hi:
            raise ValueError(f"interval_days [{lo}, {hi}]: the first must not exceed the second")
        return self


class Retreatment(_M):
    """When a new course is suggested instead of another booster."""

    #: pain back to at least this % of the course baseline ...
    trigger_pct_of_baseline: Annotated[float, Field(gt=0, le=200)] = 90.0
    #: ... or boosters used up while the booster trigger holds
    when_boosters_exhausted: bool = True


class FollowUp(_M):
    """A follow-up visit ``days`` after the last course session, with its instruments."""

    label: str
    days: Annotated[int, Field(ge=1, le=730)]
    window_days: Annotated[int, Field(ge=0, le=60)] = 7
    instruments: list[str] = Field(default_factory=lambda: ["nrs_now", "nrs_last_week"])

    @model_validator(mode="after")
    def _check(self) -> FollowUp:
        if not _LABEL.match(self.label):
            raise ValueError(f"label '{self.label}': use a number and d, w or m (e.g. 15d, 3m)")
        bad = [i for i in self.instruments if i not in INSTRUMENTS]
        if bad:
            raise ValueError(
                f"unknown instrument(s) {', '.join(bad)}: use {', '.join(INSTRUMENTS)}"
            )
        if not any(i in ("nrs_now", "vas_now") for i in self.instruments):
            raise ValueError("a follow-up needs nrs_now or vas_now (the trajectory needs it)")
        return self


class Responders(_M):
    """Responder rules (``name@version`` from mirrorvr.analysis.outcomes.RESPONDER_RULES)."""

    rules: list[str] = Field(
        default_factory=lambda: ["immpact-moderate@1", "immpact-substantial@1"]
    )

    @model_validator(mode="after")
    def _known(self) -> Responders:
        bad = [r for r in self.rules if r not in RESPONDER_RULES]
        if bad:
            raise ValueError(f"unknown rule(s) {', '.join(bad)}: use {', '.join(RESPONDER_RULES)}")
        return self


class CourseInfo(_M):
    """Name and description."""

    name: str = Field(min_length=1)
    description: str = ""
    sources: list[str] = Field(default_factory=list)


class CourseSpec(_M):
    """A course file."""

    course: CourseInfo
    phases: list[Phase] = Field(min_length=1)
    schedule: Schedule = Field(default_factory=Schedule)
    boosters: Boosters = Field(default_factory=Boosters)
    retreatment: Retreatment = Field(default_factory=Retreatment)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    responders: Responders = Field(default_factory=Responders)

    @model_validator(mode="after")
    def _order(self) -> CourseSpec:
        days = [f.days for f in self.follow_ups]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("follow_ups must be in order of days, each on a different day")
        labels = [f.label for f in self.follow_ups]
        if len(set(labels)) != len(labels):
            raise ValueError("follow_ups labels must differ")
        return self

    @property
    def sessions(self) -> int:
        """Sessions in the course (all phases)."""
        return sum(p.sessions for p in self.phases)

    def phase_of(self, number: int) -> Phase:
        """The phase session ``number`` (1-based) belongs to."""
        n = 0
        for p in self.phases:
            n += p.sessions
            if number <= n:
                return p
        raise CourseError(f"session {number}: the course has only {self.sessions} sessions")


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


# ---- where a patient stands -------------------------------------------------------------------
VisitKind = Literal["session", "booster", "follow-up"]


@dataclass(frozen=True)
class Visit:
    """A recorded visit of a course."""

    kind: VisitKind
    number: int
    label: str
    date: dt.date
    status: Literal["done", "missed"]
    session_id: int | None = None
    outcomes: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NextVisit:
    """What is due next and when."""

    kind: VisitKind
    number: int
    label: str
    due: dt.date
    latest: dt.date | None
    plan: str | None
    instruments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CourseStatus:
    """Where a patient stands in a course (all derived)."""

    sessions_total: int
    sessions_done: int
    sessions_missed: int
    boosters_done: int
    follow_ups_done: list[str]
    adherence: float | None
    baseline: float | None
    trajectory: list[dict[str, Any]]
    latest: float | None
    pct_change: float | None
    responders: dict[str, bool | None]
    next: NextVisit | None
    booster_suggested: bool
    retreatment_suggested: bool
    suggestion: str
    interrupted: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the console and ``course show --json`` print)."""
        d = dict(self.__dict__)
        d["next"] = (
            None
            if self.next is None
            else {
                **self.next.__dict__,
                "due": self.next.due.isoformat(),
                "latest": self.next.latest.isoformat() if self.next.latest else None,
            }
        )
        return d


def trajectory(ratings: list[Rating], since: dt.date) -> list[dict[str, Any]]:
    """Every pain rating from ``since`` on, in date order, on the 0-10 scale.

    Ratings in a session and outside one (console, ``mirrorvr rate``, follow-ups) all count.
    """
    return [
        {
            "date": r.date.isoformat(),
            "nrs": r.nrs,
            "timepoint": r.timepoint,
            "session_id": r.session_id,
        }
        for r in sorted(ratings, key=lambda r: (r.date, r.id))
        if r.date >= since
    ]


def _pain_on_or_before(traj: list[dict[str, Any]], day: dt.date) -> float | None:
    vals = [t["nrs"] for t in traj if dt.date.fromisoformat(t["date"]) <= day]
    return vals[-1] if vals else None


def course_status(
    spec: CourseSpec,
    started: dt.date,
    baseline: float | None,
    visits: list[Visit],
    ratings: list[Rating],
    today: dt.date,
) -> CourseStatus:
    """Sessions done and due, adherence, trajectory, responders and suggestions (pure).

    ``baseline`` is the NRS recorded when the course started; without it, the first rating on
    or after the start is used (normally the first session's pre rating).
    """
    sessions = sorted((v for v in visits if v.kind == "session"), key=lambda v: v.number)
    done = [v for v in sessions if v.status == "done"]
    missed = [v for v in sessions if v.status == "missed"]
    boosters = [v for v in visits if v.kind == "booster" and v.status == "done"]
    fups = [v for v in visits if v.kind == "follow-up"]
    traj = trajectory(ratings, started)
    if baseline is None and traj:
        baseline = traj[0]["nrs"]
    # the latest pain: the most recent rating that is not a pre-session one on a session day
    # would be arguable; use simply the most recent rating (every rating counts)
    latest = traj[-1]["nrs"] if traj else None
    pct = (
        None
        if baseline is None or latest is None or baseline == 0
        else 100.0 * (latest - baseline) / baseline
    )
    responders: dict[str, bool | None] = {}
    for rid in spec.responders.rules:
        rule: ResponderRule = RESPONDER_RULES[rid]
        responders[rid] = rule.judge(baseline, latest)
    recorded = len(sessions)
    planned = planned_dates(spec, started)
    expected_by_now = sum(1 for d in planned if d <= today)
    adherence = (
        len(done) / max(recorded, expected_by_now) if max(recorded, expected_by_now) > 0 else None
    )
    interrupted = None
    done_dates = [v.date for v in done]
    for a, b in itertools.pairwise(done_dates):
        if (b - a).days > spec.schedule.max_gap_days:
            interrupted = f"{(b - a).days} days between sessions on {a} and {b} (allowed {spec.schedule.max_gap_days})"
    course_over = recorded >= spec.sessions
    if (
        not course_over
        and done_dates
        and (today - done_dates[-1]).days > spec.schedule.max_gap_days
    ):
        interrupted = (
            f"{(today - done_dates[-1]).days} days since the last session on {done_dates[-1]} "
            f"(allowed {spec.schedule.max_gap_days})"
        )

    nxt: NextVisit | None = None
    booster = retreat = False
    suggestion = ""
    last_session = max((v.date for v in sessions), default=None)
    if not course_over:
        n = recorded + 1
        prev = sessions[-1].date if sessions else None
        due = (
            planned[n - 1]
            if prev is None
            else max(
                planned[n - 1],
                _advance(prev, spec.schedule.spacing_days, spec.schedule.weekdays_only)
                if sum(1 for v in sessions if v.date == prev) >= spec.schedule.sessions_per_day
                else prev,
            )
        )
        nxt = NextVisit(
            "session",
            n,
            f"session {n}",
            due,
            (prev + dt.timedelta(days=spec.schedule.max_gap_days)) if prev else None,
            spec.phase_of(n).plan,
        )
    else:
        assert last_session is not None
        fup_done = {v.number for v in fups}
        for i, f in enumerate(spec.follow_ups, start=1):
            if i not in fup_done:
                due = last_session + dt.timedelta(days=f.days)
                nxt = NextVisit(
                    "follow-up",
                    i,
                    f"follow-up {f.label}",
                    due - dt.timedelta(days=f.window_days),
                    due + dt.timedelta(days=f.window_days),
                    None,
                    list(f.instruments),
                )
                break
        bst = spec.boosters
        ref = max([last_session, *(v.date for v in boosters)])
        since = (today - ref).days
        level = None if baseline in (None, 0) or latest is None else 100.0 * latest / baseline
        if level is not None and baseline is not None:
            if level >= spec.retreatment.trigger_pct_of_baseline:
                retreat = True
                suggestion = (
                    f"re-treatment course suggested: pain {latest:g} is {level:.0f} % of the "
                    f"course baseline {baseline:g} (rule: ≥ {spec.retreatment.trigger_pct_of_baseline:g} %)"
                )
            elif level >= bst.trigger_pct_of_baseline:
                if len(boosters) >= bst.max_boosters:
                    retreat = spec.retreatment.when_boosters_exhausted
                    suggestion = (
                        f"pain {latest:g} is {level:.0f} % of baseline and all "
                        f"{bst.max_boosters} boosters are used"
                        + (": re-treatment course suggested" if retreat else "")
                    )
                elif since < bst.interval_days[0]:
                    suggestion = (
                        f"pain {latest:g} is {level:.0f} % of baseline (booster rule ≥ "
                        f"{bst.trigger_pct_of_baseline:g} %) but only {since} days since the last "
                        f"treatment: a booster is due from day {bst.interval_days[0]}"
                    )
                else:
                    booster = True
                    suggestion = (
                        f"booster suggested: pain {latest:g} is {level:.0f} % of the course "
                        f"baseline {baseline:g} (rule ≥ {bst.trigger_pct_of_baseline:g} %), "
                        f"{since} days since the last treatment"
                    )
            elif len(boosters) < bst.max_boosters and since >= bst.interval_days[1]:
                booster = True
                suggestion = (
                    f"booster suggested: {since} days since the last treatment (interval "
                    f"{bst.interval_days[0]}-{bst.interval_days[1]} days), pain {level:.0f} % of baseline"
                )
            else:
                suggestion = f"no booster needed: pain {level:.0f} % of baseline"
        if booster and nxt is None:
            n = len(boosters) + 1
            nxt = NextVisit(
                "booster", n, f"booster {n}", today, None, bst.plan or spec.phases[0].plan
            )
    return CourseStatus(
        sessions_total=spec.sessions,
        sessions_done=len(done),
        sessions_missed=len(missed),
        boosters_done=len(boosters),
        follow_ups_done=[
            spec.follow_ups[v.number - 1].label
            for v in fups
            if v.status == "done" and v.number <= len(spec.follow_ups)
        ],
        adherence=adherence,
        baseline=baseline,
        trajectory=traj,
        latest=latest,
        pct_change=pct,
        responders=responders,
        next=nxt,
        booster_suggested=booster,
        retreatment_suggested=retreat,
        suggestion=suggestion,
        interrupted=interrupted,
    )


def check_visit(
    spec: CourseSpec, visits: list[Visit], kind: str, number: int, day: dt.date, started: dt.date
) -> None:
    """Refuse a visit out of order (raises CourseError naming what is expected)."""
    if kind not in ("session", "booster", "follow-up"):
        raise CourseError(f"visit kind '{kind}': use session, booster or follow-up")
    sessions = [v for v in visits if v.kind == "session"]
    last = max((v.date for v in visits), default=started)
    if day < started:
        raise CourseError(f"{kind} {number} on {day}: the course started on {started}")
    if day < last:
        raise CourseError(
            f"{kind} {number} on {day}: a visit is already recorded on {last}; record visits in "
            "date order"
        )
    if kind in ("session", "booster"):
        same_day = sum(1 for v in visits if v.kind in ("session", "booster") and v.date == day)
        if same_day >= spec.schedule.sessions_per_day:
            raise CourseError(
                f"{kind} {number} on {day}: {same_day} session(s) already recorded that day; "
                f"the course allows {spec.schedule.sessions_per_day} a day"
            )
    if kind == "session":
        if number != len(sessions) + 1:
            raise CourseError(
                f"session {number} is out of order: the next session of this course is "
                f"{len(sessions) + 1}"
            )
        if number > spec.sessions:
            raise CourseError(
                f"session {number}: the course has {spec.sessions} sessions (a booster or a new "
                "course comes after)"
            )
        return
    if len(sessions) < spec.sessions:
        raise CourseError(
            f"{kind} {number} is out of order: {spec.sessions - len(sessions)} course session(s) "
            "are still due"
        )
    if kind == "booster":
        n = sum(1 for v in visits if v.kind == "booster")
        if number != n + 1:
            raise CourseError(f"booster {number} is out of order: the next booster is {n + 1}")
        if n >= spec.boosters.max_boosters:
            raise CourseError(
                f"booster {number}: the course allows {spec.boosters.max_boosters}; start a "
                "re-treatment course instead"
            )
        return
    if kind == "follow-up":
        if not 1 <= number <= len(spec.follow_ups):
            raise CourseError(
                f"follow-up {number}: the course has {len(spec.follow_ups)} follow-up(s)"
            )
        n = sum(1 for v in visits if v.kind == "follow-up")
        if number != n + 1:
            raise CourseError(
                f"follow-up {number} ({spec.follow_ups[number - 1].label}) is out of order: "
                f"the next is follow-up {n + 1}"
            )
        return
    raise CourseError(f"visit kind '{kind}': use session, booster or follow-up")


def check_outcomes(instruments: list[str], outcomes: dict[str, float], where: str) -> None:
    """Every instrument answered, in range, and no unknown ones."""
    bad = [k for k in outcomes if k not in INSTRUMENTS]
    if bad:
        raise CourseError(
            f"{where}: unknown instrument(s) {', '.join(bad)} (use {', '.join(INSTRUMENTS)})"
        )
    for k, v in outcomes.items():
        _, lo, hi = INSTRUMENTS[k]
        if not lo <= v <= hi:
            raise CourseError(f"{where}: {k} must be {lo:g}-{hi:g}, got {v:g}")
    missing = [k for k in instruments if k not in outcomes]
    if missing:
        raise CourseError(f"{where}: collect {', '.join(missing)} (the course asks for them)")
