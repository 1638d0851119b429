"""The cue tone in the plan: validation naming the field, and which cue steps carry a tone."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.errors import PlanError
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.timeline import compile_timeline

BASE: dict[str, Any] = {
    "patient": {"id": "T-TONE", "amputation_side": "right"},
    "blocks": [
        {"kind": "imagery", "movements": ["fist"], "repetitions": 2, "imagery_s": 1.0},
        {"kind": "mirror", "movements": ["fist"], "repetitions": 2, "movement_s": 1.0},
        {"kind": "rest", "duration_s": 1.0},
    ],
}


def _plan(tone: dict[str, Any] | None = None, **block_tone: bool) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if tone is not None:
        data["scene"] = {"cue_tone": tone}
    for i, kind in enumerate(("imagery", "mirror")):
        if kind in block_tone:
            data["blocks"][i]["cue_tone"] = block_tone[kind]
    return data


def _tones(data: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    steps = compile_timeline(plan_from_dict(data)).steps
    return [(str(s.data["exercise"]), s.data.get("tone")) for s in steps if s.kind == "cue"]


def test_off_by_default_with_soft_short_defaults() -> None:
    plan = plan_from_dict(_plan())
    tone = plan.scene.cue_tone
    assert not tone.enabled
    assert tone.params() == {
        "frequency_hz": 660.0,
        "duration_ms": 150.0,
        "level_dbfs": -20.0,
        "ramp_ms": 10.0,
    }
    assert all(t is None for _, t in _tones(_plan()))
    # no tone asked for: the timeline (and so every event) is exactly as before
    steps = compile_timeline(plan).steps
    assert all("tone" not in s.data for s in steps)


def test_enabled_in_the_scene_tones_every_cue_and_only_cues() -> None:
    data = _plan({"enabled": True, "frequency_hz": 880, "duration_ms": 100})
    tones = _tones(data)
    assert len(tones) == 4
    assert all(
        t == {"frequency_hz": 880.0, "duration_ms": 100.0, "level_dbfs": -20.0, "ramp_ms": 10.0}
        for _, t in tones
    )
    steps = compile_timeline(plan_from_dict(data)).steps
    assert all("tone" not in s.data for s in steps if s.kind != "cue")


def test_a_block_overrides_the_scene_setting() -> None:
    assert [e for e, t in _tones(_plan(imagery=True)) if t] == ["imagery"] * 2
    on_but_not_mirror = _tones(_plan({"enabled": True}, mirror=False))
    assert [e for e, t in on_but_not_mirror if t] == ["imagery"] * 2


@pytest.mark.parametrize(
    ("tone", "where", "says"),
    [
        ({"frequency_hz": 20}, "scene.cue_tone.frequency_hz", "greater than or equal to 100"),
        ({"duration_ms": 5000}, "scene.cue_tone.duration_ms", "less than or equal to 2000"),
        ({"level_dbfs": 0}, "scene.cue_tone.level_dbfs", "less than or equal to -3"),
        ({"volume": 0.5}, "scene.cue_tone.volume", "unknown field"),
        ({"duration_ms": 50, "ramp_ms": 30}, "scene.cue_tone", "at most half of duration_ms"),
        ({"enabled": "loud"}, "scene.cue_tone.enabled", "boolean"),
    ],
)
def test_bad_values_name_the_field(tone: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(PlanError) as ei:
        plan_from_dict(_plan(tone), "plan.toml")
    problems = {p.where: str(p) for p in ei.value.problems}
    assert f"plan.toml:{where}" in problems, problems
    assert says in problems[f"plan.toml:{where}"]


def test_block_cue_tone_must_be_a_boolean() -> None:
    data = _plan()
    data["blocks"][0]["cue_tone"] = "yes please"
    with pytest.raises(PlanError, match="blocks"):
        plan_from_dict(data, "plan.toml")


def test_headless_session_logs_each_cue_tone_as_not_played(tmp_path: Path) -> None:
    plan = plan_from_dict(_plan({"enabled": True}, mirror=False))
    run_session(plan, LaunchOptions(out=tmp_path / "s"))
    cues = [e for e in read_events(tmp_path / "s" / "events.jsonl").events if e.kind == "cue"]
    tones = {e["exercise"]: e.get("tone") for e in cues}
    assert tones["mirror"] is None
    tone = tones["imagery"]
    assert tone["played"] is False and "no display" in tone["reason"]
    assert tone["frequency_hz"] == 660.0 and "t" not in tone


def test_the_docs_example_is_a_valid_plan() -> None:
    """The ``[scene.cue_tone]`` example in docs/scene.md loads (with a patient added)."""
    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "scene.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```toml")[1:]]
    (example,) = [b for b in blocks if "[scene.cue_tone]" in b]
    data = tomllib.loads(example)
    data["patient"] = {"id": "T-DOC", "amputation_side": "left"}
    tones = _tones(data)
    assert tones and all(t is not None for e, t in tones if e == "imagery")
    assert plan_from_dict(data).scene.cue_tone.enabled is False  # on per block only
