"""A device fault under ``stimulation.on_device_fault``: e-stop (default) or pause.

Real parts: a Magstim 200² emulator in its own process on a pty with a pulled cable injected
(``--fault disconnect[:P]@N``, P = seconds until it is plugged back in), the real driver in the
stimulation process (or a thread of the session process), the real runner and event log. The
oracle is docs/safety.md: after a device fault no pulse until the device answers again, an
operator resumes, and the stimulator is armed again; the disarm is logged only as far as it
was confirmed; a device that does not come back ends the session with the pulses it did not
deliver counted as not delivered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.runner import SessionRunner
from mirrorvr.session.summary import DISARM_WARNING
from mirrorvr.sim.emulate import EmulatorProcess
from tests.conftest import mirrorvr_cmd

#: 12 cue-locked single pulses 2.5 s apart on a Magstim 200² (0.5 Hz at most); ``{fault}`` is
#: the plan's reaction to a device fault (empty: the default)
PLAN = """
[session]
name = "device fault test plan"
seed = 3

[patient]
id = "T-DF"
amputation_side = "left"

[[blocks]]
kind = "imagery"
movements = ["fist"]
repetitions = 12
cue_s = 0.3
imagery_s = 1.0
rest_s = 1.2

[stimulation]
mode = "cue-locked"
intensity_pct_rmt = 100
{fault}

[stimulation.cue_locked]
delay_ms = 300

[stimulation.motor_threshold]
rmt_pct_mso = 50
measured_on = "2026-01-10"

[devices]
stimulator = {{ kind = "{kind}" }}

[screening]
completed_on = "2026-01-10"
completed_by = "test nurse"
"""

PAUSE = 'on_device_fault = "pause"\ndevice_fault_wait_s = {wait}'
#: the cable is pulled at the 12th frame after arming: with the emulator's instant arming
#: (``--timing fast``) keep-alives every 0.25 s and the first pulse or two come before it, so the
#: fault strikes armed, between pulses (or on a trigger: the same reaction is expected)
AT = 12
FAST = ["--timing", "fast"]


def _plan(tmp_path: Path, fault: str, kind: str = "magstim-200") -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(textwrap.dedent(PLAN).format(fault=fault, kind=kind), encoding="utf-8")
    return p


def _run(
    tmp_path: Path,
    fault_text: str,
    emulator_fault: str,
    control: Callable[[SessionRunner, threading.Event, dict[str, threading.Event]], None]
    | None = None,
    *,
    stim_process: bool = True,
    kind: str = "magstim-200",
) -> tuple[Any, list[Event], list[dict[str, Any]]]:
    """Run the plan in real time against a faulting emulator; return result, events, the
    emulator's log."""
    link, emu_log = tmp_path / "stim.pty", tmp_path / "emulator.jsonl"
    seen = {
        k: threading.Event() for k in ("fault_disarm", "paused", "reconnected", "armed2", "pulse2")
    }
    gone = threading.Event()
    armed = [0]

    def sink(e: Event) -> None:
        if e.kind == "device" and e.get("what") == "fault_disarm":
            seen["fault_disarm"].set()
        if e.kind == "state" and e["to"] == "paused":
            seen["paused"].set()
        if e.kind == "device" and e.get("what") == "reconnected":
            seen["reconnected"].set()
        if e.kind == "device" and e.get("what") == "armed":
            armed[0] += 1
            if armed[0] >= 2:
                seen["armed2"].set()
        if e.kind == "pulse" and armed[0] >= 2:
            seen["pulse2"].set()
        if e.kind == "session_end":
            gone.set()

    def on_runner(runner: SessionRunner) -> None:
        if control is None:
            return

        def go() -> None:
            try:
                control(runner, gone, seen)
            except BaseException:
                runner.abort("test control failed")
                raise

        threading.Thread(target=go, daemon=True).start()

    with EmulatorProcess(kind, link, emu_log, extra_args=["--fault", emulator_fault, *FAST]):
        result, _ = run_session(
            load_plan(_plan(tmp_path, fault_text, kind)),
            LaunchOptions(
                out=tmp_path / "s",
                realtime=True,
                stimulator_port=str(link),
                on_runner=on_runner if control is not None else None,  # None: no operator
                sinks=[sink],
                xdf=False,
                stim_process=stim_process,
            ),
        )
    events = read_events(tmp_path / "s" / "events.jsonl").events
    import json

    emu = [json.loads(line) for line in emu_log.read_text().splitlines() if line.strip()]
    return result, events, emu


def _first(events: list[Event], kind: str, **match: Any) -> Event:
    return next(
        e for e in events if e.kind == kind and all(e.get(k) == v for k, v in match.items())
    )


def _emu_pulses(emu: list[dict[str, Any]]) -> int:
    return sum(1 for r in emu if r.get("action") == "pulse")


