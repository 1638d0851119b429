"""The Magstim models: 200², BiStim² (power B, interval) and Rapid² (trains, energy rules,
firmware-dependent commands)."""

from __future__ import annotations

import logging
import math

from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import Capabilities, TrainSpec
from mirrorvr.stim.errors import (
    ChecksumError,
    ConflictError,
    EnergyRuleError,
    InvalidCommandError,
    InvalidDataError,
    NoReplyError,
    ProtocolError,
    UnexpectedReplyError,
)
from mirrorvr.stim.magstim import energy
from mirrorvr.stim.magstim.driver import MagstimDriver
from mirrorvr.stim.magstim.protocol import (
    Version,
    digits,
    frame,
    parse_version,
    tenths,
    widths,
)
from mirrorvr.stim.safety.pulse_stream import PairedDevice
from mirrorvr.stim.safety.runtime import DeviceLimits

log = logging.getLogger(__name__)


class Magstim200(MagstimDriver):
    """Magstim 200² (single-pulse monophasic)."""

    kind = "magstim-200"
    model_name = "Magstim 200²"


class BiStim(MagstimDriver):
    """Magstim BiStim² (two 200² units paired: power A/B, inter-pulse interval)."""

    kind = "magstim-bistim"
    model_name = "BiStim²"
    power_b: int | None = None
    interval_raw: int | None = None
    high_resolution = False

    @property
    def capabilities(self) -> Capabilities:
        """Paired pulses at most every 4 s (0.25 Hz, magstim-serial.md §8), device-timed."""
        return Capabilities(True, False, 0.25, 0.0084, device_timed_pairs=True)

    @property
    def interval_ms(self) -> float | None:
        """The interval as last read back, in ms (0.1-ms steps in high-resolution mode)."""
        if self.interval_raw is None:
            return None
        return self.interval_raw / 10.0 if self.high_resolution else float(self.interval_raw)

    def set_paired_pulse(self, interval_ms: float, power_b_pct_mso: float) -> PairedDevice:
        """Every trigger a pair: resolution, interval and power B set while disarmed, then read
        back together (``J``) and compared with what was sent (a mismatch faults the driver).

        Whole milliseconds use low resolution (1-999 ms), anything finer high resolution (0.1 ms
        steps up to 99.9 ms); the resolution command resets the interval, so it goes first.
        Power B is whole percent, rounded down like power A.
        """
        self._raise_if_faulted()
        if self._expect_charged:
            raise DeviceError(
                f"{self.port}: the BiStim²'s paired-pulse settings are set only while disarmed"
            )
        whole = abs(interval_ms - round(interval_ms)) < 1e-9
        top = 999.0 if whole else 99.9
        if not 0 < interval_ms <= top:
            raise DeviceError(
                f"a BiStim² paired-pulse interval of {interval_ms:g} ms is outside "
                f"{'1-999 ms' if whole else '0.1-99.9 ms in 0.1-ms steps'}"
            )
        try:
            raw = tenths(interval_ms, "interval") if not whole else round(interval_ms)
        except ValueError as e:
            raise DeviceError(f"BiStim² {e} (0.1-ms steps)") from None
        pct = math.floor(power_b_pct_mso + 1e-9)
        self._power_ok(pct)
        self.set_high_resolution(not whole)
        self.set_interval_ms(raw / 10.0 if not whole else float(raw))
        self.set_power_b(pct)
        # both together, as the unit reports them now
        self.read_parameters()
        self._verify("interval", raw, self.interval_raw or 0)
        self._verify("power B", pct, self.power_b if self.power_b is not None else -1)
        confirmed = self.interval_ms
        assert confirmed is not None
        return PairedDevice(confirmed, float(pct), f"{self.port}: read back from the BiStim² (J)")

    def set_single_pulse(self) -> None:
        """One pulse per trigger: power B 0 (unit B silent; UNVERIFIED on hardware), read back."""
        self._raise_if_faulted()
        self.set_power_b(0)

    def read_parameters(self) -> None:
        """Refresh power A, power B and the interval (``J``)."""
        r = self._command("J")
        self.power_a, self.power_b, self.interval_raw = (
            r.number(0, 3),
            r.number(3, 3),
            r.number(6, 3),
        )

    def set_power_b(self, pct: int) -> None:
        """Set power B and verify it."""
        self._power_ok(pct)
        self._command("A", digits(pct, 3, "power B"))
        self.read_parameters()
        self._verify("power B", pct, self.power_b or 0)

    def set_interval_ms(self, ms: float) -> None:
        """Inter-pulse interval (0 = simultaneous discharge); 0.1 ms steps in hi-res mode."""
        raw = tenths(ms, "interval") if self.high_resolution else round(ms)
        if not self.high_resolution and abs(ms - raw) > 1e-9:
            raise DeviceError(f"interval {ms} ms needs high-resolution mode (0.1 ms steps)")
        self._command("C", digits(raw, 3, "interval"))
        self.read_parameters()
        self._verify("interval", raw, self.interval_raw or 0)

    def set_high_resolution(self, on: bool) -> None:
        """High-resolution (0.1 ms) interval timing on or off (not while armed)."""
        self._command("Y" if on else "Z")
        self.high_resolution = on
        self.read_parameters()


