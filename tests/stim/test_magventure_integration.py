"""MagVenture driver against the MagPro emulator in its own process, over a real pty."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.base import TrainSpec
from mirrorvr.stim.magventure.driver import MagPro
from mirrorvr.stim.magventure.protocol import FrameReader

FAST = ["--timing", "fast", "--no-line-delay"]


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def until(cond: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


def test_single_pulses_confirmed_by_didt(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magventure", tmp_path / "mv", log):  # real timing: 20–80 ms replies
        with MagPro(str(tmp_path / "mv")) as d:
            d.set_intensity(62.5)
            d.arm()
            for _ in range(3):
                d.trigger()
            assert len(d.didt) == 3 and d.status().intensity_pct_mso == 62
    recs = records(log)
    assert [r["intensity"] for r in recs if r.get("action") == "pulse"] == [62, 62, 62]
    reader = FrameReader()
    for r in recs:
        if "rx" in r:  # every frame the host sent is a valid frame
            assert reader.feed(bytes.fromhex(r["rx"]))
    assert reader.discarded == 0 and not recs[-1]["armed"]


def test_device_timed_train_with_page_and_unsolicited_messages(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magventure", tmp_path / "mv", log):
        with MagPro(str(tmp_path / "mv")) as d:
            d.arm()
            d.start_train(TrainSpec(n_pulses=10, frequency_hz=20.0, intensity_pct_mso=50))
            assert d.page == 2
            until(lambda: len(d.didt) == 10 and not d.train_running)
    assert sum(r.get("action") == "pulse" for r in records(log)) == 10


def test_delays_and_pulse_setup_round_trip(tmp_path: Path) -> None:
    with EmulatorProcess("magventure", tmp_path / "mv", tmp_path / "emu.jsonl", extra_args=FAST):
        with MagPro(str(tmp_path / "mv")) as d:
            d.set_delays(1.0, -5.0, 100)  # FF inside the payload
            d.set_pulse_setup(model=3, mode=2, direction=1, waveform=1, ipi_ms=2.5, ratio=4.0)
            assert d.pulse_setup is not None and d.pulse_setup.ipi_ms == 2.5
            assert d.pulse_setup.ratio == 4.0


def test_abort_stops_a_device_timed_train(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magventure", tmp_path / "mv", log, extra_args=["--no-line-delay"]):
        with MagPro(str(tmp_path / "mv")) as d:
            d.arm()
            d.start_train(TrainSpec(n_pulses=50, frequency_hz=10.0, intensity_pct_mso=50))
            until(lambda: len(d.didt) >= 1)
            threading.Thread(target=d.disarm).start()
            until(lambda: "train-stopped" in log.read_text())
    assert sum(r.get("action") == "pulse" for r in records(log)) < 50
