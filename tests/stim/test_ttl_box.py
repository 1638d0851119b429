"""TTL box driver against its emulator over a real pseudo-terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mirrorvr.errors import DeviceError
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.ttl_box import TTLBox


def _frames(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _wait_released(box: TTLBox) -> None:
    deadline = time.monotonic() + 5.0  # generous: a loaded machine; not a timing check
    while box.release_at is not None and time.monotonic() < deadline:
        time.sleep(0.001)


def test_trigger_sends_code_then_zero_and_emulator_counts_one_pulse(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("ttl-box", tmp_path / "box", log):
        with TTLBox(str(tmp_path / "box"), trigger_code=0x2A, pulse_width_s=0.002) as box:
            box.arm()
            t = box.trigger()
            # trigger returns with the line held; its timer drops it after the pulse width
            _wait_released(box)
            assert box.release_at is None
            box.disarm()
    frames = _frames(log)
    rx = [f["rx"] for f in frames if "rx" in f]
    assert rx == ["00", "2a", "00", "00", "00"]  # connect, code, release, disarm, close
    pulses = [f for f in frames if f.get("action") == "pulse"]
    assert len(pulses) == 1
    # the emulator received the code after the driver's stamp (1 ms for the two processes'
    # stamping order; how much later is load, not this test's topic: no timing asserts)
    assert pulses[0]["t"] > t - 0.001
    # the release came after the code, not before it (width is not checked: no timing asserts)
    level = [f for f in frames if f.get("rx") == "00" and f["t"] >= pulses[0]["t"]]
    assert level


def test_release_by_the_caller_and_disarm_drop_a_held_line_at_once(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("ttl-box", tmp_path / "box", log):
        with TTLBox(str(tmp_path / "box"), trigger_code=0x07, pulse_width_s=10.0) as box:
            box.auto_release = False  # as the stimulation executor: it releases by its deadline
            box.arm()
            t = box.trigger()
            assert box.release_at == pytest.approx(t + 10.0)  # held until its deadline
            box.release()
            assert box.release_at is None
            box.trigger()
            box.disarm()  # cuts the 10 s pulse short: nothing stays high after a disarm
            assert box.release_at is None
            with pytest.raises(DeviceError, match="disarmed"):
                box.trigger()
    rx = [f["rx"] for f in _frames(log) if "rx" in f]
    assert rx == ["00", "07", "00", "07", "00", "00"]  # connect, code, release, code, disarm, close


def test_disarmed_box_refuses_to_trigger(tmp_path: Path) -> None:
    with EmulatorProcess("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"):
        with TTLBox(str(tmp_path / "box")) as box, pytest.raises(DeviceError, match="disarmed"):
            box.trigger()
    assert '"action":"pulse"' not in (tmp_path / "emu.jsonl").read_text()


def test_missing_port_names_the_port(tmp_path: Path) -> None:
    box = TTLBox(str(tmp_path / "nope"))
    with pytest.raises(DeviceError, match=str(tmp_path / "nope")):
        box.connect()


def test_transport_write_hands_bytes_over_and_times_out_on_a_stalled_reader() -> None:
    """The transport writes the port's descriptor itself (no pyserial select after the bytes
    left): bytes arrive whole, and a reader that never reads ends in a write timeout, named."""
    import os
    import pty

    from mirrorvr.stim.transport import SerialTransport

    master, slave = pty.openpty()
    try:
        tr = SerialTransport(os.ttyname(slave), write_timeout=0.2)
        tr.open()
        try:
            before = time.monotonic()
            t = tr.write(b"\x2a\x00\x17")
            assert before <= t <= time.monotonic()  # stamped on CLOCK_MONOTONIC (LSL's clock)
            got = b""
            while len(got) < 3:
                got += os.read(master, 3 - len(got))
            assert got == b"\x2a\x00\x17"
            with pytest.raises(DeviceError, match="Write timeout"):
                for _ in range(1000):  # nobody reads the master: the pty's buffer fills
                    tr.write(bytes(4096))
        finally:
            tr.close()
    finally:
        os.close(master)
        os.close(slave)
