"""Magstim protocol tests: every command of magstim-serial.md pinned byte for byte.

Host frames are written out in hex as the reference prints them; replies are built with the
reference's checksum rule (``ck``) from the fields the reference lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import TrainSpec
from mirrorvr.stim.errors import (
    ChecksumError,
    ConflictError,
    DeviceFaultError,
    EnergyRuleError,
    InvalidCommandError,
    InvalidDataError,
    NoReplyError,
    ReadbackMismatch,
    UnexpectedReplyError,
)
from mirrorvr.stim.magstim.driver import MagstimDriver
from mirrorvr.stim.magstim.models import BiStim, Magstim200, Rapid
from mirrorvr.stim.magstim.protocol import checksum, frame
from tests.stim.protocol import Pair, ProtocolTransport, h

UNLOCK = "MVRX-00000001-4E"


def ck(body: bytes) -> bytes:
    """Append the Magstim checksum (inverted low byte of the sum) — the reference's rule."""
    return body + bytes([(~sum(body)) & 0xFF])


def rep(cmd: str, status: int, data: bytes = b"", rapid: int | None = None) -> bytes:
    """A normal reply: ack, status[, rapid status], data, checksum."""
    return ck(
        cmd.encode() + bytes([status]) + (bytes([rapid]) if rapid is not None else b"") + data
    )


Q, J = h("51 40 6E"), h("4A 40 75")
CONNECT_200: list[Pair] = [(Q, h("51 89 25")), (J, h("4A 89 30 35 30 30 30 30 30 30 30 77"))]
CONNECT_BISTIM: list[Pair] = [(Q, h("51 89 25")), (J, h("4A 89 30 33 30 30 33 30 30 31 30 75"))]
RAPID_PARAMS_V9 = h("5C 89 30 30 36 30 30 31 30 30 30 30 30 35 30 30 30 35 30 30 30 31 30 18")
CONNECT_RAPID: list[Pair] = [
    (h("4E 44 6D"), h("4E 56 39 2E 30 00 C4")),
    (ck(b"Q" + UNLOCK.encode()), rep("Q", 0x89)),
    (h("5C 40 63"), RAPID_PARAMS_V9),
]
CLOSE: list[Pair] = [(h("45 41 79"), h("45 89 31")), (h("52 40 6D"), h("52 09 A4"))]


def run(cls: type[MagstimDriver], connect: list[Pair], body: list[Pair], **kw: Any) -> Any:
    """Connect with ``connect``, hand the driver to the test, close; return driver and transport."""
    t = ProtocolTransport([*connect, *body, *CLOSE])
    d = cls("protocol-test", transport=t, keepalive=False, **kw)  # type: ignore[arg-type]
    d.connect()
    return d, t


def finish(d: MagstimDriver, t: ProtocolTransport) -> None:
    d.close()
    t.check()


# ------------------------------------------------------------------ framing (§2)


def test_checksum_matches_the_reference_examples() -> None:
    assert frame("Q") == b"Q@n"
    assert frame("@", b"050") == b"@050*"
    assert frame("E", b"B") == b"EBx"
    assert frame("D", b"00050") == h("44 30 30 30 35 30 C6")
    assert checksum(h("45 8A")) == 0x30


# ------------------------------------------------------------------ 200² commands


def test_connect_enables_remote_control_and_reads_parameters() -> None:
    d, t = run(Magstim200, CONNECT_200, [])
    assert d.power_a == 50 and d.status_byte is not None and d.status_byte.remote
    finish(d, t)


def test_set_power_a_is_verified_by_read_back() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("40 30 36 30 29"), h("40 89 36")),
        (J, rep("J", 0x89, b"060000000")),
    ])  # fmt: skip
    d.set_intensity(60.7)  # whole percent, rounded down
    assert d.power_a == 60
    finish(d, t)


