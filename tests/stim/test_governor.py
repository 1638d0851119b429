"""The safety governor: each rule refuses with a readable reason; overrides are explicit."""

from __future__ import annotations

import datetime as dt

import pytest

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.errors import PlanError
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim import governor
from mirrorvr.stim.governor import DeviceLimits, Ledger, RuntimeState, StimRequest
from tests.stim.helpers import CTBS, DAY, ITBS, plan_dict, rtms

TODAY = dt.date.fromisoformat(DAY)


def _check(d, **kw):
    plan = plan_from_dict(d)
    return [str(p) for p in governor.check_plan(plan, compile_timeline(plan), today=TODAY, **kw)]


def _override(rule, value, **extra):
    return {
        "rule": rule,
        "value": value,
        "reason": "documented clinical decision for this patient",
        "approved_by": "Dr B",
        "approved_on": DAY,
        **extra,
    }


def test_a_plan_within_every_limit_passes() -> None:
    assert _check(plan_dict(rtms(20, 32, 3, 30.0))) == []
    assert _check(plan_dict(ITBS, intensity_pct_rmt=80)) == []
    assert _check(plan_dict(CTBS, intensity_pct_rmt=80)) == []


def test_train_longer_than_the_table_is_refused_never_shortened() -> None:
    problems = _check(plan_dict(rtms(20, 60, 2, 30.0)))  # 3-s trains, table 2.05 s
    assert len(problems) == 1
    assert (
        "a 3-s train at 20 Hz and 90 % of motor threshold is longer than the 2.05 s"
        in (problems[0])
    )
    assert "(and 1 more)" in problems[0]


def test_table_override_allows_exactly_what_it_says() -> None:
    d = plan_dict(rtms(10, 60, 2, 60.0))  # Malavera: 6-s trains, table '>5'
    assert any("longer than the 5 s allowed" in p for p in _check(d))
    d["safety"] = {
        "overrides": [_override("max_train_duration_s", 6.0, frequency_hz=10, up_to_pct_rmt=90)]
    }
    assert _check(d) == []
    d["stimulation"]["intensity_pct_rmt"] = 95  # the override covers up to 90 % only
    assert any("longer than" in p for p in _check(d))


def test_clinic_table_scale_tightens() -> None:
    d = plan_dict(rtms(20, 32, 2, 30.0))  # 1.6 s ≤ 2.05
    d["safety"] = {"train_table_scale": 0.75}  # Chen 1997's 25 % reduction → 1.54 s
    assert any("× 0.75 (clinic scale)" in p for p in _check(d))


def test_frequency_without_table_row_is_refused() -> None:
    problems = _check(plan_dict(rtms(30, 10, 2, 30.0)))
    assert any("no entry for 30 Hz" in p for p in problems)


def test_intertrain_interval() -> None:
    problems = _check(plan_dict(rtms(20, 20, 3, 4.0)))  # 1-s trains, 3.05-s gaps
    assert any("the minimum gap between trains is 5 s" in p for p in problems)
    d = plan_dict(rtms(20, 20, 3, 4.0))
    d["safety"] = {"min_intertrain_interval_s": 10.0}  # tightening needs no override
    d2 = plan_dict(rtms(20, 20, 3, 12.0))
    d2["safety"] = {"min_intertrain_interval_s": 10.0}
    assert _check(d2) == []


def test_loosening_without_override_is_refused_and_with_one_is_allowed() -> None:
    d = plan_dict(rtms(20, 20, 3, 4.0))
    d["safety"] = {"min_intertrain_interval_s": 2.0}
    problems = _check(d)
    assert any("looser than the project baseline" in p for p in problems)
    d["safety"] = {"overrides": [_override("min_intertrain_interval_s", 2.0)]}
    assert _check(d) == []


def test_intensity_caps_rmt_and_mso() -> None:
    assert any(
        "above the profile's limit of 120 %" in p
        for p in _check(plan_dict(rtms(1, 10, 1, 30.0), intensity_pct_rmt=125))
    )
    d = plan_dict(rtms(1, 10, 1, 30.0))
    d["safety"] = {"max_intensity_pct_mso": 40}  # 90 % of 50 % = 45 % output
    assert any(
        "45 % of stimulator output is above the profile's limit of 40 %" in p for p in _check(d)
    )


def test_pulses_per_session() -> None:
    d = plan_dict(rtms(1, 100, 1, 200.0))
    d["safety"] = {"max_pulses_per_session": 50}
    # counted before the timeline is expanded: the compiler refuses it with the field and rule
    with pytest.raises(PlanError, match=r"rule max_pulses_per_session: .* allows 50 per session"):
        _check(d)


def test_daily_limit_counts_earlier_sessions_exactly() -> None:
    d = plan_dict(rtms(1, 100, 1, 200.0))
    assert _check(d, pulses_today=2900) == []
    assert any("daily limit" in p for p in _check(d, pulses_today=2901))


