"""The GMI exercise library, laterality scoring, outcome scores and the protocol library."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorvr.clinic.exercises import (
    ASSESSMENT_SEED,
    DEFAULT_EXERCISES,
    STAGES,
    ImageryExercise,
    LateralityExercise,
    LateralityNorms,
    MirrorExercise,
    laterality_suggestion,
    move_stage,
    plan_with_exercises,
    score_laterality,
)
from mirrorvr.clinic.outcomes import (
    bpi_interference,
    bpi_severity,
    is_responder,
    sfmpq2_subscales,
)
from mirrorvr.clinic.protocols import LIBRARY, library
from mirrorvr.config.loader import list_presets, load_plan
from mirrorvr.errors import MirrorVRError, PlanError
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.timeline import compile_timeline


def test_stages_move_forwards_backwards_and_sideways() -> None:
    assert move_stage(None, "progress") == "laterality"
    assert move_stage("laterality", "progress") == "imagery"
    assert move_stage("mirror", "regress") == "imagery"
    assert move_stage("mirror", "repeat") == "mirror"
    with pytest.raises(MirrorVRError, match="last GMI stage"):
        move_stage("functional", "progress")
    with pytest.raises(MirrorVRError, match="first GMI stage"):
        move_stage("laterality", "regress")


def test_every_stage_compiles_into_a_runnable_plan() -> None:
    base = load_plan("rehab-only")
    for stage in STAGES:
        plan = plan_with_exercises(base, DEFAULT_EXERCISES[stage])
        kinds = [b.kind for b in plan.blocks]
        assert kinds[0] == "rating" and kinds[-1] == "rating"
        assert len(compile_timeline(plan).steps) > 4
    # assessment trials repeat exactly across sessions; training ones follow the session seed
    lat = plan_with_exercises(base, DEFAULT_EXERCISES["laterality"])
    seeds = [b.seed for b in lat.blocks if b.kind == "laterality"]
    assert seeds == [ASSESSMENT_SEED, None]
    a = compile_timeline(
        lat.model_copy(update={"session": lat.session.model_copy(update={"seed": 1})})
    )
    b = compile_timeline(
        lat.model_copy(update={"session": lat.session.model_copy(update={"seed": 2})})
    )

    def trials(tl: object, block: int) -> list[tuple[str, int, str]]:
        return [
            (s.data["side"], s.data["angle_deg"], s.data["view"])
            for s in tl.steps  # type: ignore[attr-defined]
            if s.kind == "laterality_trial" and s.block == block
        ]

    assert trials(a, 1) == trials(b, 1)  # assessment set: identical
    assert trials(a, 2) != trials(b, 2)  # training set: varies


def test_exercise_knobs_are_validated() -> None:
    with pytest.raises(MirrorVRError, match="display time"):
        LateralityExercise(display_s=8, time_limit_s=5).to_blocks()
    with pytest.raises(ValueError):
        ImageryExercise(perspective="sideways")  # type: ignore[arg-type]
    # a concurrent protocol cannot run on laterality alone (no rests to hold the trains)
    with pytest.raises(PlanError, match="concurrent stimulation needs rests"):
        plan_with_exercises(load_plan("malavera-mirror"), [LateralityExercise()])
    mirror = MirrorExercise(phantom_moves=True, repetitions=3).to_blocks()[0]
    assert "phantom moves too" in mirror.label


def _lat(
    block: int, trial: int, side: str, angle: int, correct: bool, rt: float | None
) -> list[Event]:
    return [
        Event(
            0,
            0.0,
            "laterality_trial",
            {"block": block, "trial": trial, "side": side, "angle_deg": angle, "view": "back"},
        ),
        Event(
            1,
            1.0,
            "laterality_response",
            {"block": block, "trial": trial, "correct": correct, "rt_s": rt},
        ),
    ]


def test_laterality_scores_per_side_and_angle_against_norms() -> None:
    ev: list[Event] = []
    for t in range(10):
        ev += _lat(1, t, "left", 0, True, 1.0)
    for t in range(10, 20):  # affected side: slower and less accurate at 180°
        ev += _lat(1, t, "right", 180, t < 16, 2.5)
    ev += _lat(2, 0, "right", 90, False, None)  # another block, scored separately
    score = score_laterality(ev, LateralityNorms(), block=1)
    assert score["overall"]["trials"] == 20 and score["overall"]["correct"] == 16
    left, right = score["by_side"]["left"], score["by_side"]["right"]
    assert left["accuracy_pct"] == 100.0 and left["speed_ok"] is True
    assert right["accuracy_pct"] == 60.0 and not right["accuracy_ok"] and right["speed_ok"] is False
    assert score["by_side_angle"]["right/180"]["median_rt_s"] == 2.5
    assert laterality_suggestion(score) == "repeat: right below the norms"
    left_only = ev[:20]  # the ten left trials
    good = score_laterality([*left_only, *_lat(1, 30, "right", 0, True, 1.2)], block=1)
    assert laterality_suggestion(good) == "progress: both sides within the norms"


def test_laterality_score_from_a_real_simulated_session(tmp_path: Path) -> None:
    plan = plan_with_exercises(load_plan("rehab-only"), [LateralityExercise(trials=24)])
    run_session(plan, LaunchOptions(out=tmp_path / "s"))
    events = read_events(tmp_path / "s" / "events.jsonl").events
    score = score_laterality(events)
    assert score["overall"]["trials"] == 24
    assert sum(v["trials"] for v in score["by_side"].values()) == 24
    assert 0 < score["overall"]["correct"] <= 24


def test_outcome_scores_are_derived_not_stored() -> None:
    items = {"bpi.worst": 8, "bpi.least": 2, "bpi.average": 5, "bpi.now": 5}
    assert bpi_severity(items) == 5.0
    assert bpi_severity({"bpi.worst": 8}) is None
    assert bpi_interference({"bpi.mood": 4, "bpi.sleep": 6, "bpi.walking": 2}) is None  # < 4 of 7
    assert (
        bpi_interference({"bpi.mood": 4, "bpi.sleep": 6, "bpi.walking": 2, "bpi.enjoyment": 4})
        == 4.0
    )
    sub = sfmpq2_subscales(
        {
            f"sfmpq2.{k}": 3
            for k in ("shooting", "stabbing", "sharp", "splitting", "electric_shock", "piercing")
        }
    )
    assert sub == {"intermittent": 3.0}
    assert is_responder(6, 4) is True and is_responder(6, 5) is False and is_responder(0, 0) is None


def test_every_bundled_preset_is_in_the_library_with_sources() -> None:
    assert set(LIBRARY) <= set(list_presets())
    entries = {e["name"]: e for e in library()}
    assert entries["malavera-mirror"]["pulses"] == 1200
    assert any("Malavera" in s["citation"] for s in entries["malavera-mirror"]["sources"])  # type: ignore[union-attr, index]
    assert entries["rehab-only"]["investigational"] is False
    assert entries["itbs-priming-mirror"]["investigational"] is True
