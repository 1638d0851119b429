"""Device health reaches the session at once, and a disarm is logged only as far as confirmed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorvr.session.events import Event
from mirrorvr.session.summary import DISARM_WARNING, disarm_warnings
from mirrorvr.sim.emulate import EmulatorThread
from mirrorvr.sim.fault_matrix import detect_between_trains, make_driver
from mirrorvr.sim.faults import Fault


@pytest.mark.parametrize("family", ["magstim-200", "magventure"])
def test_a_lost_link_between_trains_reaches_the_session(family: str, tmp_path: Path) -> None:
    # armed, no trigger coming: the driver's own supervision must tell the session
    d = detect_between_trains(family, "disconnect", tmp_path, armed=True)
    assert d.detect_s is not None, d
    assert "gone" in d.message or "failed" in d.message


@pytest.mark.parametrize("family", ["magstim-200", "magventure"])
def test_disarm_over_a_dead_link_is_failed_not_claimed(family: str, tmp_path: Path) -> None:
    link, log = tmp_path / "stim.pty", tmp_path / "emu.jsonl"
    with EmulatorThread(
        family, link, log, faults=[Fault("disconnect", 1)], line_delay=False, timing="fast"
    ):
        drv = make_driver(family, str(link))
        drv.connect()
        drv.set_intensity(50)
        try:
            drv.arm()
        except Exception:
            pass  # the link may already be gone: that is the point
        out = drv.disarm()
        drv.close()
    assert out.status in ("failed", "unknown") and not out.confirmed
    assert out.step
    assert out.fields()["disarmed"] is False


@pytest.mark.parametrize("family", ["magstim-200", "magventure"])
def test_disarm_of_a_healthy_unit_is_confirmed(family: str, tmp_path: Path) -> None:
    link, log = tmp_path / "stim.pty", tmp_path / "emu.jsonl"
    with EmulatorThread(family, link, log, line_delay=False, timing="fast"):
        drv = make_driver(family, str(link))
        drv.connect()
        drv.set_intensity(50)
        drv.arm()
        out = drv.disarm()
        drv.close()
    assert out.confirmed, out


def test_an_unconfirmed_disarm_is_shouted() -> None:
    ok = Event(0, 1.0, "estop", {"cause": "x", "disarm": "confirmed", "disarmed": True})
    bad = Event(
        1,
        2.0,
        "estop",
        {"cause": "x", "disarm": "failed", "disarm_step": "write disable", "disarmed": False},
    )
    assert disarm_warnings([ok]) == []
    (w,) = disarm_warnings([ok, bad])
    assert w.startswith(DISARM_WARNING) and "write disable" in w


def test_the_executor_logs_a_supervision_fault_and_an_estop_with_the_truth(
    tmp_path: Path,
) -> None:
    import threading

    from mirrorvr.config.loader import plan_from_dict
    from mirrorvr.session.clock import RealClock
    from mirrorvr.session.eventlog import EventLog, read_events
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim.executor import StimulationExecutor
    from tests.stim.helpers import plan_dict, rtms

    plan = plan_from_dict(plan_dict(rtms(1, 1, 1, 10.0)))
    link = tmp_path / "stim.pty"
    stopped = threading.Event()
    with (
        EmulatorThread(
            "magstim-200", link, tmp_path / "emu.jsonl", faults=[Fault("disconnect", 2)],
            line_delay=False, timing="fast",
        ),
        EventLog(tmp_path / "events.jsonl") as log,
    ):  # fmt: skip
        drv = make_driver("magstim-200", str(link))
        drv.connect()
        ex = StimulationExecutor(
            stimulator=drv,
            log=log,
            clock=RealClock(),
            plan=plan,
            timeline=compile_timeline(plan),
            budget=10,
        )
        ex.on_fault = lambda cause: (ex.estop(cause), stopped.set())  # as the runner does
        drv.set_intensity(50)
        drv.arm()  # armed, waiting between trains: only the keep-alive talks to the unit
        assert stopped.wait(10.0), "the lost link never reached the session"
        drv.close()
    events = read_events(tmp_path / "events.jsonl").events
    kinds = [e.kind for e in events]
    assert kinds.index("device") < kinds.index("estop")
    fault = next(e for e in events if e.kind == "device")
    assert fault["what"] == "fault" and fault["source"] == "supervision"
    estop = next(e for e in events if e.kind == "estop")
    assert estop["disarm"] in ("failed", "unknown") and estop["disarmed"] is False
