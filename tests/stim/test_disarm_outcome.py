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
