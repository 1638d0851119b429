"""MagVenture protocol tests: commands 0–9 and the 0A–0C gets pinned byte for byte.

Frames the reference prints are written out in hex; others are built with ``mv``, which uses
the reference's bitwise CRC-8/MAXIM description (independent of the driver's table).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mirrorvr.stim.base import TrainSpec
from mirrorvr.stim.errors import DeviceFaultError, NoReplyError, ReadbackMismatch
from mirrorvr.stim.magventure.driver import MagPro
from mirrorvr.stim.magventure.protocol import (
    FrameReader,
    burst_ipi_index,
    burst_ipi_ms,
    crc8,
    frame,
    ratio_from_index,
    twin_ipi_index,
    twin_ipi_ms,
)
from tests.stim.protocol import Pair, ProtocolTransport, h


def crc_bitwise(data: bytes) -> int:
    c = 0
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8C if c & 1 else c >> 1
    return c


def mv(body_hex: str) -> bytes:
    body = h(body_hex)
    return bytes([0xFE, len(body)]) + body + bytes([crc_bitwise(body), 0xFF])


STATUS = h("FE 01 00 00 FF")
LONG = h("FE 01 05 3F FF")
GET9 = h("FE 02 09 00 B2 FF")
MSG0 = h("FE 09 00 34 01 02 03 1C 3C 32 00 07 FF")
MSG5 = h("FE 0F 05 34 01 02 03 1C 3C 32 00 32 00 64 64 02 00 80 FF")
MSG9 = h("FE 0A 09 00 01 00 00 03 02 50 00 14 65 FF")
CONNECT: list[Pair] = [(STATUS, MSG0), (LONG, MSG5), (GET9, MSG9)]
ENABLE, DISABLE = h("FE 02 02 01 CF FF"), h("FE 02 02 00 91 FF")
ENABLED_EVENT = h("FE 04 03 1C 3C 34 C6 FF")
DISABLED_EVENT = mv("03 1C 3C 24")
CLOSE: list[Pair] = [(DISABLE, DISABLED_EVENT)]


def run(body: list[Pair]) -> tuple[MagPro, ProtocolTransport]:
    t = ProtocolTransport([*CONNECT, *body, *CLOSE])
    d = MagPro("protocol-test", transport=t, supervise=False)  # type: ignore[arg-type]
    d.connect()
    return d, t


def finish(d: MagPro, t: ProtocolTransport) -> None:
    d.close()
    t.check()


def until(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


# ------------------------------------------------------------------ framing (§2)


def test_crc_check_value_and_reference_frames() -> None:
    assert crc8(b"123456789") == 0xA1
    assert frame(h("00")) == STATUS
    assert frame(h("06 00 64 00 3C 00 14 02 1C")) == h("FE 09 06 00 64 00 3C 00 14 02 1C F1 FF")
    assert frame(h("0B 00")) == h("FE 02 0B 00 23 FF")


def test_reader_resynchronises_on_garbage_and_bad_frames() -> None:
    r = FrameReader()
    delays = h("FE 09 08 00 0A FF CE 00 64 00 00 3B FF")  # FF inside the payload
    bad = bytearray(MSG0)
    bad[-2] ^= 0x5A
    stream = h("00 13 FE 37 FE 10") + bytes(bad) + delays[:5]
    assert r.feed(stream) == []
    assert r.feed(delays[5:] + ENABLED_EVENT) == [h("08 00 0A FF CE 00 64 00 00"), h("03 1C 3C 34")]
    assert r.bad_frames >= 1 and r.discarded > 0
    # a frame start followed by silence is dropped when the line goes quiet
    assert r.feed(h("FE 05 01")) == [] and r.stale() == [] and not r.buf


# ------------------------------------------------------------------ commands


def test_command_0_and_5_status_on_connect() -> None:
    d, t = run([(STATUS, MSG0)])
    assert d.serial_number == 0x010203 and d.coil_temp_c == 28 and d.coil_type == 60
    assert d.amplitude_a == 50 and d.page == 2 and not d.train_running
    assert d.pulse_setup is not None and d.pulse_setup.ipi_ms == 20.0
    st = d.status()
    assert st.extra["model"] == "X100" and st.armed
    finish(d, t)


def test_command_0_status_on_request() -> None:
    d, t = run([(STATUS, mv("00 24 01 02 03 1D 3C 2D 00"))])
    st = d.status()
    assert not st.armed and st.intensity_pct_mso == 45 and d.coil_temp_c == 29
    finish(d, t)


def test_command_1_amplitude_verified_by_message_1() -> None:
    d, t = run([(h("FE 03 01 32 00 17 FF"), h("FE 04 01 32 00 34 C1 FF"))])
    d.set_intensity(50.9)
    finish(d, t)


def test_command_1_read_back_mismatch_disables() -> None:
    d, t = run(
        [(h("FE 03 01 3C 00 CB FF"), h("FE 04 01 32 00 34 C1 FF")), (DISABLE, DISABLED_EVENT)]
    )
    with pytest.raises(ReadbackMismatch, match="set to 60 but the MagPro reports 50"):
        d.set_intensity(60)
    finish(d, t)


def test_command_2_enable_and_disable() -> None:
    d, t = run([(ENABLE, ENABLED_EVENT), (DISABLE, DISABLED_EVENT)])
    d.arm()
    d.disarm()
    finish(d, t)


def test_command_3_trigger_confirmed_by_didt() -> None:
    d, t = run([(ENABLE, ENABLED_EVENT), (h("FE 01 03 E2 FF"), h("FE 04 02 57 00 34 D9 FF"))])
    d.arm()
    d.trigger()
    assert d.didt[-1][1] == 87
    finish(d, t)


def test_command_3_without_didt_is_reported() -> None:
    d, t = run([(ENABLE, ENABLED_EVENT), (h("FE 01 03 E2 FF"), None), (DISABLE, DISABLED_EVENT)])
    d.arm()
    d.reply_timeout_s = 0.2
    with pytest.raises(NoReplyError, match="no di/dt after the trigger"):
        d.trigger()
    finish(d, t)


def test_command_7_page() -> None:
    d, t = run(
        [
            (h("FE 03 07 01 00 BE FF"), mv("08 01 00 34")),
            (h("FE 03 07 07 00 14 FF"), mv("08 07 00 34")),
        ]
    )
    d.set_page(1)
    d.set_page(7)
    assert d.page == 7
    finish(d, t)


def test_command_6_train_verified_with_0b_and_command_4_start() -> None:
    d, t = run([
        (ENABLE, ENABLED_EVENT),
        (h("FE 03 01 32 00 17 FF"), h("FE 04 01 32 00 34 C1 FF")),
        (mv("06 00 C8 00 28 00 01 00 0A"), None),
        (h("FE 02 0B 00 23 FF"), mv("0B 00 00 00 C8 00 28 00 01 00 0A 00 64 00")),
        (h("FE 01 04 61 FF"), h("FE 04 08 02 01 34 48 FF")),
    ])  # fmt: skip
    d.arm()
    d.start_train(TrainSpec(n_pulses=40, frequency_hz=20.0, intensity_pct_mso=50))
    assert d.train_running
    finish(d, t)


def test_command_6_reference_frame() -> None:
    d, t = run([
        (h("FE 09 06 00 64 00 28 00 4B 00 6E 63 FF"), None),
        (h("FE 02 0B 00 23 FF"), mv("0B 00 00 00 64 00 28 00 4B 00 6E 00 64 00")),
    ])  # fmt: skip
    d.set_train(10.0, 40, 75, 11.0)
    finish(d, t)


def test_command_8_delays_with_negative_output_delay() -> None:
    d, t = run([
        (h("FE 09 08 00 0A FF CE 00 64 00 00 3B FF"), None),
        (h("FE 02 0A 00 E7 FF"), mv("0A 00 00 0A FF CE 00 64")),
    ])  # fmt: skip
    d.set_delays(1.0, -5.0, 100)
    finish(d, t)


def test_command_9_set_and_get_pulse_setup() -> None:
    d, t = run([(h("FE 0B 09 01 01 00 00 03 02 00 C8 00 64 E9 FF"), None), (GET9, MSG9)])
    d.set_pulse_setup(model=1, mode=0, direction=0, waveform=3, pulses_per_burst=3, ipi_ms=20.0)
    finish(d, t)


def test_command_0c_page_and_count() -> None:
    d, t = run([(h("FE 02 0C 00 4D FF"), mv("0C 00 00 00 00 00 00 00 00 00 07 00 00 02"))])
    assert d.page_and_count() == (2, 7)
    finish(d, t)


# ------------------------------------------------------------------ unsolicited messages


def test_unsolicited_front_panel_changes_and_unknown_ids_are_recorded() -> None:
    t = ProtocolTransport([*CONNECT, (None, mv("01 28 00 24") + mv("F1 00")), *CLOSE])
    d = MagPro("protocol-test", transport=t, supervise=False)  # type: ignore[arg-type]
    d.connect()
    until(lambda: d.amplitude_a == 40 and d.unknown_messages == [0xF1])
    finish(d, t)


def test_unit_disabling_itself_while_armed_is_a_fault() -> None:
    d, t = run(
        [(ENABLE, ENABLED_EVENT), (STATUS, MSG0 + mv("03 2D 3C 24")), (DISABLE, DISABLED_EVENT)]
    )
    d.arm()
    d.status()
    # The fault's own disable is answered by a third message 3 (after enable and status); wait
    # for it so that close's disable cannot mistake that earlier answer for its own.
    until(lambda: d._fault is not None and d._seen[0x03] >= 3)
    with pytest.raises(DeviceFaultError, match="over-temperature \\(45 °C"):
        d.trigger()
    finish(d, t)


# ------------------------------------------------------------------ message 9 tables (§5.2)


def test_message9_index_tables() -> None:
    assert [twin_ipi_ms(i) for i in (0, 20, 30, 70, 150, 170, 260)] == [
        3000,
        1000,
        500,
        100,
        20,
        10,
        1,
    ]
    assert [burst_ipi_ms(i) for i in (0, 80, 100, 195)] == [100, 20, 10, 0.5]
    assert (
        ratio_from_index(0) == 5.0 and ratio_from_index(20) == 4.0 and ratio_from_index(96) == 0.2
    )
    assert twin_ipi_index(2.5) == 245 and burst_ipi_index(20.0) == 80
    with pytest.raises(ValueError, match="not one of the device's settings"):
        twin_ipi_index(10.25)
