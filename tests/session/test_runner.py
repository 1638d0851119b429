"""The runner end to end with the simulated clock, the real event log and an emulated box."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session, with_seed
from mirrorvr.session.eventlog import read_events


def _signature(folder: Path) -> list[tuple]:
    return [
        (e.kind, round(e.t, 6), e.get("movement"), e.get("value"))
        for e in read_events(folder / "events.jsonl").events
    ]


def test_same_seed_same_events_and_counts(tmp_path: Path, short_plan: Path) -> None:
    plan = load_plan(short_plan)
    r1, s1 = run_session(plan, LaunchOptions(out=tmp_path / "a"))
    r2, _s2 = run_session(plan, LaunchOptions(out=tmp_path / "b"))
    assert r1.state == r2.state == "completed"
    assert _signature(tmp_path / "a") == _signature(tmp_path / "b")
    assert s1["pulses_delivered"] == 120 and s1["pulses_missed"] == 0
    _r3, _ = run_session(with_seed(plan, 99), LaunchOptions(out=tmp_path / "c"))
    assert _signature(tmp_path / "c") != _signature(tmp_path / "a")


def test_every_pulse_reaches_the_emulated_box(tmp_path: Path, short_plan: Path) -> None:
    run_session(load_plan(short_plan), LaunchOptions(out=tmp_path / "s"))
    emu = (tmp_path / "s" / "emulator-ttl-box.jsonl").read_text().splitlines()
    assert sum('"action":"pulse"' in line for line in emu) == 120


def test_intent_is_logged_before_pulses_and_outcome_after(tmp_path: Path, short_plan: Path) -> None:
    run_session(load_plan(short_plan), LaunchOptions(out=tmp_path / "s"))
    events = read_events(tmp_path / "s" / "events.jsonl").events
    kinds = [e.kind for e in events if e.kind in ("train_intent", "pulse", "train_outcome")]
    assert kinds == (["train_intent"] + ["pulse"] * 20 + ["train_outcome"]) * 6


def test_pulse_width_is_simulated_time_on_the_simulated_clock(
    tmp_path: Path, short_plan: Path
) -> None:
    # a 20 ms pulse width would hold each of 120 pulses for 2.4 s of real time if it were
    # spun; on the simulated clock it is simulated time: each train's outcome is stamped one
    # width after its last pulse, and every code byte is followed by its release byte
    text = short_plan.read_text().replace("pulse_width_ms = 1.0", "pulse_width_ms = 20.0")
    short_plan.write_text(text)
    _r, summary = run_session(load_plan(short_plan), LaunchOptions(out=tmp_path / "s"))
    assert summary["pulses_delivered"] == 120
    events = read_events(tmp_path / "s" / "events.jsonl").events
    for outcome in (e for e in events if e.kind == "train_outcome"):
        last = max(
            e.t for e in events if e.kind == "pulse" and e.get("train") == outcome.get("train")
        )
        assert outcome.t == pytest.approx(last + 0.02)
    emu = (tmp_path / "s" / "emulator-ttl-box.jsonl").read_text().splitlines()
    rx = [json.loads(line)["rx"] for line in emu if '"rx"' in line]
    assert "".join(rx[1:-2]) == "0100" * 120  # connect ... code, release ... disarm, close


def test_governor_refuses_intensity_above_profile(tmp_path: Path, short_plan: Path) -> None:
    text = short_plan.read_text().replace("intensity_pct_rmt = 90", "intensity_pct_rmt = 130")
    short_plan.write_text(text)
    result, summary = run_session(load_plan(short_plan), LaunchOptions(out=tmp_path / "s"))
    assert result.state == "aborted" and "above the profile's limit" in result.reason
    assert summary["pulses_delivered"] == 0
    emu = tmp_path / "s" / "emulator-ttl-box.jsonl"
    assert '"action":"pulse"' not in emu.read_text()


def test_pause_resume_and_estop_from_another_thread_in_real_time(
    tmp_path: Path, short_plan: Path
) -> None:
    pulses: list[float] = []
    first_pulse, pulse_after_resume = threading.Event(), threading.Event()
    resumed = threading.Event()

    def sink(e):
        if e.kind == "pulse":
            pulses.append(e.t)
            first_pulse.set()
            if resumed.is_set():
                pulse_after_resume.set()

    def control(runner):
        def go():
            assert first_pulse.wait(30)
            runner.estop("test button")  # mid-train: the train must stop at once
            threading.Event().wait(1.0)
            resumed.set()
            runner.resume()
            assert pulse_after_resume.wait(30)
            runner.abort("test over")

        threading.Thread(target=go, daemon=True).start()

    result, summary = run_session(
        load_plan(short_plan),
        LaunchOptions(out=tmp_path / "s", realtime=True, on_runner=control, sinks=[sink]),
    )
    events = read_events(tmp_path / "s" / "events.jsonl").events
    kinds = [e.kind for e in events]
    assert result.state == "aborted" and result.reason == "test over"
    assert "estop" in kinds
    states = [e["to"] for e in events if e.kind == "state"]
    assert states[:4] == ["checks", "running", "paused", "running"] and states[-1] == "aborted"
    # no pulse between the emergency stop and the resume
    t_estop = next(e.t for e in events if e.kind == "estop")
    t_resume = next(e.t for e in events if e.kind == "state" and e["reason"] == "resumed")
    assert not [e for e in events if e.kind == "pulse" and t_estop < e.t < t_resume]
    # the box saw exactly the pulses the log claims
    emu = (tmp_path / "s" / "emulator-ttl-box.jsonl").read_text()
    assert emu.count('"action":"pulse"') == summary["pulses_delivered"]


def test_rehab_only_plan_runs_without_any_stimulator(tmp_path: Path) -> None:
    result, summary = run_session(load_plan("rehab-only"), LaunchOptions(out=tmp_path / "s"))
    assert result.state == "completed"
    assert summary["laterality"]["trials"] == 40
    assert set(summary["ratings"]) == {"pre", "post"}
    assert not list((tmp_path / "s").glob("emulator-*"))


def test_device_fault_without_an_operator_ends_the_session_disarmed(
    tmp_path: Path, short_plan: Path
) -> None:
    """An e-stop after a device fault pauses; with nobody to resume, the session must end
    (aborted, disarmed) instead of waiting forever."""
    from mirrorvr.sim.emulate import EmulatorProcess

    emu = EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl").start()
    seen = []

    def unplug_after_first_train(e):
        seen.append(e.kind)
        if e.kind == "train_outcome" and seen.count("train_outcome") == 1:
            emu.stop()  # the device disappears mid-session (pty closed)

    try:
        result, summary = run_session(
            load_plan(short_plan),
            LaunchOptions(
                out=tmp_path / "s",
                stimulator_port=str(tmp_path / "box"),
                stimulator_kind="ttl-box",
                sinks=[unplug_after_first_train],
            ),
        )
    finally:
        emu.stop()
    assert result.state == "aborted"
    assert "no operator" in result.reason and "device fault" in result.reason
    events = read_events(tmp_path / "s" / "events.jsonl").events
    assert any(e.kind == "estop" for e in events)
    assert summary["pulses_delivered"] == 20  # the first train only


@pytest.mark.parametrize("resumable", [False, True])
def test_a_pause_without_an_operator_ends_unless_its_caller_resumes_it(
    tmp_path: Path, short_plan: Path, resumable: bool
) -> None:
    """No operator (an unattended headset session): a pause nobody can lift ends the session,
    disarmed; a pause its caller will lift (headset focus regained) waits for it."""
    runners: list = []
    paused = threading.Event()

    def pause_after_first_train(e):  # type: ignore[no-untyped-def]
        if e.kind == "train_outcome" and e.get("train") == 0:
            runners[0].pause("headset focus lost (visible)", resumable=resumable)
        if e.kind == "state" and e.get("to") == "paused":
            paused.set()

    def lift() -> None:
        if paused.wait(60):
            runners[0].resume()

    lifter = threading.Thread(target=lift, daemon=True)
    lifter.start()
    result, summary = run_session(
        load_plan(short_plan),
        LaunchOptions(
            out=tmp_path / "s",
            on_runner=runners.append,
            operator=False,
            sinks=[pause_after_first_train],
        ),
    )
    assert paused.is_set()
    if resumable:
        assert result.state == "completed"
        assert summary["pulses_delivered"] == 120
    else:
        assert result.state == "aborted"
        assert "no operator" in result.reason and "focus lost" in result.reason
        assert summary["pulses_delivered"] == 20  # the first train only
        events = read_events(tmp_path / "s" / "events.jsonl").events
        assert events[-1].kind == "session_end" and events[-1]["disarm"] == "confirmed"