def _check_paused_on_fault(events: list[Event]) -> tuple[Event, Event]:
    """The fault, then a disarm with its outcome and a pause with the reason; no e-stop."""
    fault = _first(events, "device", what="fault")
    disarm = _first(events, "device", what="fault_disarm")
    paused = _first(events, "state", to="paused")
    assert fault.seq < disarm.seq < paused.seq
    assert disarm["action"] == "pause"
    # the outcome is what the device (or the port) said, never assumed
    assert disarm["disarm"] in ("confirmed", "failed", "unknown")
    assert disarm["disarmed"] is (disarm["disarm"] == "confirmed")
    assert "on_device_fault = pause" in paused["reason"]
    assert not [e for e in events if e.kind == "estop"]
    return fault, paused


def test_pause_and_a_device_that_never_comes_back_ends_the_session(tmp_path: Path) -> None:
    def control(runner: SessionRunner, gone: threading.Event, seen: dict[str, Any]) -> None:
        assert seen["paused"].wait(60)
        runner.resume()  # too early: the stimulator does not answer

    result, events, emu = _run(tmp_path, PAUSE.format(wait=3), f"disconnect@{AT}", control)
    _, paused = _check_paused_on_fault(events)
    refused = _first(events, "stim_refused")
    assert "has not answered again" in refused["reason"]
    assert result.state == "aborted"
    assert "did not come back within 3 s" in result.reason
    # nothing was fired after the fault, and nothing re-armed the device
    assert not [e for e in events if e.kind == "pulse" and e.t > paused.t]
    assert [e.get("what") for e in events if e.kind == "device"].count("armed") == 1
    end = _first(events, "session_end")
    assert end["state"] == "aborted"
    assert end["pulses_planned"] == 12
    assert end["pulses_delivered"] == _emu_pulses(emu) < 12
    assert end["pulses_not_delivered"] == 12 - end["pulses_delivered"]
    _check_store_settles_and_console_shows(tmp_path, events, end["pulses_delivered"])


def _check_store_settles_and_console_shows(
    tmp_path: Path, events: list[Event], delivered: int
) -> None:
    """The day's reservation settles to what was delivered; the console's live panel shows the
    pause by a device fault and its disarm outcome (fed the session's own events)."""
    from mirrorvr.clinic.console.live import LiveSession
    from mirrorvr.clinic.store import ClinicStore

    disarm = _first(events, "device", what="fault_disarm")
    with ClinicStore(tmp_path / "clinic.sqlite3") as store:
        store.add_patient("T-DF", amputation_side="left")
        sid = store.reserve_session(
            "T-DF",
            plan_name="device fault test plan",
            plan_toml="",
            folder=tmp_path / "s",
            pulses_planned=12,
            pulses_reserved=12,
            daily_limit=3000,
        )
        assert store.pulses_today("T-DF") == 12  # held in full while the session runs
        store.import_session_log(sid)
        assert store.reservation(sid)[0] == "settled"
        assert store.pulses_today("T-DF") == delivered  # the missed pulses are given back
        live = LiveSession(
            store=store,
            session_id=sid,
            patient_id="T-DF",
            plan=load_plan(tmp_path / "plan.toml"),
            folder=tmp_path / "s",
            pulses_today=0,
        )
        for e in events:
            live._sink(e)  # the sink the console registers on a session's log
        st = live.status()
    assert st["device_fault"]["action"] == "pause"
    assert st["device_fault"]["disarm"] == disarm["disarm"]
    assert st["state"] == "aborted" and "did not come back" in st["reason"]
    if disarm["disarm"] != "confirmed":  # a pulled cable: shown loudly, never as disarmed
        assert any(DISARM_WARNING in w for w in st["disarm_warnings"])


#: how each emulator logs the intensity set and the arming (a prefix of the ``action``)
SET_AND_ARM = {"magstim-200": ("power A 50", "arm"), "magventure": ("amplitude 50", "enable")}


@pytest.mark.parametrize(
    ("kind", "stim_process"),
    [("magstim-200", True), ("magstim-200", False), ("magventure", True)],
    ids=["magstim-child", "magstim-thread", "magventure-child"],
)
def test_pause_resumes_only_after_the_device_is_back_and_an_operator_resumes(
    tmp_path: Path, kind: str, stim_process: bool
) -> None:
    def control(runner: SessionRunner, gone: threading.Event, seen: dict[str, Any]) -> None:
        assert seen["reconnected"].wait(60), "the re-plugged stimulator was never reconnected"
        runner.resume()
        assert seen["pulse2"].wait(60), "stimulation did not go on after the resume"
        runner.abort("test over")

    result, events, emu = _run(
        tmp_path,
        PAUSE.format(wait=60),
        f"disconnect:1.5@{AT}",
        control,
        stim_process=stim_process,
        kind=kind,
    )
    _, paused = _check_paused_on_fault(events)
    back = _first(events, "device", what="reconnected")
    resumed = _first(events, "state", reason="resumed")
    rearmed = [e for e in events if e.kind == "device" and e.get("what") == "armed"][1]
    assert paused.seq < back.seq < rearmed.seq and back.seq < resumed.seq
    # no pulse while paused: none between the fault's pause and the re-arming
    assert not [e for e in events if e.kind == "pulse" and paused.t < e.t < rearmed.t]
    assert [e for e in events if e.kind == "pulse" and e.t > rearmed.t]
    # on the re-plugged unit: the plan's intensity set (read back) before it was armed again
    actions = [str(r.get("action", "")) for r in emu]
    plugged = actions.index("replug")
    set_, arm = SET_AND_ARM[kind]
    after = list(enumerate(actions))[plugged:]
    first_set = next(i for i, a in after if a.startswith(set_))
    first_arm = next(i for i, a in after if a == arm)
    assert first_set < first_arm
    assert result.state == "aborted" and result.reason == "test over"
    end = _first(events, "session_end")
    assert end["pulses_delivered"] == _emu_pulses(emu)


