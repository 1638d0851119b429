"""TTL box driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorvr.errors import DeviceError
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.ttl_box import TTLBox


def _frames(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_trigger_sends_code_then_zero_and_emulator_counts_one_pulse(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("ttl-box", tmp_path / "box", log):
        with TTLBox(str(tmp_path / "box"), trigger_code=0x2A, pulse_width_s=0.002) as box:
            box.arm()
            t = box.trigger()
            box.disarm()
    rx = [f["rx"] for f in _frames(log) if "rx" in f]
    assert rx == ["00", "2a", "00", "00", "00"]  # connect, code, release, disarm, close
    pulses = [f for f in _frames(log) if f.get("action") == "pulse"]
    assert len(pulses) == 1
    # the emulator received the code after the driver's stamp, within a pty wake-up
    assert 0 <= pulses[0]["t"] - t < 0.05 or 0 <= t - pulses[0]["t"] < 0.001


def test_disarmed_box_refuses_to_trigger(tmp_path: Path) -> None:
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"):
        with TTLBox(str(tmp_path / "box")) as box, pytest.raises(DeviceError, match="disarmed"):
            box.trigger()
    assert '"action":"pulse"' not in (tmp_path / "emu.jsonl").read_text()


def test_missing_port_names_the_port(tmp_path: Path) -> None:
    box = TTLBox(str(tmp_path / "nope"))
    with pytest.raises(DeviceError, match=str(tmp_path / "nope")):
        box.connect()