def test_motor_threshold_age_and_method() -> None:
    d = plan_dict(rtms(1, 10, 1, 30.0))
    d["stimulation"]["motor_threshold"]["measured_on"] = "2026-02-27"
    assert any("3 days old" in p and "measured on the day" in p for p in _check(d))
    d["safety"] = {"max_threshold_age_days": 0}
    d = plan_dict(rtms(1, 10, 1, 30.0))
    d["stimulation"]["motor_threshold"]["method"] = "visual"
    assert any("judged visually" in p for p in _check(d))
    d["safety"] = {"overrides": [_override("allow_visual_threshold", 1)]}
    assert _check(d) == []


def test_screening_required_complete_and_positives_cleared() -> None:
    d = plan_dict(rtms(1, 10, 1, 30.0))
    del d["screening"]
    assert any(p.startswith("screening: no safety screening") for p in _check(d))
    d = plan_dict(rtms(1, 10, 1, 30.0))
    d["screening"]["positives"] = [{"item": "metal implant in the head"}]
    assert any("'metal implant in the head' was answered yes" in p for p in _check(d))
    d["screening"]["positives"] = [
        {
            "item": "metal implant in the head",
            "decision": "dental only; allowed",
            "cleared_by": "Dr B",
        }
    ]
    assert _check(d) == []
    d["screening"]["completed_on"] = "2025-11-01"
    assert any("screening was completed 121 days ago" in p for p in _check(d))
    d["safety"] = {"max_screening_age_days": 0}  # a clinic screening on the day
    d["screening"]["completed_on"] = "2026-03-01"
    assert any("it must be done on the day of the session" in p for p in _check(d))


def test_theta_burst_structure_limits() -> None:
    assert any(
        "theta-burst intensity 90 %" in p for p in _check(plan_dict(ITBS, intensity_pct_rmt=90))
    )
    four = dict(
        ITBS, levels=[{"duration_s": 0.08, "repetition_interval_s": 0.2}, *ITBS["levels"][1:]]
    )
    four["levels"][1] = {"duration_s": 2.0, "repetition_interval_s": 10.0}
    assert any("burst of 4 pulses" in p for p in _check(plan_dict(four, intensity_pct_rmt=80)))
    fast = dict(
        CTBS, levels=[{"duration_s": 0.06, "repetition_interval_s": 0.1}, {"duration_s": 20.0}]
    )
    assert any("bursts 0.100 s apart" in p for p in _check(plan_dict(fast, intensity_pct_rmt=80)))
    long = dict(
        CTBS, levels=[{"duration_s": 0.06, "repetition_interval_s": 0.2}, {"duration_s": 60.0}]
    )
    d = plan_dict(long, intensity_pct_rmt=80)
    d["safety"] = {"overrides": [_override("tbs_max_pulses_per_session", 900)]}
    problems = _check(d)
    assert any(
        "theta-burst train of" in p and "longer than the profile's 40 s" in p for p in problems
    )


def test_device_limits_reported_by_the_driver() -> None:
    d = plan_dict(rtms(20, 32, 2, 30.0))
    problems = _check(d, device=DeviceLimits(max_frequency_hz=10.0, source="Rapid² at 45 %"))
    assert any(
        "20 Hz is faster than the stimulator allows" in p and "Rapid² at 45 %" in p
        for p in problems
    )
    problems = _check(d, device=DeviceLimits(min_train_gap_s=40.0, source="energy wait"))
    assert any("the stimulator needs 40 s" in p for p in problems)


def test_authorize_never_adjusts_and_counts_the_budget() -> None:
    limits = governor.effective_limits(governor.BASELINE)
    req = StimRequest(20, 45, 90, 20.0, "rtms", 0, 0.0, 0.95)
    assert governor.authorize(req, RuntimeState(), limits, budget=20).allowed
    d = governor.authorize(req, RuntimeState(Ledger(1, 1)), limits, budget=20)
    assert not d.allowed and "budget of 20 (1 already" in d.reason
    state = governor.reserve(RuntimeState(), req)
    assert state.ledger == Ledger(20, 20)
    assert governor.release(state, 5).ledger == Ledger(15, 15)
    nxt = StimRequest(20, 45, 90, 20.0, "rtms", 1, 3.0, 3.95)
    assert "2.050 s since the previous" in governor.authorize(nxt, state, limits, 100).reason


def test_overrides_are_notices_for_the_log() -> None:
    d = plan_dict(rtms(10, 60, 2, 60.0))
    d["safety"] = {
        "overrides": [_override("max_train_duration_s", 6.0, frequency_hz=10, up_to_pct_rmt=90)]
    }
    notes = governor.safety_notices(plan_from_dict(d))
    assert notes[0]["what"] == "train_table_unverified"
    assert notes[1]["rule"] == "max_train_duration_s" and notes[1]["approved_by"] == "Dr B"


def test_override_for_train_duration_needs_its_cell() -> None:
    from mirrorvr.errors import PlanError

    d = plan_dict(rtms(10, 60, 2, 60.0))
    d["safety"] = {"overrides": [_override("max_train_duration_s", 6.0)]}
    with pytest.raises(PlanError, match="frequency_hz and up_to_pct_rmt"):
        plan_from_dict(d)