def test_read_back_mismatch_disarms_and_faults() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("40 30 33 30 2C"), h("40 89 36")),
        (J, rep("J", 0x89, b"050000000")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    with pytest.raises(ReadbackMismatch, match=r"set to 30 but .* reports 50.*disarmed"):
        d.set_intensity(30)
    with pytest.raises(ReadbackMismatch, match="stays faulted"):
        d.arm()
    finish(d, t)


def test_arm_waits_until_ready_then_fire_and_disarm() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("45 42 78"), h("45 89 31")),  # status before the arm takes effect
        (Q, rep("Q", 0x8A)),  # charging
        (Q, h("51 8C 22")),  # ready
        (h("45 48 72"), rep("E", 0x8C)),
        (h("45 41 79"), rep("E", 0x8A)),
    ])  # fmt: skip
    d.arm()
    d.trigger()
    d.disarm()
    finish(d, t)


def test_fire_waits_for_recharge_after_a_pulse() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("45 42 78"), h("45 89 31")),
        (Q, h("51 8C 22")),
        (h("45 48 72"), rep("E", 0x8C)),
        (Q, rep("Q", 0x8A)),  # recharging
        (Q, h("51 8C 22")),
        (h("45 48 72"), rep("E", 0x8C)),
    ])  # fmt: skip
    d.arm()
    d.trigger()
    d.trigger()
    finish(d, t)


def test_trigger_refused_while_disarmed_sends_nothing() -> None:
    d, t = run(Magstim200, CONNECT_200, [])
    with pytest.raises(DeviceError, match="disarmed"):
        d.trigger()
    finish(d, t)


def test_coil_temperatures() -> None:
    d, t = run(Magstim200, CONNECT_200, [(h("46 40 79"), h("46 89 32 34 30 32 34 30 04"))])
    assert d.temperatures() == (24.0, 24.0)
    finish(d, t)


def test_return_control_on_close() -> None:
    d, t = run(Magstim200, CONNECT_200, [])
    finish(d, t)
    assert t.written[-1] == h("52 40 6D")


# ------------------------------------------------------------------ reply grammar (§3)


def test_unknown_command_reply_is_a_typed_error() -> None:
    t = ProtocolTransport([(Q, b"?"), (h("45 41 79"), h("45 89 31"))])
    d = Magstim200("protocol-test", transport=t, keepalive=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommandError, match="does not know command 'Q'"):
        d.connect()
    t.check()


def test_bad_data_reply() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("40 31 30 30 2E"), h("40 3F 80")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    with pytest.raises(InvalidDataError, match="refused the data of '@'"):
        d.set_intensity(100)
    finish(d, t)


def test_conflict_reply_to_fire() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("45 42 78"), h("45 89 31")),
        (Q, h("51 8C 22")),
        (h("45 48 72"), h("45 53 67")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    d.arm()
    with pytest.raises(ConflictError, match="refused 'E'"):
        d.trigger()
    finish(d, t)


def test_arm_while_armed_conflict_is_not_fatal() -> None:
    d, t = run(Magstim200, CONNECT_200, [(h("45 42 78"), h("45 53 67")), (Q, h("51 8C 22"))])
    d.arm()
    finish(d, t)


def test_checksum_error_is_reported_and_not_acted_on() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("46 40 79"), h("46 89 32 34 30 32 34 30 05")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    with pytest.raises(ChecksumError, match="wrong checksum"):
        d.temperatures()
    finish(d, t)


def test_leading_nuls_are_skipped() -> None:
    d, t = run(Magstim200, CONNECT_200, [(h("46 40 79"), h("00 00 46 89 32 34 30 32 34 30 04"))])
    assert d.temperatures() == (24.0, 24.0) and d.nuls_skipped == 2
    finish(d, t)


def test_wrong_acknowledge() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (h("46 40 79"), h("51 89 25")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    with pytest.raises(UnexpectedReplyError, match="expected a reply to 'F'"):
        d.temperatures()
    finish(d, t)


def test_silence_times_out() -> None:
    d, t = run(Magstim200, CONNECT_200, [(h("46 40 79"), None), (h("45 41 79"), h("45 89 31"))])
    with pytest.raises(NoReplyError, match="no complete reply to Magstim command 'F'"):
        d.temperatures()
    finish(d, t)


def test_error_bit_in_status_is_a_device_fault_with_temperature() -> None:
    d, t = run(Magstim200, CONNECT_200, [
        (J, rep("J", 0xA9, b"050000000")),
        (h("46 40 79"), rep("F", 0xA9, b"425240")),
        (h("45 41 79"), h("45 89 31")),
    ])  # fmt: skip
    with pytest.raises(DeviceFaultError, match=r"over-temperature \(42\.5 °C"):
        d.read_parameters()
    finish(d, t)


# ------------------------------------------------------------------ BiStim²


def test_bistim_power_b() -> None:
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("41 30 34 35 25"), rep("A", 0x89)),
        (J, rep("J", 0x89, b"030045010")),
    ])  # fmt: skip
    d.set_power_b(45)
    assert d.power_b == 45
    finish(d, t)


