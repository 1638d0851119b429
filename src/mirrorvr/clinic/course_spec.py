"""A course file's model: phases, schedule, boosters, re-treatment, follow-ups, responder rules.

The pydantic models a course TOML validates against (:class:`CourseSpec` and its tables), the
follow-up instruments a visit may collect (:data:`INSTRUMENTS`) and :class:`CourseError`.
Loading and schedule checks are in :mod:`mirrorvr.clinic.course_schedule`; where a patient
stands in :mod:`mirrorvr.clinic.course_progress`; :mod:`mirrorvr.clinic.course` re-exports all.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mirrorvr.analysis.outcomes import RESPONDER_RULES
from mirrorvr.errors import MirrorVRError


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
