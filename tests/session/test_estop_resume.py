"""Emergency stop through the runner in real time: disarm at once, resume only past the governor."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events


def test_resume_after_estop_rechecks_the_governor(tmp_path: Path, short_plan: Path) -> None:
    first_pulse, refused, resumed_pulse = threading.Event(), threading.Event(), threading.Event()
    paused = threading.Event()
    state = {"resumed": False}

    def sink(e):
        if e.kind == "pulse":
            first_pulse.set()
            if state["resumed"]:
                resumed_pulse.set()
        if e.kind == "state" and e["to"] == "paused":
            paused.set()
        if e.kind == "stim_refused" and "cannot resume" in e["reason"]:
            refused.set()

    def control(runner):
        def go():
            try:
                steps()
            except BaseException:
                runner.abort("test control failed")
                raise

        def steps():
            assert first_pulse.wait(30)
            threading.Thread(target=runner.estop, args=("foot pedal",)).start()  # any thread
            assert paused.wait(30)
            # a day later the threshold is too old: the resume must be refused
            real_day = runner.session_date
            runner.session_date = real_day + dt.timedelta(days=1)
            runner.resume()
            assert refused.wait(30)
            runner.session_date = real_day
            state["resumed"] = True
            runner.resume()
            assert resumed_pulse.wait(30)
            runner.abort("test over")

        threading.Thread(target=go, daemon=True).start()

    result, summary = run_session(
        load_plan(short_plan),
        LaunchOptions(out=tmp_path / "s", realtime=True, on_runner=control, sinks=[sink]),
    )
    events = read_events(tmp_path / "s" / "events.jsonl").events
    assert result.state == "aborted"
    sched = next(e for e in events if e.kind in ("scheduler", "stim_process"))
    assert "SCHED_FIFO" in sched["status"] or "normal priority" in sched["status"]
    override = next(e for e in events if e.kind == "safety_override")
    assert override["rule"] == "min_intertrain_interval_s" and override["approved_by"]
    assert any(e.kind == "safety_notice" for e in events)
    estop = next(e for e in events if e.kind == "estop")
    assert estop["cause"] == "foot pedal"
    refusal = next(e for e in events if e.kind == "stim_refused")
    assert "1 days old" in refusal["reason"]
    t_resumed = next(e.t for e in events if e.kind == "state" and e["reason"] == "resumed")
    # nothing between the e-stop and the resume that passed the governor
    assert not [e for e in events if e.kind == "pulse" and estop.t < e.t < t_resumed]
    emu = (tmp_path / "s" / "emulator-ttl-box.jsonl").read_text()
    assert emu.count('"action":"pulse"') == summary["pulses_delivered"]


def test_daily_pulses_from_earlier_sessions_are_counted(tmp_path: Path, short_plan: Path) -> None:
    result, summary = run_session(
        load_plan(short_plan), LaunchOptions(out=tmp_path / "s", pulses_today=2900)
    )
    assert result.state == "aborted" and "daily limit" in result.reason
    assert summary["pulses_delivered"] == 0
