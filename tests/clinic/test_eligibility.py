"""Eligibility: three answers (yes / no / not asked), clinic-chosen blocking items, the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mirrorvr.clinic.course import load_course
from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.eligibility import (
    ITEMS,
    EligibilityError,
    check_answers,
    evaluate,
)
from mirrorvr.clinic.store import ClinicStore

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 4)
ALL_NO = {k: "no" for k in ITEMS} | {"depression_screened": {"answer": "yes", "phq9": 4}}


def _levels(v: object) -> dict[str, str]:
    return {f.item: f.level for f in v.findings}  # type: ignore[attr-defined]


def test_unanswered_is_not_asked_never_no() -> None:
    parsed = check_answers({"seizure_history": "no"})
    assert parsed["seizure_history"].answer == "no"
    assert parsed["head_hardware"].answer == "not_asked"
    v = evaluate(parsed, amputation_date=dt.date(2020, 1, 1), today=TODAY)
    lv = _levels(v)
    # head hardware is blocking by default: not asked blocks, exactly as a "yes" would
    assert lv["head_hardware"] == "block" and not v.may_start
    # a non-blocking item left out is reported unknown, not silently treated as "no"
    assert lv["prosthesis_use"] == "unknown"
    v2 = evaluate(
        check_answers({"seizure_history": "no", "head_hardware": "no"}),
        amputation_date=dt.date(2020, 1, 1),
        today=TODAY,
    )
    assert v2.may_start


def test_any_item_can_be_made_blocking() -> None:
    answers = check_answers(ALL_NO | {"prosthesis_use": "not_asked"})
    kw = {"amputation_date": dt.date(2020, 1, 1), "today": TODAY}
    assert evaluate(answers, **kw).may_start  # type: ignore[arg-type]
    v = evaluate(answers, blocking=frozenset({"prosthesis_use"}), **kw)  # type: ignore[arg-type]
    assert not v.may_start and v.blocking[0].item == "prosthesis_use"


def test_time_since_amputation_flags_and_warns() -> None:
    answers = check_answers(ALL_NO)
    lv = _levels(evaluate(answers, amputation_date=TODAY - dt.timedelta(days=60), today=TODAY))
    assert lv["time_since_amputation"] == "flag"
    lv = _levels(evaluate(answers, amputation_date=TODAY - dt.timedelta(days=140), today=TODAY))
    assert lv["time_since_amputation"] == "warn"
    lv = _levels(evaluate(answers, amputation_date=TODAY - dt.timedelta(days=400), today=TODAY))
    assert lv["time_since_amputation"] == "note"
    lv = _levels(evaluate(answers, amputation_date=None, today=TODAY))
    assert lv["time_since_amputation"] == "unknown"


def test_severe_untreated_depression_is_flagged_for_parallel_treatment() -> None:
    base = ALL_NO | {"depression_screened": {"answer": "yes", "phq9": 22}}
    v = evaluate(
        check_answers(base | {"depression_treated": "no"}),
        amputation_date=dt.date(2020, 1, 1),
        today=TODAY,
    )
    f = next(f for f in v.findings if f.item == "depression_screened")
    assert f.level == "flag" and "in parallel" in f.message
    v = evaluate(
        check_answers(base | {"depression_treated": "yes"}),
        amputation_date=dt.date(2020, 1, 1),
        today=TODAY,
    )
    assert next(f for f in v.findings if f.item == "depression_screened").level == "warn"


def test_bad_answers_are_refused() -> None:
    with pytest.raises(EligibilityError, match="unknown"):
        check_answers({"nonsense": "yes"})
    with pytest.raises(EligibilityError, match="yes, no or not_asked"):
        check_answers({"seizure_history": "maybe"})
    with pytest.raises(EligibilityError, match="PHQ-9 is 0-27"):
        check_answers({"depression_screened": {"answer": "yes", "phq9": 40}})


def test_store_checks_eligibility_before_a_course(tmp_path: Path) -> None:
    course = load_course(ROOT / "configs/courses/malavera-10.toml")
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        s.add_patient("P1", "left", amputation_date=dt.date(2020, 1, 1))
        cs = CourseStore(s)
        # nothing recorded: every item is "not asked", and the blocking ones stop the course
        with pytest.raises(EligibilityError, match="seizure_history: not asked"):
            cs.start_course("P1", course, day=TODAY)
        cs.record_eligibility("P1", {"seizure_history": "no", "head_hardware": "no"})
        rec = cs.eligibility("P1")
        assert rec is not None and rec.answers["snri_tried"].answer == "not_asked"
        cs.set_blocking_items(["seizure_history", "head_hardware", "snri_tried"])
        with pytest.raises(EligibilityError, match="snri_tried"):
            cs.start_course("P1", course, day=TODAY)
        cs.record_eligibility(
            "P1", {"seizure_history": "no", "head_hardware": "no", "snri_tried": "no"}
        )
        assert cs.start_course("P1", course, day=TODAY).status == "active"
        assert any(a["action"] == "eligibility_blocking_set" for a in s.audit_log())
