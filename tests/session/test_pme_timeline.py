"""A phantom_motor_execution block compiles into calibration, fitting and task steps."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mirrorvr.config.plan import SessionPlan
from mirrorvr.session.timeline import compile_timeline


def _plan(**block: object) -> SessionPlan:
    return SessionPlan.model_validate(
        {
            "patient": {"id": "P1", "amputation_side": "left"},
            "blocks": [{"kind": "phantom_motor_execution", **block}],
        }
    )


@given(st.integers(1, 4), st.integers(0, 7), st.integers(1, 6))
def test_calibration_cues_every_motion_each_repetition(reps: int, tasks: int, n: int) -> None:
    motions = ["hand_close", "hand_open", "wrist_flexion", "wrist_extension", "pronation"][
        : max(1, n - 1)
    ]
    tl = compile_timeline(_plan(motions=motions, calibration_repetitions=reps, tasks=tasks))
    cal = [s for s in tl.steps if s.kind == "window" and s.data["phase"] == "calibration"]
    assert sorted(s.data["movement"] for s in cal) == sorted(motions * reps)
    fit = [s for s in tl.steps if s.data.get("phase") == "fit"]
    assert len(fit) == 1 and fit[0].kind == "rest"
    task_windows = [s for s in tl.steps if s.kind == "window" and s.data["phase"] == "task"]
    assert len(task_windows) == tasks
    assert all(fit[0].t < s.t for s in task_windows)
    for s in task_windows:
        assert s.data["movement"] in motions
        assert abs(s.data["target_value"]) == pytest.approx(0.7)


def test_pme_plan_refuses_rest_only_and_combines_with_cue_locked_pulses() -> None:
    with pytest.raises(ValidationError, match="besides rest"):
        _plan(motions=["rest"])
    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "P1", "amputation_side": "right"},
            "blocks": [{"kind": "phantom_motor_execution", "tasks": 2, "rest_s": 6}],
            "stimulation": {
                "mode": "cue-locked",
                "cue_locked": {"delay_ms": 300},
                "motor_threshold": {"rmt_pct_mso": 50, "measured_on": dt.date(2026, 1, 1)},
            },
        }
    )
    tl = compile_timeline(plan)
    cues = [s for s in tl.steps if s.kind == "cue"]
    pulses = [s for s in tl.steps if s.kind == "cue_pulse"]
    assert len(pulses) == len(cues) > 0
    for p in pulses:
        assert tl.steps[p.data["cue_step"]].kind == "cue"


def test_pme_is_refused_for_a_lower_limb_patient() -> None:
    with pytest.raises(ValidationError, match="upper limb so far"):
        SessionPlan.model_validate(
            {
                "patient": {"id": "P1", "amputation_side": "left", "limb": "lower"},
                "blocks": [{"kind": "phantom_motor_execution"}],
            }
        )


def test_concurrent_trains_keep_out_of_calibration_unless_allowed() -> None:
    def plan(allowed: bool) -> SessionPlan:
        return SessionPlan.model_validate(
            {
                "patient": {"id": "P1", "amputation_side": "left"},
                "blocks": [
                    {
                        "kind": "phantom_motor_execution",
                        "tasks": 4,
                        "task_rest_s": 3.0,
                        "calibration_stimulation": allowed,
                    }
                ],
                "stimulation": {
                    "mode": "concurrent",
                    "rest_lead_s": 0.2,
                    "motor_threshold": {"rmt_pct_mso": 50, "measured_on": dt.date(2026, 1, 1)},
                    "protocol": {
                        "pulse_repetition_interval_s": 0.1,
                        "levels": [
                            {"duration_s": 1.0, "repetition_interval_s": 10.0},
                            {"duration_s": 40.0},
                        ],
                    },
                },
            }
        )

    for allowed in (False, True):
        tl = compile_timeline(plan(allowed))
        rests = {s.t: s for s in tl.steps if s.kind == "rest"}
        phases = {rests[t.t - 0.2].data["phase"] for t in tl.steps if t.kind == "train"}
        assert phases == ({"calibration"} if allowed else {"task"})