def test_bistim_interval() -> None:
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("43 30 31 30 2B"), rep("C", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
    ])  # fmt: skip
    d.set_interval_ms(10)
    finish(d, t)


def test_bistim_high_resolution_on_and_off() -> None:
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("59 40 66"), rep("Y", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("43 30 31 35 26"), rep("C", 0x89)),  # 1.5 ms in 0.1 ms steps
        (J, rep("J", 0x89, b"030030015")),
        (h("5A 40 65"), rep("Z", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
    ])  # fmt: skip
    d.set_high_resolution(True)
    d.set_interval_ms(1.5)
    d.set_high_resolution(False)
    finish(d, t)


def test_bistim_paired_pulse_is_set_then_read_back_together() -> None:
    # low resolution for whole ms (Z@e resets the interval, so it goes first), interval 10 ms
    # (the reference's C010+), power B 55 % (A055$, computed), then one J read of all three
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("5A 40 65"), rep("Z", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("43 30 31 30 2B"), rep("C", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("41 30 35 35 24"), rep("A", 0x89)),
        (J, rep("J", 0x89, b"030055010")),
        (J, rep("J", 0x89, b"030055010")),
    ])  # fmt: skip
    pair = d.set_paired_pulse(10, 55.9)  # power B rounded down, like power A
    assert (pair.interval_ms, pair.power_b_pct_mso) == (10.0, 55.0)
    finish(d, t)


def test_bistim_paired_pulse_in_tenths_of_a_millisecond() -> None:
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("59 40 66"), rep("Y", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("43 30 32 35 25"), rep("C", 0x89)),  # 2.5 ms = 025 tenths
        (J, rep("J", 0x89, b"030030025")),
        (h("41 30 34 30 2A"), rep("A", 0x89)),
        (J, rep("J", 0x89, b"030040025")),
        (J, rep("J", 0x89, b"030040025")),
    ])  # fmt: skip
    pair = d.set_paired_pulse(2.5, 40)
    assert (pair.interval_ms, pair.power_b_pct_mso) == (2.5, 40.0)
    finish(d, t)


