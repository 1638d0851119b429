"""Outcomes: responder rules, pain, laterality, dose, deviations, MEPs."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.outcomes import (
    RESPONDER_RULES,
    responder_rule,
    run_outcomes,
)
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.eventlog import read_events
from tests.analysis.conftest import write_session_xdf


def test_rules_are_named_and_versioned() -> None:
    r = responder_rule(None)
    assert r.id == "immpact-moderate@1"
    assert responder_rule("immpact-2point").id == "immpact-2point@1"
    with pytest.raises(MirrorVRError, match="immpact-moderate@1"):
        responder_rule("made-up")


@pytest.mark.parametrize(
    ("rule", "pre", "post", "expected"),
    [
        ("immpact-moderate@1", 6, 4, True),  # −33 %
        ("immpact-moderate@1", 10, 8, False),  # −20 %
        ("immpact-moderate@1", 10, 7, True),  # exactly −30 %
        ("immpact-substantial@1", 6, 3, True),
        ("immpact-substantial@1", 6, 4, False),
        ("immpact-2point@1", 10, 8, True),
        ("immpact-2point@1", 3, 2, False),
        ("immpact-moderate@1", 0, 0, None),  # no baseline pain: undecidable
        ("immpact-moderate@1", 5, None, None),  # no post rating
    ],
)
def test_responder(rule: str, pre: float, post: float | None, expected: bool | None) -> None:
    assert RESPONDER_RULES[rule].judge(pre, post) is expected


@given(st.integers(1, 10), st.integers(0, 10))
def test_worse_pain_is_never_a_response(pre: int, post: int) -> None:
    for rule in RESPONDER_RULES.values():
        if post >= pre:
            assert rule.judge(pre, post) is False


def test_outcomes_of_a_simulated_session(cue_locked_session: Path) -> None:
    rec = load_recording(cue_locked_session)
    o = run_outcomes(rec)
    events = read_events(cue_locked_session / "events.jsonl").events
    ratings = {e["timepoint"]: e["value"] for e in events if e.kind == "rating"}
    p = o["pain"]
    assert (p["pre"], p["post"]) == (ratings["pre"], ratings["post"])
    assert p["change"] == ratings["post"] - ratings["pre"]
    assert p["pct_change"] == pytest.approx(100 * p["change"] / p["pre"])
    assert p["responder"] is RESPONDER_RULES["immpact-moderate@1"].judge(p["pre"], p["post"])
    lat = o["laterality"]
    resp = [e for e in events if e.kind == "laterality_response"]
    trials = [e for e in events if e.kind == "laterality_trial"]
    assert lat["trials"] == 16 == len(trials)
    assert lat["accuracy"] == pytest.approx(sum(e["correct"] for e in resp) / 16)
    assert set(lat["by_side"]) <= {"left", "right"}
    assert set(lat["by_angle"]) <= {"0", "90", "180"}
    assert sum(v["trials"] for v in lat["by_side_angle"].values()) == 16
    left = [e for e, t in zip(resp, trials, strict=True) if t["side"] == "left"]
    if left:
        assert lat["by_side"]["left"]["accuracy"] == pytest.approx(
            sum(e["correct"] for e in left) / len(left)
        )
    assert o["dose"] == {
        "pulses_planned": 8,
        "pulses_delivered": 8,
        "pulses_missed": 0,
        "delivered_pct": 100.0,
        "trains_started": 8,
        "trains_completed": 8,
        "intensity_pct_mso": pytest.approx(49.5),
    }
    assert o["deviations"]["end_state"] == "completed" and not o["deviations"]["estops"]


def test_estop_and_pause_are_deviations(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    with open(folder / "events.jsonl", "a", encoding="utf-8") as f:
        f.write('{"seq":9001,"t":20.0,"kind":"estop","cause":"operator key"}\n')
        f.write(
            '{"seq":9002,"t":20.1,"kind":"state","from":"running","to":"paused","reason":"emergency stop: operator key"}\n'
        )
    o = run_outcomes(load_recording(folder))
    assert o["deviations"]["estops"] == [{"t_s": 20.0, "cause": "operator key"}]
    assert o["deviations"]["pauses"][0]["reason"].startswith("emergency stop")


def test_meps_from_emg(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg=True)
    mep = run_outcomes(load_recording(folder))["mep"]
    assert mep["available"] and len(mep["per_pulse"]) == 120
    accepted = [r for r in mep["per_pulse"] if r["accepted"]]
    # pulses 50 ms apart: the next pulse's artefact-free baseline holds the previous MEP tail
    # for some trials, but every accepted one measures the injected ~1000 µV peak-to-peak
    assert accepted and all(900 < r["pp_uv"] < 1100 for r in accepted)


def test_meps_per_channel_headline_from_the_plan(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg_channels={"FDI": 500.0, "APB": 150.0})
    mep = run_outcomes(load_recording(folder))["mep"]
    # without a choice in the plan the first channel leads; every channel is measured
    assert (mep["channel"], mep["chosen_by"]) == ("FDI", "first channel")
    by = {c["channel"]: c["summary"]["median_pp_uv"] for c in mep["channels"]}
    assert 900 < by["FDI"] < 1100 and 250 < by["APB"] < 350
    plan = tomllib.loads((folder / "plan.toml").read_text())
    plan["stimulation"]["mep_channel"] = "apb"  # labels match case-insensitively
    (folder / "plan.toml").write_text(tomli_w.dumps(plan))
    mep = run_outcomes(load_recording(folder))["mep"]
    assert (mep["channel"], mep["chosen_by"]) == ("APB", "plan")
    assert 250 < mep["summary"]["median_pp_uv"] < 350
    assert [c["headline"] for c in mep["channels"]] == [False, True]
    plan["stimulation"]["mep_channel"] = "ECR"  # not recorded: said, first channel used
    (folder / "plan.toml").write_text(tomli_w.dumps(plan))
    mep = run_outcomes(load_recording(folder))["mep"]
    assert mep["channel"] == "FDI" and "'ECR' is not an EMG channel" in mep["note"]


def test_no_emg_says_so(concurrent_session: Path) -> None:
    mep = run_outcomes(load_recording(concurrent_session))["mep"]
    assert mep == {"available": False, "reason": "no EMG stream in the recording"}
