"""Courses: the file, pulse limits, scheduling, visit order, boosters, responders, every rating."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mirrorvr.clinic.course import (
    CourseError,
    Visit,
    course_status,
    load_course,
    parse_course,
    planned_dates,
)
from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.eligibility import ITEMS
from mirrorvr.clinic.records import Rating
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.errors import PlanError

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "configs/courses/malavera-10.toml"
MON = dt.date(2026, 11, 2)  # a Monday


def _rating(i: int, day: dt.date, v: float, tp: str = "pre", sid: int | None = None) -> Rating:
    return Rating(i, "P", sid, day, tp, "nrs", v, None, "manual")


def test_bundled_course_loads_with_its_plan() -> None:
    c = load_course(COURSE)
    assert c.spec.sessions == 10 and c.pulses["malavera-mirror"] == 1200
    assert [f.label for f in c.spec.follow_ups] == ["15d", "1m", "3m", "6m"]


def test_daily_and_weekly_pulse_limits_refuse_a_course() -> None:
    text = COURSE.read_text().replace("sessions_per_day = 1", "sessions_per_day = 3")
    with pytest.raises(PlanError, match="over the plan's daily limit of 3000"):
        parse_course(text, "c.toml", COURSE.parent)
    text = COURSE.read_text().replace("max_pulses_per_week = 6000", "max_pulses_per_week = 4000")
    with pytest.raises(PlanError, match="over the course's weekly limit of 4000"):
        parse_course(text, "c.toml", COURSE.parent)
    # the same weekly limit is met when sessions are two days apart
    ok = text.replace("spacing_days = 1", "spacing_days = 2")
    assert parse_course(ok, "c.toml", COURSE.parent).spec.schedule.spacing_days == 2


def test_bad_course_files_name_the_field() -> None:
    with pytest.raises(PlanError, match=r"c.toml:phases\[0\].plan.*not found"):
        parse_course(
            COURSE.read_text().replace('"malavera-mirror"', '"no-such-plan"'), "c.toml", None
        )
    with pytest.raises(PlanError, match="follow_ups"):
        parse_course(COURSE.read_text().replace("days = 91", "days = 10"), "c.toml", None)
    with pytest.raises(PlanError, match="unknown field"):
        parse_course(COURSE.read_text() + "\n[extra]\nx = 1\n", "c.toml", None)


def test_weekday_schedule_skips_weekends() -> None:
    spec = load_course(COURSE).spec
    dates = planned_dates(spec, dt.date(2026, 11, 6))  # a Friday
    assert dates[0] == dt.date(2026, 11, 6) and dates[1] == dt.date(2026, 11, 9)
    assert all(d.weekday() < 5 for d in dates) and len(dates) == 10


@given(st.integers(0, 10), st.integers(1, 3), st.booleans())
def test_planned_dates_are_ordered_and_complete(offset: int, spacing: int, weekdays: bool) -> None:
    text = (
        COURSE.read_text()
        .replace("spacing_days = 1", f"spacing_days = {spacing}")
        .replace("weekdays_only = true", f"weekdays_only = {str(weekdays).lower()}")
        .replace("max_pulses_per_week = 6000", "")  # 7 days a week would exceed it
    )
    spec = parse_course(text, "c", COURSE.parent).spec
    start = MON + dt.timedelta(days=offset)
    assume(not weekdays or start.weekday() < 5)
    d = planned_dates(spec, start)
    assert len(d) == spec.sessions and d == sorted(d) and d[0] == start


def test_responders_from_the_course_baseline_and_every_rating_counts() -> None:
    spec = load_course(COURSE).spec
    visits = [Visit("session", 1, "session 1", MON, "done", 1)]
    # the latest rating was entered outside any session (console or `mirrorvr rate`)
    ratings = [
        _rating(1, MON, 8, "pre", 1),
        _rating(2, MON, 7, "post", 1),
        _rating(3, MON + dt.timedelta(days=2), 5, "follow-up"),
    ]
    st_ = course_status(spec, MON, 8.0, visits, ratings, MON + dt.timedelta(days=2))
    assert st_.latest == 5 and [t["nrs"] for t in st_.trajectory] == [8, 7, 5]
    assert st_.responders == {"immpact-moderate@1": True, "immpact-substantial@1": False}
    ratings.append(_rating(4, MON + dt.timedelta(days=3), 4, "during"))
    st_ = course_status(spec, MON, 8.0, visits, ratings, MON + dt.timedelta(days=3))
    assert st_.responders["immpact-substantial@1"] is True
    # without a recorded baseline the first rating of the course is the baseline
    assert course_status(spec, MON, None, visits, ratings, MON).baseline == 8


def _finished(spec_sessions: int) -> list[Visit]:
    d = MON
    out = []
    for n in range(1, spec_sessions + 1):
        out.append(Visit("session", n, f"session {n}", d, "done", n))
        d += dt.timedelta(days=1)
    return out


def test_booster_and_retreatment_suggestions_say_why() -> None:
    spec = load_course(COURSE).spec
    visits = _finished(10)
    last = visits[-1].date
    good = [_rating(1, MON, 8), _rating(2, last, 3)]
    s = course_status(spec, MON, 8.0, visits, good, last + dt.timedelta(days=20))
    assert not s.booster_suggested and "no booster needed" in s.suggestion
    assert s.next is not None and s.next.kind == "follow-up"
    # pain back to 75 % of baseline: over the 70 % booster rule, under the 90 % re-treatment rule
    back = [*good, _rating(3, last + dt.timedelta(days=20), 6)]
    s = course_status(spec, MON, 8.0, visits, back, last + dt.timedelta(days=20))
    assert s.booster_suggested and "75 %" in s.suggestion and "≥ 70 %" in s.suggestion
    # too soon after the course: not yet (interval starts at day 14)
    early = [*good, _rating(3, last + dt.timedelta(days=5), 6)]
    s = course_status(spec, MON, 8.0, visits, early, last + dt.timedelta(days=5))
    assert not s.booster_suggested and "from day 14" in s.suggestion
    # pain back to baseline: a re-treatment course, not a booster
    relapse = [*good, _rating(3, last + dt.timedelta(days=30), 8)]
    s = course_status(spec, MON, 8.0, visits, relapse, last + dt.timedelta(days=30))
    assert s.retreatment_suggested and not s.booster_suggested
    # boosters used up while the booster rule holds: re-treatment
    boosted = visits + [
        Visit("booster", k, f"booster {k}", last + dt.timedelta(days=20 * k), "done", 100 + k)
        for k in (1, 2, 3)
    ]
    later = last + dt.timedelta(days=80)
    s = course_status(spec, MON, 8.0, boosted, [*good, _rating(3, later, 6)], later)
    assert s.retreatment_suggested and "all 3 boosters" in s.suggestion


def test_adherence_and_interruption() -> None:
    spec = load_course(COURSE).spec
    visits = [
        Visit("session", 1, "session 1", MON, "done"),
        Visit("session", 2, "session 2", MON + dt.timedelta(days=1), "missed"),
        Visit("session", 3, "session 3", MON + dt.timedelta(days=2), "done"),
    ]
    s = course_status(spec, MON, 7.0, visits, [], MON + dt.timedelta(days=2))
    assert s.sessions_done == 2 and s.sessions_missed == 1 and s.adherence == pytest.approx(2 / 3)
    s = course_status(spec, MON, 7.0, visits, [], MON + dt.timedelta(days=9))
    assert s.interrupted is not None and "allowed 4" in s.interrupted


def _ready(s: ClinicStore, pid: str = "P1") -> CourseStore:
    s.add_patient(pid, "left", amputation_date=dt.date(2020, 1, 1))
    cs = CourseStore(s)
    cs.record_eligibility(pid, {k: "no" for k in ITEMS})
    return cs


def test_visits_out_of_order_are_refused(tmp_path: Path) -> None:
    course = load_course(COURSE)
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        cs = _ready(s)
        cs.start_course("P1", course, day=MON, baseline=7)
        with pytest.raises(CourseError, match="out of order: 10 course session"):
            cs.record_visit("P1", "follow-up", day=MON)
        with pytest.raises(CourseError, match="session 3 is out of order"):
            cs.record_visit("P1", "session", day=MON, number=3)
        cs.record_visit("P1", "session", day=MON + dt.timedelta(days=1))
        with pytest.raises(CourseError, match="date order"):
            cs.record_visit("P1", "session", day=MON)
        for k in range(2, 11):
            cs.record_visit("P1", "session", day=MON + dt.timedelta(days=k))
        with pytest.raises(CourseError, match="collect nrs_last_week"):
            cs.record_visit(
                "P1", "follow-up", day=MON + dt.timedelta(days=25), outcomes={"nrs_now": 3}
            )
        with pytest.raises(CourseError, match="plp_frequency must be 0-4"):
            cs.record_visit(
                "P1",
                "follow-up",
                day=MON + dt.timedelta(days=25),
                outcomes={
                    "nrs_now": 3,
                    "nrs_last_week": 3,
                    "plp_frequency": 9,
                    "bpi_interference": 2,
                },
            )
        v = cs.record_visit(
            "P1",
            "follow-up",
            day=MON + dt.timedelta(days=25),
            outcomes={
                "nrs_now": 3,
                "nrs_last_week": 3.5,
                "plp_frequency": 2,
                "bpi_interference": 2,
            },
        )
        assert v.label == "follow-up 15d"
        # the follow-up's pain now is a rating: on the pain trend and the course trajectory
        assert any(r.timepoint == "follow-up-15d" and r.value == 3 for r in s.ratings("P1"))
        _, status = cs.status("P1", MON + dt.timedelta(days=25))
        assert status.latest == 3 and status.follow_ups_done == ["15d"]
        assert status.responders["immpact-moderate@1"] is True


def test_one_active_course_at_a_time(tmp_path: Path) -> None:
    course = load_course(COURSE)
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        cs = _ready(s)
        cs.start_course("P1", course, day=MON)
        with pytest.raises(CourseError, match="already has an active course"):
            cs.start_course("P1", course, day=MON)
        rec = cs.current_course("P1")
        cs.set_course_status(rec.id, "completed", "done")
        again = cs.start_course("P1", course, day=MON + dt.timedelta(days=90), kind="retreatment")
        assert again.kind == "retreatment" and len(cs.courses("P1")) == 2


def test_a_rating_outside_a_session_is_on_the_pain_trend(tmp_path: Path) -> None:
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        s.add_patient("P1", "left")
        s.add_rating("P1", 7, timepoint="pre", date=MON)  # e.g. a baseline taken in the console
        s.add_rating("P1", 5, timepoint="follow-up-1m", date=MON + dt.timedelta(days=30))
        trend = s.pain_trend("P1")
        assert [(t["pre"], t["post"]) for t in trend] == [(7, None), (None, 5)]
