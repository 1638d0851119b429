"""The stimulator in the stimulation process, seen from the session process.

:class:`RemoteStimulator` is the stimulator seam across the process boundary (arm, disarm,
intensity, status): calls run in the child through
:class:`~mirrorvr.stim.process_link.StimulationProcess`; a disarm goes through the e-stop
channel, or through the port here if the child is gone. Trains never go through it
(:class:`~mirrorvr.stim.process_executor.ProcessExecutor` hands them to the child whole).
"""

from __future__ import annotations

import threading

from mirrorvr.errors import DeviceError
from mirrorvr.stim import governor
from mirrorvr.stim.base import (
    Capabilities,
    DisarmOutcome,
    Stimulator,
    StimulatorStatus,
    TrainSpec,
    outcome_from_reply,
)
from mirrorvr.stim.process_link import StimulationProcess
from mirrorvr.stim.safety.pulse_stream import PairedDevice


class RemoteStimulator(Stimulator):
    """The stimulator in the stimulation process, seen from the session process."""

    def __init__(self, process: StimulationProcess) -> None:
        self.process = process
        r = process.ready
        self.kind = str(r.get("kind", process.device.kind))
        self._caps = Capabilities(**r["capabilities"])
        self._wire = float(r.get("trigger_wire_s", 0.0))
        self._hold = float(r.get("hold_s", 0.0))

    @property
    def capabilities(self) -> Capabilities:
        """The driver's capabilities, as the child reported them."""
        return self._caps

    @property
    def trigger_wire_s(self) -> float:
        """The driver's line time of a trigger."""
        return self._wire

    @property
    def hold_s(self) -> float:
        """The driver's pulse width (held line), released in the child."""
        return self._hold

    def connect(self) -> None:
        """The child connected the device when it started."""

    def arm(self) -> None:
        """Arm in the child (the guard then allows pulses)."""
        self.process.call("arm", timeout=30.0)

    def disarm(self) -> DisarmOutcome:
        """Disarm through the e-stop channel; if the child is gone, through the port here."""
        if self.process.alive:
            reply = self.process.request_disarm("D")
            if reply is not None:
                return outcome_from_reply(reply)
            if threading.current_thread() is self.process._reader:
                return DisarmOutcome("unknown", "disarm request", "reply awaited on its own reader")
        return self.process.disarm_outcome_directly()

    def set_intensity(self, pct_mso: float) -> None:
        """Set and verify the intensity in the child."""
        self.process.call("set_intensity", pct_mso, timeout=30.0)

    def set_paired_pulse(self, interval_ms: float, power_b_pct_mso: float) -> PairedDevice:
        """Set and read back the device-timed pair in the child; what the device confirmed."""
        v = self.process.call("set_paired_pulse", interval_ms, power_b_pct_mso, timeout=30.0)
        return PairedDevice(**v)

    def set_single_pulse(self) -> None:
        """One pulse per trigger, set (and read back) in the child."""
        self.process.call("set_single_pulse", timeout=30.0)

    def trigger(self) -> float:
        """One pulse now, outside a train (threshold hunts): the child's guard decides too."""
        return float(self.process.call("trigger"))

    def start_train(self, train: TrainSpec) -> float:
        """Trains go to the child whole (:class:`ProcessExecutor`), never through here."""
        raise DeviceError("device-timed trains run in the stimulation process, not through it")

    def device_limits(self, intensity_pct_mso: float, frequency_hz: float) -> governor.DeviceLimits:
        """The driver's limits, asked in the child."""
        v = self.process.call("device_limits", intensity_pct_mso, frequency_hz)
        return governor.DeviceLimits(**v)

    def status(self) -> StimulatorStatus:
        """The driver's status in the child (disconnected if the child is gone)."""
        if not self.process.alive:
            return StimulatorStatus(False, False, False, None, ("stimulation process gone",))
        v = dict(self.process.call("status"))
        v["faults"] = tuple(v.get("faults", ()))
        return StimulatorStatus(**v)

    def close(self) -> None:
        """Stop the child (it disarms and closes the device)."""
        self.process.close()
