"""The stimulator seam: what the session needs from any stimulator.

A driver speaks one device's protocol over a :class:`~mirrorvr.stim.transport.Transport`. Every
driver is a context manager whose exit leaves the device disarmed, whatever happened. Nothing
calls ``trigger`` or ``start_train`` except the stimulation executor, and it only after the
safety governor has allowed the pulse (see ``mirrorvr.stim.governor``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mirrorvr.errors import DeviceError
from mirrorvr.stim.safety.pulse_stream import PairedDevice
from mirrorvr.stim.safety.runtime import DeviceLimits


@dataclass(frozen=True)
class DisarmOutcome:
    """What the host knows after a disarm, and nothing more.

    ``confirmed``: the device (or, for a trigger box, its own line) said the stimulator cannot
    fire; ``failed``: a step failed (``step`` names it: the port was closed, the write failed,
    the unit still reports armed); ``unknown``: the command went out but nothing confirmed it.
    """

    status: Literal["confirmed", "failed", "unknown"]
    step: str = ""
    detail: str = ""

    @property
    def confirmed(self) -> bool:
        """Only a confirmed disarm may be logged as ``disarmed: true``."""
        return self.status == "confirmed"

    def fields(self) -> dict[str, Any]:
        """The outcome as event fields (``disarm``, ``disarm_step``, ``disarm_detail``)."""
        out: dict[str, Any] = {"disarm": self.status, "disarmed": self.confirmed}
        if self.step:
            out["disarm_step"] = self.step
        if self.detail:
            out["disarm_detail"] = self.detail
        return out


def disarm_outcome(stimulator: Stimulator) -> DisarmOutcome:
    """Disarm now and return what is known of it; a raising driver counts as a failed disarm."""
    try:
        res = stimulator.disarm()
    except Exception as e:  # keep going: the log must say the disarm failed
        return DisarmOutcome("failed", "disarm", f"{type(e).__name__}: {e}")
    if isinstance(res, DisarmOutcome):
        return res
    return DisarmOutcome("unknown", "disarm", "the driver does not report an outcome")


def outcome_from_reply(reply: dict[str, Any]) -> DisarmOutcome:
    """A disarm outcome sent across a process boundary (the stimulation process's reply)."""
    raw = reply.get("disarm")
    status: Literal["confirmed", "failed", "unknown"] = (
        "confirmed" if raw == "confirmed" else "unknown" if raw == "unknown" else "failed"
    )
    if raw is None:  # an older child: only ok/error
        status = "confirmed" if reply.get("ok") else "failed"
    return DisarmOutcome(status, str(reply.get("step", "")), str(reply.get("error", "")))


@dataclass(frozen=True)
class Capabilities:
    """What a stimulator can do; the protocol engine chooses host- or device-timed trains."""

    sets_intensity: bool  # False: intensity is set on the device's front panel
    device_timed_trains: bool  # the device runs a train from its own settings
    max_host_rate_hz: float  # highest rate of host-timed single triggers
    fixed_delay_s: float = 0.0  # known latency from trigger write to pulse (logged, not hidden)
    #: one trigger gives a pair whose second pulse (power B) the device times itself, both set
    #: and read back (:meth:`Stimulator.set_paired_pulse`; BiStim²)
    device_timed_pairs: bool = False


@dataclass(frozen=True)
class StimulatorStatus:
    """A snapshot of the device's state."""

    connected: bool
    armed: bool
    ready: bool
    intensity_pct_mso: float | None
    faults: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSpec:
    """A train for a device-timed stimulator."""

    n_pulses: int
    frequency_hz: float
    intensity_pct_mso: float


class Stimulator(ABC):
    """A TMS stimulator (or a trigger box in front of one)."""

    kind: str = "abstract"
    #: told at once (on a thread of its own) when the driver's own supervision - keep-alive,
    #: link watch, reader - finds the device faulted or gone, armed or not; the executor sets it
    fault_listener: Callable[[str], None] | None = None

    def report_fault(self, message: str) -> None:
        """Tell the listener about a fault found off the session's threads (never blocks).

        A thread of its own, because the listener e-stops, and the e-stop's disarm must not wait
        for the supervising thread (which may hold the link) to return.
        """
        listener = self.fault_listener
        if listener is not None:
            threading.Thread(
                target=listener, args=(message,), name=f"{self.kind} fault", daemon=True
            ).start()

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this device can do."""

    @abstractmethod
    def connect(self) -> None:
        """Open the port and verify the device is the one expected (raises ``DeviceError``)."""

    @abstractmethod
    def arm(self) -> None:
        """Arm (charge) the device; triggers are refused until armed."""

    @abstractmethod
    def disarm(self) -> DisarmOutcome:
        """Disarm at once, and say truthfully what is known of it (never raises).

        Must be safe to call from any thread, at any time, repeatedly.
        """

    @abstractmethod
    def set_intensity(self, pct_mso: float) -> None:
        """Set the output in % of maximum stimulator output (verified by read-back if possible)."""

    @abstractmethod
    def trigger(self) -> float:
        """Fire one pulse now; returns the LSL time the trigger left the host."""

    @property
    def trigger_wire_s(self) -> float:
        """Seconds between a trigger write returning and the trigger being on the wire.

        A real UART sends the bytes after ``write`` returns (10 bits per byte at the baud rate);
        the scheduler adds this to its stamps. Zero for a pseudo-terminal, which has no line.
        """
        return 0.0

    #: held trigger lines are released by the driver's own timer; the stimulation executor
    #: turns this off and calls :meth:`release` at ``hold_s`` after each trigger itself
    auto_release: bool = True

    @property
    def hold_s(self) -> float:
        """How long a trigger holds a line before :meth:`release` (0: nothing is held)."""
        return 0.0

    def release(self) -> None:
        """Return a held trigger line to idle (TTL boxes); nothing to do for serial triggers."""
        return None  # serial triggers hold no line

    def device_limits(self, intensity_pct_mso: float, frequency_hz: float) -> DeviceLimits:
        """What the device allows at these settings; the governor refuses anything beyond.

        Drivers with energy rules (Magstim Rapid²: maximum frequency and on-time by power,
        minimum wait between trains) override this; the default states the host-timed rate.
        """
        caps = self.capabilities
        return DeviceLimits(
            max_frequency_hz=None if caps.device_timed_trains else caps.max_host_rate_hz,
            source=f"{self.kind} capabilities",
        )

    def start_train(self, train: TrainSpec) -> float:
        """Start a device-timed train; returns the LSL time the start command left the host."""
        raise NotImplementedError(f"{self.kind} cannot run device-timed trains")

    def set_paired_pulse(self, interval_ms: float, power_b_pct_mso: float) -> PairedDevice:
        """Make every trigger a device-timed pair: set the interval and power B (disarmed),
        read both back, and return what the device confirmed (raises ``DeviceError`` if it
        cannot, or if the read-back differs). Only drivers with
        ``capabilities.device_timed_pairs`` can."""
        raise DeviceError(
            f"the {self.kind} stimulator cannot give device-timed paired pulses (only a BiStim² "
            "can): use a single-pulse protocol"
        )

    def set_single_pulse(self) -> None:
        """Make every trigger give one pulse (a BiStim² silences unit B); most devices do."""
        return None

    @abstractmethod
    def status(self) -> StimulatorStatus:
        """Current device state."""

    @abstractmethod
    def close(self) -> None:
        """Disarm and release the port. Always leaves the device disarmed."""

    def __enter__(self) -> Stimulator:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