class Rapid(MagstimDriver):
    """Magstim Rapid² (repetitive): trains, energy rules, firmware-dependent widths."""

    kind = "magstim-rapid"
    model_name = "Rapid²"

    def __init__(
        self,
        port: str,
        *,
        unlock_code: str | None = None,
        voltage: int = 240,
        system_type: int = 0,
        **kw: object,
    ) -> None:
        super().__init__(port, **kw)  # type: ignore[arg-type]
        self.unlock_code = unlock_code
        self.voltage = voltage
        self.system_type = system_type
        self.enhanced = False
        self.frequency_tenths: int | None = None
        self.pulses: int | None = None
        self.duration_tenths: int | None = None
        self.wait_tenths: int | None = None
        self.train_mode = False
        self._rapid_wait = False

    @property
    def max_power(self) -> int:  # type: ignore[override]
        """110 % in enhanced power mode, else 100 %."""
        return 110 if self.enhanced else 100

    @property
    def capabilities(self) -> Capabilities:
        """Device-timed trains; single pulses over serial at most 1 Hz (≈ 5 ms latency)."""
        return Capabilities(True, True, 1.0, 0.0051)

    @property
    def keepalive_frame(self) -> bytes:
        """``x@G`` on firmware ≥ V9, else ``Q@n``."""
        return frame("x") if (self.version or (0,)) >= (9,) else frame("Q")

    def _identify(self) -> None:
        try:
            r = self._exchange("N", b"D", timeout=max(2.0, self.reply_timeout_s))
        except (NoReplyError, ConflictError, InvalidCommandError):
            # some firmware answers N only under remote control (MagPy's model)
            self._exchange("Q")
            r = self._exchange("N", b"D")
        self.version = parse_version(r.data)
        if self.version >= (9,):
            if not self.unlock_code:
                raise DeviceError(
                    f"{self.port}: this Rapid² runs firmware V{'.'.join(map(str, self.version))},"
                    " which needs the unlock code issued by Magstim: set "
                    "devices.stimulator.unlock_code in the plan"
                )
            try:
                self._exchange("Q", self.unlock_code.encode("ascii"), timeout=1.0)
            except NoReplyError:
                raise DeviceError(
                    f"{self.port}: the Rapid² ignored the unlock code (no reply to Q): check "
                    "devices.stimulator.unlock_code (with hyphens, without the checksum)"
                ) from None
        else:
            self._exchange("Q")

    def read_parameters(self) -> None:
        """Refresh power, frequency, pulses, duration and wait (``\\``)."""
        r = self._command("\\")
        w = widths(self.version)
        i = 0
        self.power_a = r.number(i, 3)
        i += 3
        self.frequency_tenths = r.number(i, 4)
        i += 4
        self.pulses = r.number(i, w.pulses)
        i += w.pulses
        self.duration_tenths = r.number(i, w.duration)
        i += w.duration
        self.wait_tenths = r.number(i, w.wait)
        if r.rapid is not None:
            self.enhanced = r.rapid.enhanced
            self.train_mode = not r.rapid.single_pulse
            self._rapid_wait = r.rapid.wait or r.rapid.train_running

    def set_frequency(self, hz: float) -> None:
        """Train frequency in 0.1 Hz steps, verified."""
        t = tenths(hz, "frequency")
        limit = 1000 if self.voltage == 240 else 600
        self._command("B", digits(t, 4, "frequency (0.1 Hz)", 0, limit))
        self.read_parameters()
        self._verify("frequency (0.1 Hz)", t, self.frequency_tenths or 0)

    def set_pulses(self, n: int) -> None:
        """Pulses per train (5 digits on ≥ V9, else 4), verified."""
        w = widths(self.version)
        self._command("D", digits(n, w.pulses, "pulses", 1, 6000))
        self.read_parameters()
        self._verify("pulses", n, self.pulses or 0)

    def set_duration(self, seconds: float) -> None:
        """Train duration (0.1 s); > 0 enters train mode, 0 single-pulse mode. Verified."""
        w = widths(self.version)
        t = tenths(seconds, "duration")
        self._command("[", digits(t, w.duration, "duration (0.1 s)"))
        self.read_parameters()
        self._verify("duration (0.1 s)", t, self.duration_tenths or 0)

    def set_enhanced_power(self, on: bool) -> None:
        """Enhanced power mode (up to 110 %) on or off, verified from the Rapid status."""
        self._command("^" if on else "_")
        self.read_parameters()
        self._verify("enhanced power", int(on), int(self.enhanced))

    def ignore_coil_interlock(self) -> None:
        """Ignore the coil's interlock switch (``b``)."""
        self._command("b")

    def error_code(self) -> str:
        """The current error code (``I``), e.g. ``E01``."""
        r = self._command("I")
        return r.data[:3].decode("ascii", errors="replace")

    def system_status(self) -> int:
        """The extended status word (``x``, ≥ V9): bits from the second (LSB) byte."""
        self._require((9,), "x")
        r = self._command("x")
        return (r.data[0] << 8) | r.data[1]

    def charge_delay_ms(self) -> int:
        """Charge delay (``o``, ≥ V9; UNVERIFIED command)."""
        self._require((9,), "o")
        r = self._command("o")
        return r.number(0, 5 if (self.version or (0,)) >= (10,) else 4)

    def set_charge_delay_ms(self, ms: int) -> None:
        """Set the charge delay (``n``, ≥ V9), verified with ``o``."""
        self._require((9,), "n")
        v10 = (self.version or (0,)) >= (10,)
        self._command("n", digits(ms, 5 if v10 else 4, "charge delay", 1, 10000 if v10 else 2000))
        self._verify("charge delay", ms, self.charge_delay_ms())

    def _require(self, version: Version, cmd: str) -> None:
        if (self.version or (0,)) < version:
            raise DeviceError(
                f"{self.port}: '{cmd}' needs Rapid² firmware ≥ V{version[0]}, this unit runs "
                f"{self.version}"
            )

    def _single_pulse_mode(self) -> None:
        if self.train_mode:
            self.set_duration(0.0)
            self.train_mode = False

    def trigger(self) -> float:
        """One single pulse (leaves train mode first: a fire in train mode starts a train)."""
        if self.train_mode and self._fault is None and self._connected:
            self._single_pulse_mode()
        return super().trigger()

    def check_train(self, train: TrainSpec) -> energy.TrainCheck:
        """The energy rules that depend on the train alone (frequency, on-time, pulses).

        The minimum wait *between* trains is the governor's to time (on the session clock,
        from :meth:`device_limits`); the driver also refuses a train while the unit itself
        reports its post-train lockout.
        """
        power = math.floor(train.intensity_pct_mso + 1e-9)
        return energy.check_train(
            power,
            train.frequency_hz,
            train.n_pulses,
            voltage=self.voltage,
            system_type=self.system_type,
        )

    def device_limits(self, intensity_pct_mso: float, frequency_hz: float) -> DeviceLimits:
        """The Rapid² energy rules at this power and frequency, for the governor."""
        power = math.floor(intensity_pct_mso + 1e-9)
        t_on = energy.max_on_time_s(power, frequency_hz) if frequency_hz > 0 else None
        limited = t_on is not None and t_on <= 60
        n_max = int(t_on * frequency_hz) if limited and t_on is not None else 6000
        gap = energy.min_wait_s(power, frequency_hz, n_max) if frequency_hz > 0 else 0.0
        return DeviceLimits(
            max_frequency_hz=float(energy.max_frequency_hz(power, self.voltage, self.system_type)),
            max_train_pulses=n_max,
            max_train_duration_s=t_on if limited else None,
            min_train_gap_s=max(energy.MIN_WAIT_S, gap),
            max_intensity_pct_mso=float(self.max_power),
            source=f"Rapid² energy rules ({self.voltage} V, type {self.system_type})",
        )

    def start_train(self, train: TrainSpec) -> float:
        """Check the energy rules, set and verify the train, then fire it (one train)."""
        self._raise_if_faulted()
        check = self.check_train(train)
        if not check.ok:
            raise EnergyRuleError(f"{self.port}: train refused: {check.reason}")
        if not self._expect_charged:
            raise DeviceError(f"train refused: the Rapid² on {self.port} is disarmed")
        duration = train.n_pulses / train.frequency_hz
        self.read_parameters()
        if self._rapid_wait:
            raise EnergyRuleError(
                f"{self.port}: train refused: the Rapid² is running a train or in its post-train "
                "lockout (status 'wait'): wait before the next train"
            )
        self.set_duration(max(0.1, round(duration, 1)))
        self.train_mode = True
        self.set_intensity(train.intensity_pct_mso)
        self.set_frequency(train.frequency_hz)
        self.set_pulses(train.n_pulses)
        return MagstimDriver.trigger(self)


__all__ = [
    "BiStim",
    "ChecksumError",
    "ConflictError",
    "InvalidCommandError",
    "InvalidDataError",
    "Magstim200",
    "MagstimDriver",
    "ProtocolError",
    "Rapid",
    "UnexpectedReplyError",
]