def test_bistim_paired_pulse_read_back_mismatch_faults_and_disarms() -> None:
    # the unit acknowledges the interval but reports the old one: the driver must not go on
    d, t = run(BiStim, CONNECT_BISTIM, [
        (h("5A 40 65"), rep("Z", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("43 30 32 30 2A"), rep("C", 0x89)),
        (J, rep("J", 0x89, b"030030010")),
        (h("45 41 79"), h("45 89 31")),  # disarmed at once
    ])  # fmt: skip
    with pytest.raises(ReadbackMismatch, match="interval set to 20 but the BiStim² reports 10"):
        d.set_paired_pulse(20, 55)
    with pytest.raises(ReadbackMismatch):
        d.arm()  # faulted: nothing arms until reconnected
    finish(d, t)


def test_bistim_refuses_intervals_it_cannot_time() -> None:
    d, t = run(BiStim, CONNECT_BISTIM, [])
    with pytest.raises(DeviceError, match="outside"):
        d.set_paired_pulse(150.5, 50)  # finer than 1 ms needs high resolution: ≤ 99.9 ms
    with pytest.raises(DeviceError, match=r"0\.1-ms steps"):
        d.set_paired_pulse(2.55, 50)
    finish(d, t)


# ------------------------------------------------------------------ Rapid²


def rapid(body: list[Pair]) -> tuple[Rapid, ProtocolTransport]:
    return run(Rapid, CONNECT_RAPID, body, unlock_code=UNLOCK)  # type: ignore[no-any-return]


def test_rapid_connect_reads_version_unlocks_and_reads_parameters() -> None:
    d, t = rapid([])
    assert d.version == (9, 0) and d.power_a == 60 and d.frequency_tenths == 100
    assert (d.pulses, d.duration_tenths, d.wait_tenths) == (50, 50, 10)
    assert d.keepalive_frame == h("78 40 47")
    finish(d, t)


def test_rapid_v9_without_unlock_code_is_a_clear_error() -> None:
    t = ProtocolTransport(
        [(h("4E 44 6D"), h("4E 56 39 2E 30 00 C4")), (h("45 41 79"), rep("E", 0x09))]
    )
    d = Rapid("protocol-test", transport=t, keepalive=False)  # type: ignore[arg-type]
    with pytest.raises(DeviceError, match="unlock_code"):
        d.connect()
    t.check()


def test_rapid_before_v9_uses_q_and_narrow_widths() -> None:
    params_v8 = h("5C 89 30 30 36 30 30 31 30 30 30 30 35 30 30 35 30 30 30 31 30 78")
    d, t = run(Rapid, [
        (h("4E 44 6D"), ck(b"NV8.0\x00")),
        (Q, h("51 89 25")),
        (h("5C 40 63"), params_v8),
    ], [
        (h("44 30 30 35 30 F6"), rep("D", 0x89, rapid=0x30)),
        (h("5C 40 63"), params_v8),
        (h("5B 30 35 30 0F"), rep("[", 0x89, rapid=0x30)),
        (h("5C 40 63"), params_v8),
    ])  # fmt: skip
    assert d.keepalive_frame == Q and (d.pulses, d.duration_tenths) == (50, 50)
    d.set_pulses(50)
    d.set_duration(5.0)
    finish(d, t)


def test_rapid_before_v7_reply_is_21_bytes() -> None:
    params_v6 = h("5C 89 30 30 36 30 30 31 30 30 30 30 35 30 30 35 30 30 31 30 A8")
    d, t = run(Rapid, [(h("4E 44 6D"), ck(b"NV6.1\x00")), (Q, h("51 89 25")),
                       (h("5C 40 63"), params_v6)], [])  # fmt: skip
    assert d.wait_tenths == 10 and d.version == (6, 1)
    finish(d, t)


def _params(
    power: int = 60, f: int = 100, n: int = 50, dur: int = 50, rapid_st: int = 0x30, st: int = 0x89
) -> bytes:
    return rep("\\", st, f"{power:03d}{f:04d}{n:05d}{dur:04d}0010".encode(), rapid=rapid_st)


def test_rapid_frequency() -> None:
    d, t = rapid(
        [(h("42 30 32 30 30 FB"), rep("B", 0x89, rapid=0x30)), (h("5C 40 63"), _params(f=200))]
    )
    d.set_frequency(20.0)
    finish(d, t)


def test_rapid_pulses_v9() -> None:
    d, t = rapid(
        [(h("44 30 30 30 36 30 C5"), rep("D", 0x89, rapid=0x30)), (h("5C 40 63"), _params(n=60))]
    )
    d.set_pulses(60)
    finish(d, t)


def test_rapid_duration_v9() -> None:
    d, t = rapid(
        [(h("5B 30 30 36 30 DE"), rep("[", 0x89, rapid=0x30)), (h("5C 40 63"), _params(dur=60))]
    )
    d.set_duration(6.0)
    finish(d, t)


def test_rapid_enhanced_power_on_and_off() -> None:
    d, t = rapid([
        (h("5E 40 61"), rep("^", 0x89, rapid=0x30)),
        (h("5C 40 63"), _params(rapid_st=0x31)),
        (h("40 31 31 30 2D"), rep("@", 0x89)),  # 110 % only in enhanced mode
        (h("5C 40 63"), _params(power=110, rapid_st=0x31)),
        (h("5F 40 60"), rep("_", 0x89, rapid=0x31)),
        (h("5C 40 63"), _params(power=110, rapid_st=0x30)),
    ])  # fmt: skip
    d.set_enhanced_power(True)
    d.set_intensity(110)
    d.set_enhanced_power(False)
    with pytest.raises(DeviceError, match=r"0\.\.100"):
        d.set_intensity(110)
    finish(d, t)


def test_rapid_ignore_coil_interlock() -> None:
    d, t = rapid([(h("62 40 5D"), rep("b", 0x89))])
    d.ignore_coil_interlock()
    finish(d, t)


def test_rapid_error_code() -> None:
    d, t = rapid([(h("49 40 76"), rep("I", 0x89, b"E00"))])
    assert d.error_code() == "E00"
    finish(d, t)


def test_rapid_system_status_uses_the_lsb() -> None:
    d, t = rapid([(h("78 40 47"), h("78 89 30 00 01 CD"))])
    assert d.system_status() == 1
    finish(d, t)


def test_rapid_charge_delay_get_and_set_v9() -> None:
    d, t = rapid([
        (h("6F 40 50"), rep("o", 0x89, b"0100")),
        (ck(b"n1000"), rep("n", 0x89, rapid=0x30)),
        (h("6F 40 50"), rep("o", 0x89, b"1000")),
    ])  # fmt: skip
    assert d.charge_delay_ms() == 100
    d.set_charge_delay_ms(1000)
    finish(d, t)


def test_rapid_train_checks_energy_rules_before_sending_anything() -> None:
    d, t = rapid([])
    d._expect_charged = True  # as if armed: the refusal must not depend on arming
    with pytest.raises(EnergyRuleError, match="maximum of 18 Hz at 80 %"):
        d.start_train(TrainSpec(n_pulses=40, frequency_hz=20.0, intensity_pct_mso=80))
    with pytest.raises(EnergyRuleError, match=r"maximum on-time of 23\.5 s"):
        d.start_train(TrainSpec(n_pulses=500, frequency_hz=20.0, intensity_pct_mso=73))
    d._expect_charged = False
    finish(d, t)


def test_rapid_train_sets_verifies_and_fires_one_train() -> None:
    d, t = rapid([
        (h("45 42 78"), h("45 89 31")),
        (h("78 40 47"), rep("x", 0x8C, b"\x00\x00", rapid=0x30)),
        (h("5C 40 63"), _params(st=0x8C)),
        (h("5B 30 30 36 30 DE"), rep("[", 0x8C, rapid=0x30)),
        (h("5C 40 63"), _params(dur=60, st=0x8C)),
        (ck(b"@054"), rep("@", 0x8C)),
        (h("5C 40 63"), _params(power=54, dur=60, st=0x8C)),
        (h("42 30 31 30 30 FC"), rep("B", 0x8C, rapid=0x30)),
        (h("5C 40 63"), _params(power=54, dur=60, n=60, st=0x8C)),
        (h("44 30 30 30 36 30 C5"), rep("D", 0x8C, rapid=0x30)),
        (h("5C 40 63"), _params(power=54, dur=60, n=60, st=0x8C)),
        (h("45 48 72"), rep("E", 0x8C)),
        (h("5C 40 63"), _params(power=54, dur=60, n=60, st=0x8A, rapid_st=0x32)),
    ])  # fmt: skip
    d.arm()
    d.start_train(TrainSpec(n_pulses=60, frequency_hz=10.0, intensity_pct_mso=54))
    # the unit reports its train running: the next one is refused before anything is set
    with pytest.raises(EnergyRuleError, match="running a train or in its post-train lockout"):
        d.start_train(TrainSpec(n_pulses=60, frequency_hz=10.0, intensity_pct_mso=54))
    finish(d, t)