def test_without_an_operator_a_device_fault_pause_ends_the_session_via_cli(
    tmp_path: Path,
) -> None:
    # `mirrorvr sim` has nobody to resume: the pause ends the session, disarmed, exit 1
    link, emu_log = tmp_path / "stim.pty", tmp_path / "emulator.jsonl"
    plan = _plan(tmp_path, PAUSE.format(wait=30))
    with EmulatorProcess(
        "magstim-200", link, emu_log, extra_args=["--fault", f"disconnect@{AT}", *FAST]
    ):
        res = subprocess.run(
            mirrorvr_cmd(
                "sim", str(plan), "--realtime", "--out", str(tmp_path / "s"),
                "--stimulator", f"magstim-200:{link}",
            ),
            capture_output=True, text=True, timeout=180,
            env={**os.environ, "COLUMNS": "250"},
        )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert "device fault" in res.stdout and "paused (plan: pause)" in res.stdout
    events = read_events(tmp_path / "s" / "events.jsonl").events
    _check_paused_on_fault(events)
    if _first(events, "device", what="fault_disarm")["disarm"] != "confirmed":
        assert DISARM_WARNING in res.stderr  # a pulled cable cannot confirm: said loudly
    assert _first(events, "session_end")["state"] == "aborted"


def test_the_default_still_estops_on_a_device_fault(tmp_path: Path) -> None:
    result, events, _ = _run(tmp_path, "", f"disconnect@{AT}")
    fault = _first(events, "device", what="fault")
    estop = _first(events, "estop")
    assert fault.seq < estop.seq
    assert estop["disarm"] in ("confirmed", "failed", "unknown")
    assert not [e for e in events if e.kind == "device" and e.get("what") == "fault_disarm"]
    assert result.state == "aborted"
    assert not [e for e in events if e.kind == "pulse" and e.t > estop.t]


def test_a_dead_stimulation_process_falls_back_to_an_estop(tmp_path: Path) -> None:
    # a pause needs the stimulation process to hold the device; with it gone: e-stop, said so
    killed = threading.Event()

    def kill_child(e: Event) -> None:
        if e.kind == "pulse" and not killed.is_set():
            killed.set()
            pid = next(
                ev["pid"]
                for ev in read_events(tmp_path / "s" / "events.jsonl").events
                if ev.kind == "stim_process"
            )
            os.kill(int(pid), signal.SIGKILL)

    link, emu_log = tmp_path / "stim.pty", tmp_path / "emulator.jsonl"
    with EmulatorProcess("magstim-200", link, emu_log, extra_args=FAST):
        result, _ = run_session(
            load_plan(_plan(tmp_path, PAUSE.format(wait=30))),
            LaunchOptions(
                out=tmp_path / "s",
                realtime=True,
                stimulator_port=str(link),
                sinks=[kill_child],
                xdf=False,
            ),
        )
    events = read_events(tmp_path / "s" / "events.jsonl").events
    died = _first(events, "device", what="stim_process_died")
    estop = _first(events, "estop")
    assert died.seq < estop.seq
    assert "emergency stop instead" in estop["cause"]
    assert "stimulation process is gone" in estop["cause"]
    assert not [e for e in events if e.kind == "device" and e.get("what") == "fault_disarm"]
    assert result.state == "aborted"


def test_validate_says_what_a_device_fault_does(tmp_path: Path) -> None:
    for text, said in (("", "emergency stop"), (PAUSE.format(wait=45), "pause, disarmed")):
        plan = _plan(tmp_path, text)
        res = subprocess.run(
            mirrorvr_cmd("validate", str(plan)),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "250"},
        )
        assert res.returncode == 0, res.stderr
        assert f"on a device fault: {said}" in res.stdout


def test_a_bad_reaction_is_refused_by_validate_with_the_field(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 'on_device_fault = "ignore"')
    res = subprocess.run(
        mirrorvr_cmd("validate", str(plan)), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2
    assert f"{plan}:stimulation.on_device_fault" in res.stderr
    assert "Traceback" not in res.stderr
