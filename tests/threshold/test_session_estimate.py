"""A simulated session that starts by measuring the motor threshold; the result sets dosing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.errors import SessionError
from mirrorvr.run.resume import resume_session
from mirrorvr.run.session import (
    LaunchOptions,
    _emg_record,
    _emg_stream_name,
    run_session,
)
from mirrorvr.session.eventlog import read_events
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


@pytest.mark.slow
def test_real_time_session_estimates_from_the_emulators_emg(
    tmp_path: Path, short_plan: Path
) -> None:
    """Real time: the emulated box's pulses reach the body in the emulator, EMG comes over LSL."""
    text = (
        _plan(short_plan)
        .read_text()
        .replace(
            "max_pulses = 150",
            # a wide window: on a loaded machine the emulator may read the trigger byte late
            "max_pulses = 30\nisi_s = [1.0, 1.2]\nmax_baseline_rms_uv = 1000\nwindow_ms = [10, 90]",
        )
        .replace("max_trials = 16", "max_trials = 6")
    )
    short_plan.write_text(text)
    plan = load_plan(short_plan)
    out = tmp_path / "rt"
    opts = LaunchOptions(out=out, realtime=True, body=BodyModel(true_threshold_pct_mso=45.0))
    # the hunt's EMG stream is handed to the session recorder
    assert _emg_record(plan, opts) == [f"name='{_emg_stream_name(plan, opts)}'"]
    result, summary = run_session(plan, opts)
    assert result.state == "completed", result.reason
    events = read_events(out / "events.jsonl").events
    meps = [e for e in events if e.kind == "mep"]
    accepted = [m for m in meps if m["accepted"]]
    assert len(accepted) == 6 and len(meps) == summary["motor_threshold"]["pulses"]
    # the first pulse (60 % MSO on a 45 % threshold) evoked a large MEP read back over LSL
    assert accepted[0]["intensity_pct_mso"] == 60 and accepted[0]["positive"]
    assert accepted[0]["pp_uv"] > 200
    assert (out / "panel.txt").exists()
    mt = summary["motor_threshold"]
    assert mt["method"] == "ml-pest" and mt["rmt_pct_mso"] is not None
    # where the recorder had already joined the EMG stream, the MEPs measure the same offline
    import pyxdf

    from mirrorvr.analysis.mep import MepSettings, measure_meps

    streams, _ = pyxdf.load_xdf(str(out / "session.xdf"))
    emg = next((s for s in streams if s["info"]["type"][0] == "EMG"), None)
    if emg is not None:
        pulses = [e.t for e in events if e.kind == "threshold_pulse"]
        again = measure_meps(
            emg["time_series"][:, 0],
            emg["time_stamps"],
            pulses,
            MepSettings(max_baseline_rms_uv=1000, window_ms=(10.0, 90.0)),
        )
        for r, m in zip(again, meps, strict=True):
            if r.accepted and m["accepted"]:
                assert r.positive == m["positive"] and abs(r.pp_uv - m["pp_uv"]) < 1.0


def test_preset_with_estimate_validates_before_the_threshold_is_known() -> None:
    import datetime as dt

    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor

    plan = load_plan("malavera-mirror-mt")
    assert plan.stimulation.motor_threshold is None
    assert plan.stimulation.threshold_estimate is not None
    tl = compile_timeline(plan)
    day = plan.screening.completed_on if plan.screening else dt.date.today()
    assert governor.check_plan(plan, tl, today=day) == []
    # ... but no train can go out at 0 % MSO, which is what it has until the hunt is done
    req = governor.StimRequest(60, plan.stimulation.intensity_pct_mso, 90.0, 10.0)
    limits = governor.effective_limits(plan.safety)
    d = governor.authorize(req, governor.RuntimeState(), limits, 1200)
    assert not d.allowed and "not known" in d.reason
    # the % RMT limit is still checked up front
    hot = plan.model_copy(
        update={"stimulation": plan.stimulation.model_copy(update={"intensity_pct_rmt": 140.0})}
    )
    assert governor.check_plan(hot, tl, today=day)
