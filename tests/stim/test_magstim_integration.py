"""Magstim drivers against the Magstim emulator in its own process, over a real pty."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mirrorvr.errors import DeviceError
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.sim.magstim import DEFAULT_UNLOCK_CODE
from mirrorvr.stim.base import TrainSpec
from mirrorvr.stim.errors import DeviceFaultError, EnergyRuleError
from mirrorvr.stim.magstim.driver import MagstimDriver
from mirrorvr.stim.magstim.models import BiStim, Magstim200, Rapid
from mirrorvr.stim.magstim.protocol import valid
from mirrorvr.stim.priority import KEEPALIVE_RT_PRIORITY
from mirrorvr.stim.transport import LineTriggerUnsupported, SerialTransport

FAST = ["--timing", "fast", "--no-line-delay"]
DRIVERS: dict[str, Any] = {
    "magstim-200": Magstim200,
    "magstim-bistim": BiStim,
    "magstim-rapid": Rapid,
}


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def driver(kind: str, link: Path, **kw: Any) -> MagstimDriver:
    if kind == "magstim-rapid":
        kw.setdefault("unlock_code", DEFAULT_UNLOCK_CODE)
    return DRIVERS[kind](str(link), **kw)  # type: ignore[no-any-return]


def until(cond: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


@pytest.mark.parametrize("kind", list(DRIVERS))
def test_driver_against_emulator(kind: str, tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess(kind, tmp_path / "stim", log, extra_args=FAST):
        with driver(kind, tmp_path / "stim") as d:
            d.set_intensity(43.2)
            # a BiStim² left with power B gives a pair per trigger (test_bistim_pairs.py): silence
            # unit B, as every session does before its first pulse
            d.set_single_pulse()
            d.arm()
            for _ in range(3):
                d.trigger()
            st = d.status()
            assert st.connected and st.armed and st.intensity_pct_mso == 43
    recs = records(log)
    pulses = [r for r in recs if r.get("action") == "pulse"]
    assert [p["intensity"] for p in pulses] == [43, 43, 43]
    assert all(valid(bytes.fromhex(r["rx"])) for r in recs if "rx" in r and r["rx"] != "3f")
    assert recs[-1]["action"] == "stop" and not recs[-1]["armed"] and not recs[-1]["remote"]


def test_real_timing_arming_and_recharge_with_line_delay(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-200", tmp_path / "stim", log):  # real timing, 9600-baud pacing
        with Magstim200(str(tmp_path / "stim")) as d:
            d.set_intensity(60)
            d.arm()
            d.trigger()
            d.trigger()
    recs = records(log)
    actions = [r.get("action") for r in recs]
    assert actions.index("armed") < actions.index("ready") < actions.index("pulse")
    first, second = [i for i, a in enumerate(actions) if a == "pulse"]
    between = [r for r in recs[first:second] if r.get("tx")]
    # the unit reported "armed, not ready" (recharging: status 8A) before the second pulse
    assert any(bytes.fromhex(r["tx"])[1] == 0x8A for r in between)


def test_watchdog_disarms_when_the_keepalive_stops(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-rapid", tmp_path / "stim", log, extra_args=FAST):
        d = driver("magstim-rapid", tmp_path / "stim", keepalive=False)
        d.connect()
        d.arm()
        until(lambda: "remote-lost" in log.read_text())
        with pytest.raises(DeviceFaultError, match=r"dropped remote control|disarmed itself"):
            d.status_byte = None
            d.read_parameters()
        d.close()
    causes = [r.get("cause") for r in records(log) if r.get("action") == "disarmed"]
    assert causes[0] == "watchdog (no command for 1 s)"


def test_keepalive_thread_runs_at_the_priority_it_reports(tmp_path: Path) -> None:
    """SCHED_FIFO 70 where allowed (root, CAP_SYS_NICE), else nice; never silently neither."""
    with EmulatorProcess("magstim-200", tmp_path / "stim", tmp_path / "emu.jsonl", extra_args=FAST):
        d = driver("magstim-200", tmp_path / "stim")
        d.connect()
        try:
            until(lambda: d.keepalive_priority != "not started")
            th = d._ka_thread
            assert th is not None and th.native_id is not None
            policy = os.sched_getscheduler(th.native_id)
            reported = d.status().extra["keepalive_priority"]
            if reported.startswith("SCHED_FIFO"):
                assert policy == os.SCHED_FIFO
                assert os.sched_getparam(th.native_id).sched_priority == KEEPALIVE_RT_PRIORITY
            else:
                assert policy != os.SCHED_FIFO
                assert reported.startswith(("nice", "default priority"))
        finally:
            d.close()


def test_idle_auto_disarm_is_reported_by_the_keepalive(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess(
        "magstim-200", tmp_path / "stim", log, extra_args=[*FAST, "--idle-disarm", "0.5"]
    ):
        with Magstim200(str(tmp_path / "stim")) as d:
            d.arm()
            until(lambda: d.status().faults != ())
            with pytest.raises(DeviceFaultError, match="disarmed itself"):
                d.trigger()
    assert '"cause":"idle auto-disarm (0.5 s)"' in log.read_text()
    assert '"action":"pulse"' not in log.read_text()


def test_rapid_train_runs_on_the_device_and_locks_out(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess(
        "magstim-rapid", tmp_path / "stim", log, extra_args=["--unlock-code", DEFAULT_UNLOCK_CODE]
    ):
        with driver("magstim-rapid", tmp_path / "stim") as d:
            assert isinstance(d, Rapid) and d.capabilities.device_timed_trains
            d.arm()
            d.start_train(TrainSpec(n_pulses=5, frequency_hz=10.0, intensity_pct_mso=54))
            with pytest.raises(EnergyRuleError, match="post-train lockout"):
                d.start_train(TrainSpec(n_pulses=5, frequency_hz=10.0, intensity_pct_mso=54))
            until(lambda: "train-end" in log.read_text())
    recs = records(log)
    assert sum(r.get("action") == "pulse" for r in recs) == 5
    end = next(r for r in recs if r.get("action") == "train-end")
    assert end["lockout_s"] >= 0.5


def test_abort_stops_a_running_train(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess(
        "magstim-rapid", tmp_path / "stim", log, extra_args=["--unlock-code", DEFAULT_UNLOCK_CODE]
    ):
        with driver("magstim-rapid", tmp_path / "stim") as d:
            d.arm()
            d.start_train(TrainSpec(n_pulses=20, frequency_hz=10.0, intensity_pct_mso=50))
            until(lambda: '"action":"pulse"' in log.read_text())
            threading.Thread(target=d.disarm).start()  # abort from another thread
            until(lambda: "train-stopped" in log.read_text())
    assert sum(r.get("action") == "pulse" for r in records(log)) < 20


def test_rapid_wrong_unlock_code_is_a_clear_error(tmp_path: Path) -> None:
    with EmulatorProcess(
        "magstim-rapid", tmp_path / "stim", tmp_path / "emu.jsonl", extra_args=FAST
    ):
        d = driver("magstim-rapid", tmp_path / "stim", unlock_code="ABCD-00000000-00")
        with pytest.raises(DeviceError, match="ignored the unlock code"):
            d.connect()


def test_bistim_parameters_round_trip(tmp_path: Path) -> None:
    with EmulatorProcess(
        "magstim-bistim", tmp_path / "stim", tmp_path / "emu.jsonl", extra_args=FAST
    ):
        with BiStim(str(tmp_path / "stim")) as d:
            d.set_power_b(45)
            d.set_interval_ms(20)
            d.set_high_resolution(True)
            d.set_interval_ms(2.5)
            assert (d.power_b, d.interval_raw) == (45, 25)


def test_line_triggering_on_a_pty_is_refused_clearly(tmp_path: Path) -> None:
    with EmulatorProcess("magstim-200", tmp_path / "stim", tmp_path / "emu.jsonl", extra_args=FAST):
        t = SerialTransport.for_device("magstim-200", str(tmp_path / "stim"))
        t.open()
        try:
            with pytest.raises(LineTriggerUnsupported, match="cannot drive its RTS line"):
                t.pulse_line("rts")
        finally:
            t.close()
