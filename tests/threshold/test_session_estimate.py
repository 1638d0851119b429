"""A simulated session that starts by measuring the motor threshold; the result sets dosing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.errors import SessionError
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.launch import LaunchOptions, resume_session, run_session
from mirrorvr.sim.emg import BodyModel

ESTIMATE = """
[stimulation.threshold_estimate]
method = "{method}"
start_pct_mso = {start}
max_trials = 16
max_pulses = 150
"""


def _plan(
    short_plan: Path, method: str = "ml-pest", keep_mt: bool = False, start: int = 60
) -> Path:
    text = short_plan.read_text()
    if not keep_mt:
        text = text.replace(
            '[stimulation.motor_threshold]\nrmt_pct_mso = 50\nmeasured_on = "2026-01-10"\n', ""
        )
    text = text.replace(
        "[stimulation.protocol]",
        ESTIMATE.format(method=method, start=start) + "\n[stimulation.protocol]",
    )
    short_plan.write_text(text)
    return short_plan


def test_session_starts_with_ml_pest_and_doses_from_it(tmp_path: Path, short_plan: Path) -> None:
    plan = load_plan(_plan(short_plan))
    assert plan.stimulation.motor_threshold is None
    out = tmp_path / "s"
    result, summary = run_session(
        plan, LaunchOptions(out=out, body=BodyModel(true_threshold_pct_mso=62.0))
    )
    assert result.state == "completed" and summary["pulses_delivered"] == 120
    events = read_events(out / "events.jsonl").events
    kinds = [e.kind for e in events]
    # the hunt comes before the first therapy train, and its result is on record before it
    assert (
        kinds.index("threshold_result")
        < kinds.index("motor_threshold")
        < kinds.index("train_intent")
    )
    mt = next(e for e in events if e.kind == "motor_threshold")
    assert abs(mt["rmt_pct_mso"] - 62.0) <= 6 and mt["method"] == "ml-pest"
    # every therapy train is dosed at 90 % of the measured threshold
    intents = [e for e in events if e.kind == "train_intent"]
    assert {e["intensity_pct_mso"] for e in intents} == {round(0.9 * mt["rmt_pct_mso"], 2)}
    # the session folder keeps the plan that ran (threshold on record) and the hunt's result
    ran = load_plan(out / "plan.toml")
    assert ran.stimulation.motor_threshold is not None
    assert ran.stimulation.motor_threshold.rmt_pct_mso == mt["rmt_pct_mso"]
    stored = json.loads((out / "threshold.json").read_text())
    assert stored["method"] == "ml-pest" and stored["status"] == "completed"
    assert summary["motor_threshold"]["rmt_pct_mso"] == mt["rmt_pct_mso"]
    # the emulated box saw the hunt's pulses and the therapy's
    emu = (out / "emulator-ttl-box.jsonl").read_text()
    assert emu.count('"action":"pulse"') == 120 + stored["pulses"]


def test_five_of_ten_replaces_the_threshold_on_record(tmp_path: Path, short_plan: Path) -> None:
    plan = load_plan(_plan(short_plan, "5-10", keep_mt=True, start=46))
    out = tmp_path / "s"
    result, _ = run_session(
        plan, LaunchOptions(out=out, body=BodyModel(true_threshold_pct_mso=40.0))
    )
    assert result.state == "completed"
    mt = next(e for e in read_events(out / "events.jsonl").events if e.kind == "motor_threshold")
    assert mt["method"] == "5-10" and mt["rmt_pct_mso"] != 50 and abs(mt["rmt_pct_mso"] - 40) <= 5


def test_no_threshold_found_aborts_without_therapy(tmp_path: Path, short_plan: Path) -> None:
    text = _plan(short_plan).read_text() + "\n[safety]\nmax_intensity_pct_mso = 70\n"
    short_plan.write_text(text)
    out = tmp_path / "s"
    with pytest.raises(SessionError, match="found no threshold"):
        run_session(
            load_plan(short_plan),
            LaunchOptions(out=out, body=BodyModel(true_threshold_pct_mso=95.0)),
        )
    events = read_events(out / "events.jsonl").events
    assert not any(e.kind in ("train_intent", "pulse", "motor_threshold") for e in events)
    assert events[-1].kind == "session_end" and events[-1]["state"] == "aborted"
    with pytest.raises(SessionError, match="already ended"):
        resume_session(out)
