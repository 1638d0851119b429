"""Phantom motor execution sessions: fast and real time, real LSL streams, a lost stream.

The real-time tests read EMG through a real LSL inlet: the simulated residual limb published
by a thread of the session (``mirrorvr sim`` style), or by the test itself standing in for an
amplifier. They check the decoded stream reaches the XDF and that a lost stream pauses the
block. Timing figures are the benchmark's (benchmarks/pme_decoding.py), never asserted here.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import pyxdf

from mirrorvr.config.loader import load_plan, plan_from_dict
from mirrorvr.config.plan import SessionPlan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.runner import SessionRunner

ROOT = Path(__file__).resolve().parents[2]


def _plan(*, tasks: int = 3, reps: int = 2, emg_stream: str = "EMG", **extra: Any) -> SessionPlan:
    block = {
        "kind": "phantom_motor_execution",
        "motions": ["hand_close", "hand_open", "wrist_flexion"],
        "calibration_repetitions": reps,
        "cue_s": 1.0,
        "contraction_s": 2.0,
        "rest_s": 2.0,
        "settle_s": 0.4,
        "fit_s": 0.5,
        "tasks": tasks,
        "task_limit_s": 6.0,
        "task_rest_s": 1.5,
        "emg_stream": emg_stream,
    }
    return plan_from_dict(
        {
            "session": {"name": "pme test", "seed": 11},
            "patient": {"id": "T-PME", "amputation_side": "right"},
            "blocks": [block],
            **extra,
        },
        "pme-test",
    )


def _xdf(path: Path) -> dict[str, Any]:
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    return {s["info"]["name"][0]: s for s in streams}


def _events(folder: Path) -> list[Event]:
    return read_events(folder / "events.jsonl").events


def test_fast_session_calibrates_decodes_and_scores_tasks(tmp_path: Path) -> None:
    folder = tmp_path / "fast"
    result, summary = run_session(_plan(), LaunchOptions(out=folder))
    assert result.state == "completed"
    assert summary["phantom_motor_execution"]["tasks"] == 3
    events = _events(folder)
    model = next(e for e in events if e.kind == "pme_model")
    assert model["ok"] and model["cv_accuracy"] >= 0.8
    assert set(model["windows"]) == {"rest", "hand_close", "hand_open", "wrist_flexion"}
    assert json.loads((folder / model["model_file"]).read_text())["model"]["kind"] == "lda"
    tasks = [e for e in events if e.kind == "pme_task"]
    assert len(tasks) == 3
    assert sum(e["completed"] for e in tasks) >= 2
    decisions = [e for e in events if e.kind == "pme"]
    # decisions start at the fit and come once per 50 ms increment
    assert decisions and decisions[0].t >= model.t
    gaps = {round(b.t - a.t, 3) for a, b in itertools.pairwise(decisions)}
    assert gaps == {0.05}
    # the decoded stream is in the XDF, and only there (not one marker per window)
    xdf = _xdf(folder / "session.xdf")
    assert len(xdf["mirrorvr-pme"]["time_stamps"]) == len(decisions)
    assert not any('"kind":"pme"' in m[0] for m in xdf["mirrorvr-markers"]["time_series"])
    # the same seed gives the same session
    again = tmp_path / "again"
    run_session(_plan(), LaunchOptions(out=again))
    strip = [(e.kind, e.t, e.data) for e in events]
    assert strip == [(e.kind, e.t, e.data) for e in _events(again)]


def test_pme_rests_take_concurrent_trains_under_the_governor(tmp_path: Path) -> None:
    plan = _plan(
        tasks=2,
        reps=1,
        stimulation={
            "mode": "concurrent",
            "intensity_pct_rmt": 90,
            "rest_lead_s": 0.2,
            "motor_threshold": {"rmt_pct_mso": 50, "measured_on": "2026-01-10"},
            "protocol": {
                "pulse_repetition_interval_s": 0.1,
                "levels": [{"duration_s": 1.0, "repetition_interval_s": 4.0}, {"duration_s": 8.0}],
            },
        },
        devices={"stimulator": {"kind": "ttl-box"}},
        screening={"completed_on": "2026-01-10", "completed_by": "test nurse"},
    )
    folder = tmp_path / "stim"
    result, summary = run_session(plan, LaunchOptions(out=folder))
    assert result.state == "completed"
    assert summary["pulses_delivered"] == 20
    events = _events(folder)
    rests = [e for e in events if e.kind == "rest" and e.get("phase") == "task"]
    for pulse in (e for e in events if e.kind == "pulse"):
        # in task rests only: calibration rests stay free of TMS artefacts by default
        assert any(r.t <= pulse.t <= r.t + 1.5 for r in rests), "every pulse in a task rest"
    emu = (folder / "emulator-ttl-box.jsonl").read_text()
    assert emu.count('"action":"pulse"') == 20


@pytest.mark.slow
def test_realtime_session_decodes_over_lsl_into_the_xdf(tmp_path: Path) -> None:
    folder = tmp_path / "rt"
    result, summary = run_session(_plan(tasks=1, reps=2), LaunchOptions(out=folder, realtime=True))
    assert result.state == "completed"
    events = _events(folder)
    # calibrated through a real LSL inlet: above the same floor as on the simulated clock
    assert summary["phantom_motor_execution"]["cv_accuracy"][0] >= 0.8
    decisions = [e for e in events if e.kind == "pme"]
    assert len(decisions) > 50
    assert all(e["latency_s"] > 0 for e in decisions)  # decoded after the window's last sample
    xdf = _xdf(folder / "session.xdf")
    pme = xdf["mirrorvr-pme"]
    assert len(pme["time_stamps"]) == len(decisions)
    # stamped with the window's last sample time on the one clock
    assert abs(pme["time_stamps"][0] - decisions[0].t) < 0.002
    assert pme["info"]["desc"][0]["motion_codes"][0]["hand_close"] == ["1"]


@pytest.mark.slow
def test_a_lost_emg_stream_pauses_the_block(tmp_path: Path, lsl_name: str) -> None:
    """The amplifier's stream stops; the session pauses, no decision is made on stale data,
    and the block goes on after the stream is back and the operator resumes."""
    from mirrorvr.sim.residual_emg_stream import ResidualEmgPublisher

    amplifier = ResidualEmgPublisher(lsl_name, source_id=lsl_name).start()
    runner_box: list[SessionRunner] = []
    cut = threading.Event()

    def sink(event: Event) -> None:
        if event.kind == "pme" and not cut.is_set():
            cut.set()  # the model is fitted and decoding: now pull the plug
            amplifier.pause(True)
        if event.kind == "state" and event.get("to") == "paused":

            def restore() -> None:
                time.sleep(1.0)
                amplifier.pause(False)
                time.sleep(2.5)  # the feed sees samples again
                runner_box[0].resume()

            threading.Thread(target=restore, daemon=True).start()

    folder = tmp_path / "lost"
    try:
        result, _ = run_session(
            _plan(tasks=1, reps=1, emg_stream=lsl_name),
            LaunchOptions(
                out=folder,
                realtime=True,
                simulated=False,
                on_runner=runner_box.append,
                sinks=[sink],
                xdf=False,
            ),
        )
    finally:
        amplifier.stop()
    assert result.state == "completed", result.reason
    events = _events(folder)
    lost = next(e for e in events if e.kind == "pme_stream" and e["what"] == "lost")
    paused = next(e for e in events if e.kind == "state" and e["to"] == "paused")
    assert "EMG" in paused["reason"] and paused.t >= lost.t
    restored = next(e for e in events if e.kind == "pme_stream" and e["what"] == "restored")
    resumed = next(e for e in events if e.kind == "state" and e["reason"] == "resumed")
    assert not [e for e in events if e.kind == "pme" and lost.t < e.t < restored.t]
    assert resumed.t <= restored.t + 1.0
    assert any(e.kind == "pme" and e.t > restored.t for e in events)


def test_bundled_preset_is_a_pme_plan() -> None:
    plan = load_plan(ROOT / "configs" / "phantom-motor-execution.toml")
    block = next(b for b in plan.blocks if b.kind == "phantom_motor_execution")
    assert len(block.classes) == 7 and block.tasks > 0


def test_a_resumed_session_reloads_the_fitted_model(tmp_path: Path) -> None:
    """A crash during the tasks: resume goes on with the model fitted before the crash."""
    from mirrorvr.run.resume import resume_session

    folder = tmp_path / "crash"
    run_session(_plan(tasks=3), LaunchOptions(out=folder))
    log = folder / "events.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    first_task = next(i for i, ln in enumerate(lines) if '"kind":"pme_task"' in ln)
    log.write_text("".join(lines[: first_task + 1]), encoding="utf-8")  # the crash
    (folder / "summary.json").unlink()
    result, _ = resume_session(folder)
    assert result.state == "completed"
    events = _events(folder)
    resume = next(e for e in events if e.kind == "resume")
    reloaded = next(e for e in events if e.kind == "pme_model" and e.get("reloaded"))
    assert reloaded.t >= resume.t and reloaded["ok"]
    after = [e for e in events if e.seq > resume.seq]
    assert any(e.kind == "pme" for e in after)
    assert [e["task"] for e in events if e.kind == "pme_task"][-1] == 2


@pytest.mark.slow
def test_a_missing_amplifier_stream_ends_the_session_with_its_name(
    tmp_path: Path, lsl_name: str
) -> None:
    from mirrorvr.errors import DeviceError

    folder = tmp_path / "missing"
    with pytest.raises(DeviceError, match=lsl_name):
        run_session(
            _plan(tasks=1, reps=1, emg_stream=lsl_name),
            LaunchOptions(out=folder, realtime=True, simulated=False, xdf=False),
        )
    end = _events(folder)[-1]
    assert end.kind == "session_end" and end["state"] == "aborted"
