"""Where a patient stands in a course: visits, status, and the checks on a new visit.

:func:`course_status` is pure: from the course, its recorded visits and the patient's ratings it
derives sessions done and due, adherence, the pain trajectory (every rating counts, in or out of
a session), responder status, and whether a booster or a re-treatment course is suggested and why.
Nothing derived is stored. :func:`check_visit` and :func:`check_outcomes` refuse a visit out of
order or with outcomes the course does not ask for.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from mirrorvr.analysis.outcomes import RESPONDER_RULES, ResponderRule
from mirrorvr.clinic.course_schedule import _advance, planned_dates
from mirrorvr.clinic.course_spec import INSTRUMENTS, CourseError, CourseSpec
from mirrorvr.clinic.records import Rating

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
